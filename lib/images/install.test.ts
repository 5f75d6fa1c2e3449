/**
 * An image app's install decides where it goes before its image is fetched, which can take
 * minutes; a person moving, removing or stopping the app meanwhile (on any device) must not
 * be undone by the spec the install writes after.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppManifest } from "../../protocol/app-manifest.ts";
import { setDesired } from "../apps/admin.ts";
import { readSpec } from "../apps/spec.ts";
import { tar } from "../archive/test-archives.ts";
import { BuckyError } from "../errors.ts";
import { ObjectStore } from "../ndn/store.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { foundingOps, openTestNode, removeTestDatabases } from "../state/test-db.ts";
import { engineFactsKey } from "./engine-facts.ts";
import { ImageStore } from "./image-store.ts";
import { installImageApp, shorthandManifest } from "./install.ts";
import { ociArchive } from "./test-images.ts";

const root = mkdtempSync(join(tmpdir(), "bucky-image-install-test-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeTestDatabases();
});

/** The app of the image `localhost/site:<version>`, as `--image` makes its manifest. */
const manifest = (version: string): AppManifest =>
  shorthandManifest({ image: `localhost/site:${version}`, port: 8080 });

function zoneWithEngine() {
  const home = mkdtempSync(join(root, "home-"));
  const test = openTestNode(81);
  const node = testNodeContext(test, "alpha", { home });
  node.write([
    ...foundingOps({ alpha: test.key }),
    {
      key: engineFactsKey("alpha"),
      value: JSON.stringify({ engine: "podman 4.3.1", platform: "linux/amd64", problem: null }),
    },
  ]);
  const images = new ImageStore(new ObjectStore(join(home, "ndn")), join(home, "images"));
  const archive = join(home, "site.tar");
  writeFileSync(archive, tar(ociArchive(["the one layer"])));
  return { node, images, archive };
}

describe("an image app's install, and the spec changed while its image was read", () => {
  test("a stop written meanwhile stands: the install refuses, saying to run it again", async () => {
    const { node, images, archive } = zoneWithEngine();
    await installImageApp(node, images, manifest("1"), { archive });
    const installing = installImageApp(node, images, manifest("2"), { archive });
    // The person's stop, while the archive is read (as another device's would arrive).
    setDesired(node, "site", "stopped");
    const refused = await installing.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(BuckyError);
    expect((refused as BuckyError).code).toBe("E_UNAVAILABLE");
    expect((refused as BuckyError).message).toBe(
      "site changed while its image was fetched (moved, removed, stopped or installed again, on this device or another): nothing was installed",
    );
    expect(readSpec(node.db, "site")).toMatchObject({ version: "1", desired: "stopped" });
    // Asked again, it installs (the image kept), and the stop is kept.
    await installImageApp(node, images, manifest("2"), { archive });
    expect(readSpec(node.db, "site")).toMatchObject({ version: "2", desired: "stopped" });
  });
});
