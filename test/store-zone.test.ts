/**
 * The app store as one zone: a catalog added on one device is the zone's, so it outlives
 * that device. One added from a file (whose packages no address can give again) is copied
 * to every device, which lists it and installs its apps once the device that added it is
 * gone. And a catalog's version only goes forward, whichever device heard of which first.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { appKeys } from "../lib/apps/spec.ts";
import { ObjectStore } from "../lib/ndn/store.ts";
import { appOriginKey } from "../protocol/catalog-record.ts";
import { decodeChangeset } from "../protocol/changeset.ts";
import type { ObjectId } from "../protocol/ndn.ts";
import {
  answeredOnceHeld,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  scratchDir,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

const ENV = { BUCKY_CONVERGE_INTERVAL_MS: "300" };
let alpha: Daemon;
let beta: Daemon;

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], ENV);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
});
afterAll(cleanUp);

/**
 * Publishes version `version` of a catalog `name` of the whoami app (at `appVersion`)
 * into a directory, signed with the key in `dir` (made the first time); it and its
 * publisher.
 */
async function publishWhoami(
  name: string,
  version = 1,
  dir = scratchDir(),
  appVersion = "1.0.0",
): Promise<{ out: string; publisher: string }> {
  cpSync(resolve(import.meta.dir, "../fixtures/apps/whoami"), join(dir, "whoami"), {
    recursive: true,
  });
  const manifest = JSON.parse(readFileSync(join(dir, "whoami", "bucky-app.json"), "utf8"));
  writeFileSync(
    join(dir, "whoami", "bucky-app.json"),
    JSON.stringify({ ...manifest, version: appVersion }),
  );
  writeFileSync(join(dir, "about.txt"), "Says who you are.");
  writeFileSync(
    join(dir, "catalog.json"),
    JSON.stringify({
      name,
      version,
      apps: [{ dir: "whoami", description: { en: "about.txt" }, icon: "whoami/icon.svg" }],
    }),
  );
  const out = join(dir, `out-${version}`);
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

/** The version of catalog `name` the zone has, as `home`'s device lists it. */
async function listedVersion(home: string, name: string): Promise<number | undefined> {
  const { catalogs } = await buckyJson<{ catalogs: { name: string; version: number }[] }>([
    "store",
    "list",
    "--home",
    home,
  ]);
  return catalogs.find((c) => c.name === name)?.version;
}

/** `bucky store add` of a published catalog on `device`, its publisher's key accepted. */
const addedOn = (device: Daemon, out: string, publisher: string) =>
  buckyJson<{ heldElsewhere: string }>([
    "store",
    "add",
    out,
    "--key",
    publisher,
    "--home",
    device.home,
  ]);

describe("a catalog added from a file", () => {
  test("with another device stopped, add answers in a moment that no other device holds it yet", async () => {
    const { out, publisher } = await publishWhoami("held-apps");
    process.kill(beta.pid, "SIGSTOP");
    try {
      expect((await addedOn(alpha, out, publisher)).heldElsewhere).toBe("not yet");
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
  }, 30_000);

  test("is copied to every device before add answers: with the device that added it killed at once, another lists it and installs its app", async () => {
    const { out, publisher } = await publishWhoami("file-apps");
    expect((await addedOn(alpha, out, publisher)).heldElsewhere).toBe("held");
    // Nobody browses the store on beta: it took its copy by itself, and add waited for it.
    const betaStore = new ObjectStore(join(beta.home, "ndn"));
    const named = publishedObjects(out);
    expect(named.filter((id) => betaStore.readObject(id) === undefined)).toEqual([]);
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

describe("a catalog's version", () => {
  test("is never taken back: an older file added on a device that had not heard of the newer one loses to it once they meet", async () => {
    // The test before left alpha killed.
    alpha = await startDaemon(alpha.home, ENV);
    const dir = scratchDir();
    const v1 = await publishWhoami("rolled-apps", 1, dir);
    const v2 = await publishWhoami("rolled-apps", 2, dir);
    const v3 = await publishWhoami("rolled-apps", 3, dir);
    await buckyJson(["store", "add", v1.out, "--key", v1.publisher, "--home", alpha.home]);
    await waitFor("beta to hear of version 1", async () =>
      (await listedVersion(beta.home, "rolled-apps")) === 1 ? true : undefined,
    );
    // Beta is away while alpha takes version 3; then alpha is away while beta, which
    // knows only version 1, is given the file of version 2 (newer than what it knows).
    await beta.kill();
    await buckyJson(["store", "add", v3.out, "--key", v3.publisher, "--home", alpha.home]);
    await alpha.kill();
    beta = await startDaemon(beta.home, ENV);
    await buckyJson(["store", "add", v2.out, "--key", v2.publisher, "--home", beta.home]);
    alpha = await startDaemon(alpha.home, ENV);
    // Once they meet, both list one version: the newest either had.
    const agreed = await waitFor("alpha and beta to list one version", async () => {
      const [onAlpha, onBeta] = [
        await listedVersion(alpha.home, "rolled-apps"),
        await listedVersion(beta.home, "rolled-apps"),
      ];
      return onAlpha === onBeta ? onAlpha : undefined;
    });
    expect(agreed).toBe(3);
  }, 60_000);
});

describe("an app installed from a catalog", () => {
  test("is not updated by another publisher's catalog of the same name, added once its own was removed", async () => {
    const own = await publishWhoami("named-apps", 1);
    await buckyJson(["store", "add", own.out, "--key", own.publisher, "--home", beta.home]);
    await buckyJson(["app", "remove", "whoami", "--home", beta.home]);
    await buckyJson([
      "store",
      "install",
      "whoami",
      "--catalog",
      "named-apps",
      "--device",
      "beta",
      "--home",
      beta.home,
    ]);
    // Said removed only once alpha holds it: lost with beta, alpha would go on offering it.
    const removed = await answeredOnceHeld(
      [alpha],
      () => buckyJson(["store", "remove", "named-apps", "--home", beta.home]),
      {
        what: "beta to remove named-apps",
        seen: () => /catalog removed.*catalog=named-apps/.test(beta.log()),
      },
    );
    expect(removed).toMatchObject({ name: "named-apps", heldElsewhere: "held" });
    // Anyone may name a catalog so: this one's whoami is a newer version, by another key.
    const other = await publishWhoami("named-apps", 1, scratchDir(), "2.0.0");
    expect(other.publisher).not.toBe(own.publisher);
    await buckyJson(["store", "add", other.out, "--key", other.publisher, "--home", beta.home]);
    expect(await updateRefused(beta.home, "named-apps")).toMatchObject({
      code: "E_EXISTS",
      message: `whoami is installed already, from catalog named-apps of publisher ${own.publisher}, not from catalog named-apps of publisher ${other.publisher}: that catalog's whoami would take over its data`,
    });
  }, 60_000);
});

describe("an app stopped or removed from another device than the one running it", () => {
  test("the command answers once another device holds the change, so it survives the device asked being killed; or says that none does yet", async () => {
    // Beta runs whoami (the test before installed it there) and hears nothing for now.
    process.kill(beta.pid, "SIGSTOP");
    let stopped: { app: string; desired: string; heldElsewhere: string };
    try {
      stopped = await buckyJson(["app", "stop", "whoami", "--home", alpha.home]);
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
    expect(stopped).toEqual({ app: "whoami", desired: "stopped", heldElsewhere: "not yet" });

    expect(await buckyJson(["app", "remove", "whoami", "--home", alpha.home])).toEqual({
      app: "whoami",
      removed: true,
      purged: false,
      heldElsewhere: "held",
    });
    await alpha.kill();
    await waitFor("beta to remove whoami", async () =>
      (await bucky(["app", "status", "whoami", "--home", beta.home])).exitCode === 1
        ? true
        : undefined,
    );
  }, 60_000);
});

/**
 * Whoami as `home` offers it from catalog `catalog` (installed at 1.0.0 from a catalog of
 * that name, and no update), and the error of installing it from there anyway.
 */
async function updateRefused(home: string, catalog: string): Promise<unknown> {
  const { apps } = await buckyJson<{
    apps: { catalog: string; id: string; installed: unknown; update: boolean }[];
  }>(["store", "list", "--home", home]);
  expect(apps.find((a) => a.catalog === catalog && a.id === "whoami")).toMatchObject({
    installed: { version: "1.0.0", from: catalog },
    update: false,
  });
  const refused = await bucky([
    "store",
    "install",
    "whoami",
    "--catalog",
    catalog,
    "--home",
    home,
    "--json",
  ]);
  return jsonError(refused);
}
/** The writes of each changeset `home`'s device holds, in the order it took them. */
function changesetOps(home: string): (readonly { key: string; value: string | null }[])[] {
  const db = new Database(join(home, "state.db"), { readonly: true });
  try {
    return db
      .query<{ bytes: Uint8Array }, []>("SELECT bytes FROM changesets ORDER BY local_order")
      .all()
      .map((row) => decodeChangeset(new Uint8Array(row.bytes)).ops);
  } finally {
    db.close();
  }
}

/** The value at `key` as `home`'s device holds it (undefined: none). */
async function stateValue(home: string, key: string): Promise<unknown> {
  const got = await bucky(["state", "get", key, "--home", home, "--json"]);
  return got.exitCode === 0 ? (JSON.parse(got.stdout) as { value: unknown }).value : undefined;
}

describe("an app's origin record", () => {
  let own: { out: string; publisher: string };

  test("is written in the same changeset as the app's spec: no device has the one without the other", async () => {
    // The test before left alpha killed.
    alpha = await startDaemon(alpha.home, ENV);
    own = await publishWhoami("legacy-apps", 1);
    await buckyJson(["store", "add", own.out, "--key", own.publisher, "--home", beta.home]);
    await buckyJson([
      "store",
      "install",
      "whoami",
      "--catalog",
      "legacy-apps",
      "--device",
      "beta",
      "--home",
      beta.home,
    ]);
    const written = await waitFor("alpha to hold whoami's origin in legacy-apps", async () =>
      ((await stateValue(alpha.home, appOriginKey("whoami"))) as { catalog?: string } | undefined)
        ?.catalog === "legacy-apps"
        ? changesetOps(alpha.home)
            .map((ops) => ops.map((op) => op.key))
            .findLast((keys) => keys.includes(appOriginKey("whoami")))
        : undefined,
    );
    expect(written).toContain(appKeys.spec("whoami"));
  }, 60_000);

  test("written by an older bucky (no publisher), is pinned to the publisher whose catalog lists the package the app runs, with the device that wrote it killed", async () => {
    // What a bucky before publishers were recorded wrote.
    const v1 = { v: 1, catalog: "legacy-apps" };
    await buckyJson([
      "state",
      "set",
      appOriginKey("whoami"),
      JSON.stringify(v1),
      "--home",
      beta.home,
    ]);
    await waitFor("alpha to hold the older record's write", () =>
      changesetOps(alpha.home).some((ops) =>
        ops.some((op) => op.key === appOriginKey("whoami") && op.value === JSON.stringify(v1)),
      )
        ? true
        : undefined,
    );
    await beta.kill();
    const pinned = await waitFor(
      "alpha to hold whoami's origin pinned",
      async () => {
        const origin = (await stateValue(alpha.home, appOriginKey("whoami"))) as
          | { v?: number }
          | undefined;
        return origin?.v === 2 ? (origin as unknown) : undefined;
      },
      15_000,
    );
    expect(pinned).toEqual({ v: 2, catalog: "legacy-apps", publisher: own.publisher });
  }, 60_000);

  test("written by an older bucky and not pinnable, takes no update from another publisher's catalog of the same name", async () => {
    // Its own catalog removed, another publisher's of that name added: its whoami is newer.
    // Beta, killed before, holds none of it: alpha says so, once it waited.
    expect(await buckyJson(["store", "remove", "legacy-apps", "--home", alpha.home])).toMatchObject(
      { name: "legacy-apps", heldElsewhere: "not yet" },
    );
    const other = await publishWhoami("legacy-apps", 1, scratchDir(), "2.0.0");
    expect(other.publisher).not.toBe(own.publisher);
    await buckyJson(["store", "add", other.out, "--key", other.publisher, "--home", alpha.home]);
    const v1 = { v: 1, catalog: "legacy-apps" };
    await buckyJson([
      "state",
      "set",
      appOriginKey("whoami"),
      JSON.stringify(v1),
      "--home",
      alpha.home,
    ]);
    expect(await updateRefused(alpha.home, "legacy-apps")).toMatchObject({
      code: "E_EXISTS",
      message: `whoami was installed from catalog legacy-apps by an older bucky, which did not record that catalog's publisher; and the zone's catalog legacy-apps (of publisher ${other.publisher}) does not list the package whoami runs, so it may be another publisher's, whose whoami would take over its data`,
    });
    // Nor was it pinned to that publisher meanwhile.
    expect(await stateValue(alpha.home, appOriginKey("whoami"))).toEqual(v1);
  }, 60_000);
});

describe("an app installed or started", () => {
  test("the command answers once another device holds the write", async () => {
    // The test before left beta killed.
    beta = await startDaemon(beta.home, ENV);
    // Alpha hears from beta again (its pushes to beta, which it waited out while beta was
    // away, go through again) before beta is stopped.
    await waitFor(
      "alpha's writes to be held by beta again",
      async () =>
        (
          await buckyJson<{ heldElsewhere: string }>([
            "app",
            "stop",
            "whoami",
            "--home",
            alpha.home,
          ])
        ).heldElsewhere === "held"
          ? true
          : undefined,
      20_000,
    );
    const site = resolve(import.meta.dir, "../fixtures/apps/site");
    const installed = await answeredOnceHeld(
      [beta],
      () =>
        buckyJson<{ app: string; heldElsewhere: string }>([
          "app",
          "install",
          site,
          "--device",
          "alpha",
          "--home",
          alpha.home,
        ]),
      {
        what: "alpha to write site's install",
        seen: () => /app installed.*app=site/.test(alpha.log()),
      },
    );
    expect(installed).toMatchObject({ app: "site", heldElsewhere: "held" });

    await buckyJson(["app", "stop", "site", "--home", alpha.home]);
    const started = await answeredOnceHeld(
      [beta],
      () => buckyJson(["app", "start", "site", "--home", alpha.home]),
      {
        what: "alpha to write site's start",
        seen: () => /app started.*app=site/.test(alpha.log()),
      },
    );
    expect(started).toEqual({ app: "site", desired: "running", heldElsewhere: "held" });
    // Held by beta before alpha answered: it stands with alpha gone.
    await alpha.kill();
    expect(await stateValue(beta.home, appKeys.spec("site"))).toMatchObject({ desired: "running" });
  }, 60_000);
});

describe("a catalog's objects a device could not copy", () => {
  test("are copied as soon as a device holding them answers again, not at the next minute", async () => {
    // The test before left alpha killed.
    alpha = await startDaemon(alpha.home, ENV);
    // Beta knows where alpha is now before it hears of the catalog (its first copy is not
    // what this test is about).
    await buckyJson(["state", "set", "apps/probe", '"again"', "--home", alpha.home]);
    await waitFor("beta to sync with alpha", async () =>
      (await stateValue(beta.home, "apps/probe")) === "again" ? true : undefined,
    );
    const { out, publisher } = await publishWhoami("again-apps");
    await buckyJson(["store", "add", out, "--key", publisher, "--home", alpha.home]);
    const named = publishedObjects(out);
    const held = () => {
      const betaStore = new ObjectStore(join(beta.home, "ndn"));
      return named.every((id) => betaStore.readObject(id) !== undefined) ? true : undefined;
    };
    await waitFor("beta's copy of the catalog", held, 15_000);
    // Beta loses its copy, and starts again while alpha, the one other holder, is away.
    await beta.kill();
    const betaStore = new ObjectStore(join(beta.home, "ndn"));
    for (const id of named) betaStore.remove(id);
    await alpha.kill();
    beta = await startDaemon(beta.home, ENV);
    await waitFor("beta to find it cannot copy them now", () =>
      beta.log().includes("catalog object not copied yet") ? true : undefined,
    );
    alpha = await startDaemon(alpha.home, ENV);
    await waitFor("beta's copy of the catalog, once alpha is back", held, 20_000);
  }, 60_000);
});
