/**
 * The app store as one zone: a catalog added on one device is the zone's, so it outlives
 * that device. One added from a file (whose packages no address can give again) is copied
 * to every device, which lists it and installs its apps once the device that added it is
 * gone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ObjectStore } from "../lib/ndn/store.ts";
import type { ObjectId } from "../protocol/ndn.ts";
import { buckyJson, cleanUp, type Daemon, scratchDir, startZone, waitFor } from "./harness.ts";

let alpha: Daemon;
let beta: Daemon;

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], { BUCKY_CONVERGE_INTERVAL_MS: "300" });
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
});
afterAll(cleanUp);

/** Publishes a catalog `name` of the whoami app into a directory; it and its publisher. */
async function publishWhoami(name: string): Promise<{ out: string; publisher: string }> {
  const dir = scratchDir();
  cpSync(resolve(import.meta.dir, "../fixtures/apps/whoami"), join(dir, "whoami"), {
    recursive: true,
  });
  writeFileSync(join(dir, "about.txt"), "Says who you are.");
  writeFileSync(
    join(dir, "catalog.json"),
    JSON.stringify({
      name,
      version: 1,
      apps: [{ dir: "whoami", description: { en: "about.txt" }, icon: "whoami/icon.svg" }],
    }),
  );
  const out = join(dir, "out");
  const { publisher } = await buckyJson<{ publisher: string }>([
    "store",
    "publish",
    join(dir, "catalog.json"),
    "--key",
    join(dir, "publisher.key"),
    "--out",
    out,
  ]);
  return { out, publisher };
}

/** The object ids a published catalog directory holds: its index, and everything it names. */
function publishedObjects(out: string): ObjectId[] {
  const jws = readFileSync(join(out, "catalog.jws"), "utf8").trim();
  const index = `sha256:${new Bun.CryptoHasher("sha256").update(jws).digest("hex")}`;
  return [index, ...readdirSync(join(out, "ndn"))] as ObjectId[];
}

describe("a catalog added from a file", () => {
  test("is copied to every device: with the device that added it killed, another lists it and installs its app", async () => {
    const { out, publisher } = await publishWhoami("file-apps");
    await buckyJson(["store", "add", out, "--key", publisher, "--home", alpha.home]);
    // Nobody browses the store on beta: it must take its copy by itself.
    const betaStore = new ObjectStore(join(beta.home, "ndn"));
    const named = publishedObjects(out);
    await waitFor(
      "beta's copy of the catalog's index, icon, description and package",
      () => (named.every((id) => betaStore.readObject(id) !== undefined) ? true : undefined),
      15_000,
    );
    await alpha.kill();

    const listed = await buckyJson<{
      catalogs: { name: string; problem: unknown; addedBy: string }[];
      apps: { catalog: string; id: string }[];
    }>(["store", "list", "--home", beta.home]);
    expect(listed.catalogs.find((c) => c.name === "file-apps")).toMatchObject({
      addedBy: "alpha",
      problem: null,
    });
    expect(listed.apps.filter((a) => a.catalog === "file-apps").map((a) => a.id)).toEqual([
      "whoami",
    ]);
    const installed = await buckyJson<{ app: string; state: string; runsOn: string }>([
      "store",
      "install",
      "whoami",
      "--catalog",
      "file-apps",
      "--device",
      "beta",
      "--home",
      beta.home,
    ]);
    expect(installed).toMatchObject({ app: "whoami", state: "running", runsOn: "beta" });
  }, 60_000);
});
