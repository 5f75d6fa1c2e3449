/**
 * Where a home's space goes, measured a step per file: a daemon runs it in slices, so a
 * home of many files never holds up what else it does; the answer is the same either way.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appKeys } from "../apps/spec.ts";
import { testSpec } from "../apps/test-spec.ts";
import { homePaths } from "../home.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode } from "../state/test-db.ts";
import { homeUsage, homeUsageSteps } from "./usage.ts";

const NO_APPS = { specs: [], ungrantedPurges: new Set<string>() };
const scratch = mkdtempSync(join(tmpdir(), "bucky-usage-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("a home's disk use", () => {
  test("is measured a step per file, with the same answer as all at once", () => {
    const paths = homePaths(join(scratch, "home"));
    const files = 300;
    const data = join(paths.appsDir, "photos", "data");
    mkdirSync(data, { recursive: true });
    for (let i = 0; i < files; i++) writeFileSync(join(data, `p${i}.jpg`), "x".repeat(5000));
    const { db } = openTestNode(7);
    const steps = homeUsageSteps(paths, db, NO_APPS, "nas");
    let taken = 0;
    let step = steps.next();
    while (!step.done) {
      taken++;
      step = steps.next();
    }
    // At least one step for each file: never a whole directory at once.
    expect(taken).toBeGreaterThan(files);
    expect(step.value).toEqual(homeUsage(paths, db, NO_APPS, "nas"));
    // The app is not installed here: its data is a leftover, with its size.
    expect(step.value.leftovers[0]?.bytes).toBeGreaterThanOrEqual(files * 5000);
  });

  test("the copies an upgrade keeps beside an app's data are said apart from its data", () => {
    const paths = homePaths(join(scratch, "upgraded"));
    const dir = join(paths.appsDir, "notes");
    for (const [under, bytes] of [
      ["data", 5000],
      ["before-upgrade/data", 200_000],
      ["failed-upgrade-data", 200_000],
    ] as const) {
      mkdirSync(join(dir, under), { recursive: true });
      writeFileSync(join(dir, under, "notes.db"), "x".repeat(bytes));
    }
    const { db } = openTestNode(9);
    const usage = homeUsage(paths, db, { ...NO_APPS, specs: [testSpec("notes")] }, "d9");
    const notes = usage.apps.notes;
    // Sizes as du counts them (blocks, directories too): near what was written.
    expect({
      data: (notes?.dataBytes ?? 0) < 100_000,
      copies: (notes?.upgradeCopiesBytes ?? 0) >= 400_000,
    }).toEqual({ data: true, copies: true });
  });

  test("the data of an app whose spec cannot be read is its still: no rm -r is offered", () => {
    const paths = homePaths(join(scratch, "garbled"));
    mkdirSync(join(paths.appsDir, "notes", "data"), { recursive: true });
    writeFileSync(join(paths.appsDir, "notes", "data", "notes.db"), "x".repeat(5000));
    mkdirSync(join(paths.home, "replicas", "notes"), { recursive: true });
    writeFileSync(join(paths.home, "replicas", "notes", "replica.db"), "x".repeat(5000));
    const node = openTestNode(8);
    // A member wrote the spec in a shape not a spec's.
    appendLocalChangeset(
      node.db,
      { zone: node.zone, name: "d8", key: node.key, seal: node.seal },
      [{ key: appKeys.spec("notes"), value: "5" }],
      1000,
    );
    const usage = homeUsage(paths, node.db, NO_APPS, "d8");
    expect(usage.leftovers.map(({ what, remove }) => ({ what, remove }))).toEqual([
      {
        what: "the data of notes, whose spec in the zone state bucky cannot read",
        remove:
          "install notes again to use it; to delete it, remove the app first (`bucky app remove notes`)",
      },
    ]);
    expect(usage.leftovers[0]?.bytes).toBeGreaterThanOrEqual(10_000);
  });

  test("what an app removed with --purge left (its log, its sandbox) is said as that, not as its data", () => {
    const paths = homePaths(join(scratch, "purged"));
    const dir = join(paths.appsDir, "notes");
    mkdirSync(join(dir, "sandbox", "api"), { recursive: true });
    writeFileSync(join(dir, "app.log"), "x".repeat(5000));
    const { db } = openTestNode(9);
    const purged = testSpec("notes", { desired: "removed", purge: true });
    const usage = homeUsage(paths, db, { specs: [purged], ungrantedPurges: new Set() }, "d9");
    expect(usage.leftovers.map(({ what, remove }) => ({ what, remove }))).toEqual([
      { what: "the log and the sandbox of notes, removed with --purge", remove: `rm -r ${dir}` },
    ]);
    // Removed without it, the same files are its data's place still.
    const removed = { ...purged, purge: false };
    const kept = homeUsage(paths, db, { specs: [removed], ungrantedPurges: new Set() }, "d9");
    expect(kept.leftovers.map(({ what }) => what)).toEqual([
      "the data of notes, removed without --purge",
    ]);
    // Removed with a --purge the owner did not authorise (a member's), they are its data, kept.
    const ungranted = homeUsage(
      paths,
      db,
      { specs: [removed], ungrantedPurges: new Set(["notes"]) },
      "d9",
    );
    expect(ungranted.leftovers.map(({ what, remove }) => ({ what, remove }))).toEqual([
      {
        what: "the data of notes, kept: it was removed with a --purge the owner did not authorise",
        remove:
          "only the owner may delete it: `bucky app remove notes --purge` on the device holding the owner key",
      },
    ]);
  });
});
