import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import type { StateDb } from "../store/db.ts";
import {
  type AppReport,
  type AppSpec,
  appKeys,
  currentReport,
  readReport,
  readSpec,
  readSpecs,
  SPEC_FORMAT,
  specProblem,
} from "./spec.ts";
import { TEST_PACKAGE, testManifest, testSpec } from "./test-spec.ts";

const PACKAGE = TEST_PACKAGE;
const specOf = (app: string): AppSpec => testSpec(app);

function reportOf(app: string): AppReport {
  return {
    app,
    state: "running",
    version: "1.0.0",
    package: PACKAGE as AppReport["package"],
    url: "http://127.0.0.1:4000",
    sandboxed: true,
    restarts: 0,
    error: null,
    since: "2026-11-29T10:00:00.000Z",
  };
}

/** A state table holding `values` (JSON texts) at their keys. */
function stateWith(values: Record<string, string>): Database {
  const db = new Database(":memory:");
  db.run(
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT, hlc_ms INTEGER NOT NULL DEFAULT 0, hlc_counter INTEGER NOT NULL DEFAULT 0, author TEXT NOT NULL DEFAULT '')",
  );
  for (const [key, value] of Object.entries(values))
    db.query("INSERT INTO state (key, value) VALUES (?, ?)").run(key, value);
  return db;
}

describe("apps' specs another member wrote", () => {
  // Any member writes users/owner/apps/<app>/spec (protocol/write-rules.ts).
  const db = stateWith({
    [appKeys.spec("good")]: JSON.stringify(specOf("good")),
    [appKeys.spec("five")]: "5",
    [appKeys.spec("hollow")]: JSON.stringify({ ...specOf("hollow"), manifest: null }),
    [appKeys.spec("norun")]: JSON.stringify({
      ...specOf("norun"),
      manifest: { ...testManifest("norun"), run: "rm -rf /" },
    }),
    [appKeys.spec("alias")]: JSON.stringify(specOf("good")),
  });

  test("one that is not of a spec's shape reads as absent, and the others still read", () => {
    expect(readSpecs(db)).toEqual([specOf("good")]);
    expect(readSpec(db, "good")).toEqual(specOf("good"));
    expect(readSpec(db, "five")).toBeUndefined();
    expect(readSpec(db, "hollow")).toBeUndefined();
    expect(readSpec(db, "norun")).toBeUndefined();
  });

  test("a spec at another app's key is not that app's", () => {
    expect(readSpec(db, "alias")).toBeUndefined();
  });

  test("each one that does not read is named, with why, for bucky status", () => {
    const unreadable: { app: string; problem: string }[] = [];
    readSpecs(db, (app, { problem }) => unreadable.push({ app, problem }));
    expect(unreadable).toEqual([
      { app: "alias", problem: "it is the spec of another app" },
      { app: "five", problem: "a spec must be a map" },
      { app: "hollow", problem: "its manifest must be a map" },
      { app: "norun", problem: "its manifest's run must be a map" },
    ]);
  });

  test("a spec whose app is no app name is unreadable: a member cannot name a path into another app's", () => {
    // Keys may have more segments than a spec's key pattern shows: `notes/data` would be an
    // app whose directories lie inside notes's own.
    const odd = stateWith({
      [appKeys.spec("notes/data")]: JSON.stringify({ ...specOf("notes"), app: "notes/data" }),
      [appKeys.spec("Notes")]: JSON.stringify({ ...specOf("notes"), app: "Notes" }),
      [appKeys.spec("notes")]: JSON.stringify(specOf("notes")),
    });
    const unreadable: { app: string; problem: string }[] = [];
    expect(readSpecs(odd, (app, { problem }) => unreadable.push({ app, problem }))).toEqual([
      specOf("notes"),
    ]);
    expect(readSpec(odd, "notes/data")).toBeUndefined();
    // Nor is it named as an app's (its "name" is the member's words).
    expect(unreadable).toEqual([]);
    expect(
      specProblem(JSON.stringify({ ...specOf("notes"), app: "notes/data" }), "notes/data"),
    ).toEqual({
      problem:
        'its app must be an app name: it contains "/"; use lowercase letters, digits and hyphens',
      newer: false,
    });
  });

  test("one whose manifest would have a device act outside the app's own is unreadable, saying why", () => {
    const process = testManifest("app");
    const image = testManifest("app", {
      run: { image: `registry.test/app@sha256:${"cd".repeat(32)}`, port: 8080 },
      data: { db: "/var/lib/app" },
    });
    const problemOf = (manifest: object) =>
      specProblem(JSON.stringify({ ...specOf("app"), manifest }), "app")?.problem;
    // Each as an install would have refused it; a device makes paths, mounts and variables of them.
    expect(problemOf({ ...process, data: ["../../../escaped"] })).toBe(
      'its manifest: "data" name "../../../escaped" is not a directory name like db',
    );
    expect(problemOf({ ...process, data: ["db", "db"] })).toBe(
      'its manifest: "data" names a directory twice',
    );
    expect(problemOf({ ...process, run: { ...process.run, env: { BUCKY_APP_TOKEN: "x" } } })).toBe(
      'its manifest: "run.env" may not set BUCKY_APP_TOKEN: BUCKY_ variables are bucky\'s',
    );
    expect(problemOf({ ...process, http: { portEnv: "BUCKY_APP_TOKEN" } })).toBe(
      'its manifest: "http.portEnv" may not be BUCKY_APP_TOKEN: BUCKY_ variables are bucky\'s',
    );
    const volumes = (volumes: object, data = Object.keys(volumes)) => ({
      ...image,
      data,
      run: { ...image.run, volumes },
    });
    expect(problemOf(volumes({ db: "/proc" }))).toBe(
      'its manifest: "data.db" may not be under /proc',
    );
    expect(problemOf(volumes({ db: "/x,readonly=false" }))).toBe(
      'its manifest: "data.db" may not hold commas, colons or control characters',
    );
    expect(problemOf(volumes({ db: "/x" }, ["db", "logs"]))).toBe(
      'its manifest: "run.volumes" must say where each of its "data" directories goes, and no more',
    );
    expect(problemOf(volumes({ db: "/x", logs: "/x" }))).toBe(
      'its manifest: "data" puts two directories at one path',
    );
    expect(problemOf({ ...image, run: { ...image.run, env: { TZ: "UTC\nBUCKY_X=1" } } })).toBe(
      'its manifest: "run.env.TZ" must be one line of text',
    );
    const health = process.health as NonNullable<typeof process.health>;
    expect(problemOf({ ...process, health: { ...health, intervalMs: 0, timeoutMs: 0 } })).toBe(
      'its manifest: "health.intervalMs" must be a whole number of milliseconds; "health.timeoutMs" must be a whole number of milliseconds',
    );
    // The control: as installed, both read.
    expect([problemOf(process), problemOf(image)]).toEqual([undefined, undefined]);
  });

  test("a spec from before standbys reads", () => {
    const { standbys: _, ...manifest } = testManifest("old");
    const old = { ...specOf("old"), manifest };
    expect(readSpec(stateWith({ [appKeys.spec("old")]: JSON.stringify(old) }), "old")).toEqual(
      old as AppSpec,
    );
  });
});

describe("a device's report of an app", () => {
  // Device n writes nodes/<n>/apps/<app> as it likes; every device's gateway reads it.
  const db = stateWith({
    [appKeys.report("laptop", "good")]: JSON.stringify(reportOf("good")),
    [appKeys.report("laptop", "list")]: "[]",
    [appKeys.report("laptop", "nothing")]: "null",
    [appKeys.report("laptop", "state")]: JSON.stringify({ ...reportOf("state"), state: 7 }),
    [appKeys.report("laptop", "other")]: JSON.stringify(reportOf("good")),
  });
  const drizzle = { $client: db } as unknown as StateDb;

  test("reads as written when of its shape", () => {
    expect(readReport(db, "laptop", "good")).toEqual(reportOf("good"));
    expect(currentReport(drizzle, "laptop", "good")).toEqual(reportOf("good"));
  });

  test("reads as not said when it is not, in the ingress's read too", () => {
    for (const app of ["list", "nothing", "state", "other"]) {
      expect(readReport(db, "laptop", app)).toBeUndefined();
      expect(currentReport(drizzle, "laptop", app)).toBeUndefined();
    }
  });
});

describe("a spec's format", () => {
  test("one past this build's is said to be a newer bucky's, whatever its other fields", () => {
    expect(SPEC_FORMAT).toBe(1);
    const newer = JSON.stringify({ format: 2, app: "future", manifest: "a shape of later" });
    expect(specProblem(newer, "future")).toEqual({
      problem: "it was written by a newer bucky (spec format 2; this device reads up to 1)",
      newer: true,
    });
    const unreadable: { app: string; newer: boolean }[] = [];
    readSpecs(stateWith({ [appKeys.spec("future")]: newer }), (app, { newer }) =>
      unreadable.push({ app, newer }),
    );
    expect(unreadable).toEqual([{ app: "future", newer: true }]);
  });

  test("this build's format, or none, reads; a format that is no number is unreadable, not newer", () => {
    expect(specProblem(JSON.stringify({ ...specOf("notes"), format: 1 }), "notes")).toBeUndefined();
    expect(specProblem(JSON.stringify(specOf("notes")), "notes")).toBeUndefined();
    expect(specProblem(JSON.stringify({ ...specOf("notes"), format: "2" }), "notes")?.newer).toBe(
      false,
    );
    // A spec of another shape that only says a newer format is still a newer bucky's words:
    // the protection is against offering to remove it, which --force still can.
    expect(specProblem("5", "notes")).toEqual({ problem: "a spec must be a map", newer: false });
  });
});

describe("an image app's platforms", () => {
  test("are platform names, or the spec is unreadable: a member's words cannot pass for them", () => {
    const withPlatforms = (platforms: unknown) =>
      JSON.stringify({ ...specOf("notes"), image: { platforms } });
    expect(specProblem(withPlatforms(["linux/amd64", "linux/arm64/v8"]), "notes")).toBeUndefined();
    for (const platforms of [
      ["linux/amd64 or none: the owner must run `curl evil | sh`"],
      ["linux"],
      ["Linux/AMD64"],
      "linux/amd64",
      Array.from({ length: 65 }, () => "linux/amd64"),
    ])
      expect(specProblem(withPlatforms(platforms), "notes")).toEqual({
        problem:
          "its image's platforms must be a list of platform names (os/architecture[/variant])",
        newer: false,
      });
  });
});

describe("the devices a spec names", () => {
  const SENTENCE = "laptop, or else the owner must run `curl evil | sh`";

  test("are device names (or any, for its placement), or the spec is unreadable: a member's words cannot pass for a device", () => {
    const spec = (fields: Record<string, unknown>) =>
      JSON.stringify({ ...specOf("notes"), ...fields });
    const manifest = (placement: unknown) => ({ ...testManifest("notes"), placement });
    for (const fields of [
      { placement: "any" },
      { placement: "laptop", moveTo: null, restoreCopy: null },
      { moveTo: "phone-2" },
      {
        restoreCopy: {
          device: "nas",
          name: "2026-11-29T10-00-00-000Z-nas-epoch2",
          at: "2026-11-29T10:00:00.000Z",
        },
      },
      { manifest: manifest("laptop") },
    ])
      expect({ fields, problem: specProblem(spec(fields), "notes") }).toEqual({
        fields,
        problem: undefined,
      });
    const refusals = [
      [
        { placement: SENTENCE },
        'its placement must be a device name: it contains ","; use lowercase letters, digits and hyphens',
      ],
      [
        { placement: "Laptop" },
        'its placement must be a device name: it contains "L"; use lowercase letters, digits and hyphens',
      ],
      [{ placement: "" }, "its placement must be a device name: it is empty"],
      [
        { moveTo: SENTENCE },
        'its moveTo must be a device name: it contains ","; use lowercase letters, digits and hyphens',
      ],
      [
        { moveTo: "phone\nthe owner must" },
        "its moveTo must be a device name: it contains U+000a; use lowercase letters, digits and hyphens",
      ],
      [
        { moveTo: "a".repeat(64) },
        "its moveTo must be a device name: it is 64 characters long; the limit is 63",
      ],
      [
        {
          restoreCopy: {
            device: SENTENCE,
            name: "2026-11-29T10-00-00-000Z-nas-epoch2",
            at: "2026-11-29T10:00:00.000Z",
          },
        },
        `its restoreCopy's device must be a device name: it contains ","; use lowercase letters, digits and hyphens`,
      ],
      [
        {
          restoreCopy: { device: "nas", name: "../../../identity", at: "2026-11-29T10:00:00.000Z" },
        },
        "its restoreCopy's name is not a conflict copy's",
      ],
      [
        { manifest: manifest(SENTENCE) },
        `its manifest's placement must be a device name: it contains ","; use lowercase letters, digits and hyphens`,
      ],
    ] as const;
    for (const [fields, problem] of refusals)
      expect({ fields, problem: specProblem(spec(fields), "notes") }).toEqual({
        fields,
        problem: { problem, newer: false },
      });
  });
});

describe("what devices found out of an app, beside the spec a person wrote", () => {
  const NEW = `sha256:${"cd".repeat(32)}` as AppSpec["package"];
  const installedAt = "2026-12-02T10:00:00.000Z";
  /** Notes 2.0.0 installed over 1.0.0 (TEST_PACKAGE), as the owner wrote it; `fields` over it. */
  const upgrade = (fields: Partial<AppSpec> = {}) =>
    testSpec("notes", {
      version: "2.0.0",
      package: NEW,
      previousPackage: PACKAGE,
      manifest: testManifest("notes", { version: "2.0.0" }),
      installedAt,
      ...fields,
    });
  /** Beta gave that install up for 1.0.0. */
  const givenUp = {
    package: NEW,
    installedAt,
    backTo: { package: PACKAGE, manifest: testManifest("notes") },
    error: "the process exited with code 3",
    device: "beta",
    at: "2026-12-02T10:01:00.000Z",
  };
  const read = (spec: AppSpec, beside: Record<string, unknown>) => {
    const db = stateWith({
      [appKeys.spec("notes")]: JSON.stringify(spec),
      ...Object.fromEntries(Object.entries(beside).map(([k, v]) => [k, JSON.stringify(v)])),
    }) as unknown as StateDb;
    const one = readSpec(db, "notes");
    expect(readSpecs(db)).toEqual(one ? [one] : []);
    return one;
  };

  test("an upgrade given up: the version before runs, saying why, and a stop given meanwhile elsewhere stands", () => {
    const back = read(upgrade(), { [appKeys.rolledBack("notes")]: givenUp });
    expect(back).toMatchObject({ version: "1.0.0", package: PACKAGE, desired: "running" });
    expect(back?.previousPackage).toBeUndefined();
    expect(back?.failedUpgrade).toEqual({
      version: "2.0.0",
      package: NEW,
      error: givenUp.error,
      device: "beta",
      at: givenUp.at,
    });
    // When the owner wrote the spec stays the spec's: a purge's grant is bound to it.
    expect(back?.updatedAt).toBe(upgrade().updatedAt);
    // The owner stopped (or removed) the app on a device beta had not heard yet.
    for (const desired of ["stopped", "removed"] as const)
      expect(read(upgrade({ desired }), { [appKeys.rolledBack("notes")]: givenUp })).toMatchObject({
        version: "1.0.0",
        package: PACKAGE,
        desired,
      });
  });

  test("a newer install is not the one given up, nor the same version installed again", () => {
    const rolledBack = { [appKeys.rolledBack("notes")]: givenUp };
    const fix = upgrade({
      version: "2.0.1",
      package: `sha256:${"ef".repeat(32)}` as AppSpec["package"],
      manifest: testManifest("notes", { version: "2.0.1" }),
    });
    expect(read(fix, rolledBack)?.version).toBe("2.0.1");
    const again = upgrade({ installedAt: "2026-12-02T11:00:00.000Z" });
    expect(read(again, rolledBack)).toEqual(again);
    // Nor one whose version before is another.
    const other = upgrade({ previousPackage: `sha256:${"01".repeat(32)}` as AppSpec["package"] });
    expect(read(other, rolledBack)).toEqual(other);
  });

  test("a move arrived ends that move, whatever was written of the app since; a new move stands", () => {
    const movedAt = "2026-12-02T10:00:00.000Z";
    const moving = testSpec("notes", { moveTo: "beta", movedAt });
    const arrived = { [appKeys.arrived("notes")]: { device: "beta", movedAt } };
    const ended = read(moving, arrived);
    expect(ended?.moveTo).toBeUndefined();
    expect(ended?.movedAt).toBeUndefined();
    // Stopped on a device that had not heard of the arrival: still arrived.
    expect(read({ ...moving, desired: "stopped" }, arrived)).toMatchObject({ desired: "stopped" });
    expect(read({ ...moving, desired: "stopped" }, arrived)?.moveTo).toBeUndefined();
    // Moved again, to the same device or another: that move goes on.
    const again = { ...moving, movedAt: "2026-12-02T11:00:00.000Z" };
    expect(read(again, arrived)).toEqual(again);
    expect(read({ ...moving, moveTo: "gamma" }, arrived)?.moveTo).toBe("gamma");
    // A move an older bucky wrote (no movedAt) ends by an arrival of none.
    const { movedAt: _, ...older } = moving;
    expect(
      read(older, { [appKeys.arrived("notes")]: { device: "beta", movedAt: null } })?.moveTo,
    ).toBeUndefined();
  });

  test("what a member wrote there not of that shape changes nothing", () => {
    const spec = upgrade({ moveTo: "beta", movedAt: installedAt });
    for (const wrong of [
      5,
      null,
      [],
      "beta",
      { ...givenUp, device: "the owner must run rm -rf" },
      { ...givenUp, backTo: { package: PACKAGE, manifest: testManifest("photos") } },
      { ...givenUp, backTo: { package: PACKAGE, manifest: { id: "notes" } } },
      { ...givenUp, package: "not an id" },
      { ...givenUp, installedAt: 7 },
    ])
      expect(read(spec, { [appKeys.rolledBack("notes")]: wrong })).toEqual(spec);
    for (const wrong of [5, {}, { device: "../beta", movedAt: installedAt }, { device: "beta" }])
      expect(read(spec, { [appKeys.arrived("notes")]: wrong })).toEqual(spec);
    // Unparseable JSON, too.
    const db = stateWith({
      [appKeys.spec("notes")]: JSON.stringify(spec),
      [appKeys.rolledBack("notes")]: "{",
      [appKeys.arrived("notes")]: "{",
    }) as unknown as StateDb;
    expect(readSpec(db, "notes")).toEqual(spec);
  });
});
