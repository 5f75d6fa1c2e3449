import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ObjectId } from "../../protocol/ndn.ts";
import { type AppSpec, appKeys } from "../apps/spec.ts";
import { testManifest, testSpec } from "../apps/test-spec.ts";
import { createLog } from "../log.ts";
import { collectGarbage } from "../ndn/collect.ts";
import { builtInRoots } from "../ndn/roots.ts";
import { ObjectStore } from "../ndn/store.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode } from "../state/test-db.ts";
import { imageRoot } from "./image-roots.ts";
import { ImageStore } from "./image-store.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-image-roots-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const DAY = 24 * 3_600_000;

describe("image layers as named data", () => {
  test("stay while an app runs their image, and go a day after it is removed", async () => {
    const node = openTestNode(60);
    const objects = new ObjectStore(join(dir, "ndn"));
    const images = new ImageStore(objects, join(dir, "images"));
    const blob = (text: string) => {
      const bytes = new TextEncoder().encode(text);
      const digest = `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
      return { digest, size: bytes.length, object: images.putBlob(digest, bytes) };
    };
    const manifest = {
      ...blob("a manifest"),
      mediaType: "application/vnd.oci.image.manifest.v1+json",
    };
    const config = blob("a config");
    const layer = blob("a layer");
    const record = images.putRecord({
      ref: "localhost/site:1",
      digest: manifest.digest,
      images: [{ platform: "linux/amd64", manifest, config, layers: [layer] }],
    });
    const spec = (desired: string) => ({
      key: appKeys.spec("site"),
      value: JSON.stringify(
        testSpec("site", {
          package: record,
          manifest: testManifest("site", {
            run: { image: "localhost/site:1", port: 8080 },
            http: undefined,
          }),
          image: { platforms: ["linux/amd64"] },
          desired: desired as AppSpec["desired"],
        }),
      ),
    });
    const author = { zone: node.zone, name: "d", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, [spec("running")], 1000);
    const collect = (nowMs: number) =>
      collectGarbage({
        db: node.db,
        store: objects,
        roots: [...builtInRoots(node.db), imageRoot(node.db, images)],
        nowMs,
        graceMs: DAY,
        log: createLog({ level: "silent" }),
      });
    const parts = [record, manifest.object, config.object, layer.object] as ObjectId[];
    await collect(0);
    await collect(2 * DAY);
    expect(parts.every((id) => existsSync(objects.pathOf(id)))).toBe(true);
    appendLocalChangeset(node.db, author, [spec("removed")], 2000);
    await collect(3 * DAY);
    await collect(5 * DAY);
    expect(parts.filter((id) => existsSync(objects.pathOf(id)))).toEqual([]);
  });
});
