/**
 * A person's acts on an app, given at once on two devices, both stand: each is kept beside
 * the spec under a key of its own (spec-acts.ts), where the spec, one document, kept only
 * the later of the two whole writes. Device a acts through the real commands; device b's
 * write is the one its command made from what it had seen (the spec before a's act). One
 * database holds both, its clock moving on with each write: the one written last is the
 * later, whatever time it is given.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { Op } from "../../protocol/changeset.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { ownerTestContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  testZone,
} from "../state/test-db.ts";
import { shareApp } from "../users/shares.ts";
import { installOps, moveApp, restoreCopy, setDesired } from "./admin.ts";
import { PurgeGrants } from "./owner-grants.ts";
import { grantPurge, purgeGranted } from "./purge.ts";
import { type AppSpec, appKeys, readSpec } from "./spec.ts";
import { desiredActOp, moveActOp, restoreCopyActOp, shareActOp } from "./spec-acts.ts";
import { testSpec } from "./test-spec.ts";

afterAll(removeTestDatabases);

const INSTALLED_AT = "2026-11-29T09:00:00.000Z";

let seeds = 60;
function zoneOfTwo() {
  const node = openTestNode(++seeds);
  const b = signingKeyFromSeed(seed(++seeds + 100));
  const a = ownerTestContext(node, "a");
  const writeAs = (name: "a" | "b", ops: readonly Op[], ms: number) =>
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name, key: name === "a" ? node.key : b, seal: node.seal },
      ops,
      ms,
    );
  const installed = testSpec("notes", {
    installedAt: INSTALLED_AT,
    actsAt: testSpec("notes").updatedAt,
    manifest: { ...testSpec("notes").manifest, exposure: "zone" },
  });
  writeAs("a", [...foundingOps({ a: node.key, b }), specOp(installed)], 1000);
  return { node, a, writeAs, installed };
}

const specOp = (spec: AppSpec): Op => ({
  key: appKeys.spec(spec.app),
  value: JSON.stringify(spec),
});
const later = () => Date.now() + 30_000;

/** a's share with the child role, by the real command. */
function shareWithChild(a: ReturnType<typeof zoneOfTwo>["a"]): void {
  shareApp(a, "notes", ["child"]);
}

/** A share of `seen` with the child role, as a command on a device that saw it writes it. */
function sharedFrom(seen: AppSpec): Op[] {
  const at = new Date().toISOString();
  const spec: AppSpec = {
    ...seen,
    shared: ["child"],
    sharedAt: at,
    updatedAt: at,
    actsAt: at,
  };
  return [specOp(spec), shareActOp(spec)];
}

describe("two acts at once on two devices", () => {
  test("a removal on a and a share on b, b's clock later: removed, and shared as b said", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "removed");
    writeAs("b", sharedFrom(installed), later());
    expect(readSpec(node.db, "notes")).toMatchObject({ desired: "removed", shared: ["child"] });
  });

  test("a stop on a, then a share on b made from what b saw before: stopped, and shared as b said", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "stopped");
    // b's whole spec, written after from the spec before a's stop, is the one kept.
    writeAs("b", sharedFrom(installed), 2000);
    expect(readSpec(node.db, "notes")).toMatchObject({ desired: "stopped", shared: ["child"] });
  });

  test("the owner's purge on a and a share on b, b's clock later: removed, the data kept for a purge again", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "removed", true);
    writeAs("b", sharedFrom(installed), later());
    const spec = readSpec(node.db, "notes") as AppSpec;
    expect(spec.desired).toBe("removed");
    // A purge is the spec's own (its row's author): never laid over it.
    expect(purgeGranted(node.db, new PurgeGrants(testZone.id), spec)).toBe(false);
    setDesired(a, "notes", "removed", true);
    expect(
      purgeGranted(node.db, new PurgeGrants(testZone.id), readSpec(node.db, "notes") as AppSpec),
    ).toBe(true);
  });

  test("a removal on a and a start or stop on b, b's clock later: removed", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "removed");
    const at = new Date().toISOString();
    const stopped: AppSpec = { ...installed, desired: "stopped", updatedAt: at, actsAt: at };
    writeAs("b", [specOp(stopped), desiredActOp(stopped)], later());
    expect(readSpec(node.db, "notes")?.desired).toBe("removed");
  });

  test("an old install's spec written again by a thief, saying it runs: the owner's old removal of it removes, and purges nothing", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "removed", true);
    // Marked as this bucky marks its writes: the acts of that install apply.
    const at = new Date().toISOString();
    writeAs("b", [specOp({ ...installed, updatedAt: at, actsAt: at })], later());
    const spec = readSpec(node.db, "notes") as AppSpec;
    expect(spec.desired).toBe("removed");
    expect(purgeGranted(node.db, new PurgeGrants(testZone.id), spec)).toBe(false);
  });
});

describe("a move and another act at once", () => {
  test("a move on b and a stop on a, a's written later from what it saw before: stopped, and moving as b said", () => {
    const { node, writeAs, installed } = zoneOfTwo();
    const at = new Date().toISOString();
    const moved: AppSpec = { ...installed, moveTo: "b", movedAt: at, updatedAt: at, actsAt: at };
    writeAs("b", [specOp(moved), moveActOp(moved)], later());
    // a's stop, as its command made it from the spec before the move: the later whole spec.
    const stopped: AppSpec = { ...installed, desired: "stopped", updatedAt: at, actsAt: at };
    writeAs("a", [specOp(stopped), desiredActOp(stopped)], later());
    expect(readSpec(node.db, "notes")).toMatchObject({ desired: "stopped", moveTo: "b" });
  });

  test("a move a member wrote not of a move's shape changes nothing", () => {
    const { node, writeAs } = zoneOfTwo();
    const act = {
      placement: "x; the owner must run",
      moveTo: null,
      movedAt: null,
      installedAt: INSTALLED_AT,
    };
    writeAs("b", [{ key: appKeys.move("notes"), value: JSON.stringify(act) }], later());
    expect(readSpec(node.db, "notes")?.placement).toBe("any");
  });
});

const COPY_OF_B = "2026-11-29T09-35-13-000Z-b-epoch3";

describe("a conflict copy asked back and another act at once", () => {
  const COPY = COPY_OF_B;

  test("a copy asked back on a and a stop on b, b's written later from what it saw before: stopped, and the copy still asked back", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    restoreCopy(a, "notes", COPY, [{ device: "b", name: COPY }]);
    const at = new Date().toISOString();
    const stopped: AppSpec = { ...installed, desired: "stopped", updatedAt: at, actsAt: at };
    writeAs("b", [specOp(stopped), desiredActOp(stopped)], later());
    expect(readSpec(node.db, "notes")).toMatchObject({
      desired: "stopped",
      restoreCopy: { device: "b", name: COPY },
    });
  });

  test("a copy asked back on b and a share on a at once, a's clock later: shared, and the copy asked back", () => {
    const { node, writeAs, installed } = zoneOfTwo();
    const at = new Date().toISOString();
    const asked: AppSpec = {
      ...installed,
      restoreCopy: { device: "b", name: COPY, at },
      updatedAt: at,
      actsAt: at,
    };
    writeAs("b", [specOp(asked), restoreCopyActOp(asked)], 2000);
    // a's share, made from the spec before b's ask, is the later whole spec.
    writeAs("a", sharedFrom(installed), later());
    expect(readSpec(node.db, "notes")).toMatchObject({
      shared: ["child"],
      restoreCopy: { device: "b", name: COPY },
    });
  });

  test("an ask a member wrote naming a path, not a copy, asks nothing", () => {
    const { node, writeAs } = zoneOfTwo();
    const act = { device: "b", name: "../data", at: new Date().toISOString() };
    writeAs("b", [{ key: appKeys.restoreCopy("notes"), value: JSON.stringify(act) }], later());
    const spec = readSpec(node.db, "notes");
    expect(spec).toMatchObject({ app: "notes", desired: "running" });
    expect(spec?.restoreCopy).toBeUndefined();
  });
});

describe("an older bucky's spec, written over the acts", () => {
  test("asking no copy back, an ask before it asks nothing once a spec is written over it", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    restoreCopy(a, "notes", COPY_OF_B, [{ device: "b", name: COPY_OF_B }]);
    // The older bucky's stop, its spec asking no copy back (its restore done, say).
    const { actsAt: _, ...older } = installed;
    writeAs(
      "b",
      [specOp({ ...older, desired: "stopped", updatedAt: new Date().toISOString() })],
      later(),
    );
    setDesired(a, "notes", "running");
    expect(readSpec(node.db, "notes")).toMatchObject({ desired: "running" });
    expect(readSpec(node.db, "notes")?.restoreCopy).toBeUndefined();
  });
});

describe("which acts apply", () => {
  test("a spec written after the act by a bucky that keeps none (no mark of its own) says it all", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "stopped");
    const { actsAt: _, ...older } = installed;
    writeAs(
      "b",
      [specOp({ ...older, desired: "running", updatedAt: new Date().toISOString() })],
      later(),
    );
    expect(readSpec(node.db, "notes")?.desired).toBe("running");
  });

  test("an older bucky's share, its spec copying a's mark over, wins by its clock", () => {
    const { node, a, writeAs } = zoneOfTwo();
    shareApp(a, "notes", null);
    // An older bucky writes the whole spec, a's mark (actsAt) copied over as it was.
    const seen = readSpec(node.db, "notes") as AppSpec;
    // A moment after a's share, as it is on b's clock.
    const at = new Date(Date.parse(seen.updatedAt) + 1000).toISOString();
    writeAs("b", [specOp({ ...seen, shared: ["child"], sharedAt: at, updatedAt: at })], later());
    expect(readSpec(node.db, "notes")?.shared).toEqual(["child"]);
  });

  test("an older bucky's start, after a's stop, stands through a's move after it", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "stopped");
    const { actsAt: _, ...unmarked } = installed;
    writeAs(
      "b",
      [specOp({ ...unmarked, desired: "running", updatedAt: new Date().toISOString() })],
      later(),
    );
    expect(readSpec(node.db, "notes")?.desired).toBe("running");
    moveApp(a, "notes", "b");
    expect(readSpec(node.db, "notes")).toMatchObject({ desired: "running", moveTo: "b" });
  });

  test("an install that names none (an older bucky's) is not taken for another such: removed, installed again, stopped", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    const { installedAt: _, actsAt: __, ...older } = installed;
    writeAs("b", [specOp({ ...older, updatedAt: new Date().toISOString() })], 1500);
    setDesired(a, "notes", "removed");
    expect(readSpec(node.db, "notes")?.desired).toBe("removed");
    // The older bucky installs it again: a spec naming no install either, running.
    writeAs("b", [specOp({ ...older, updatedAt: new Date().toISOString() })], later());
    expect(readSpec(node.db, "notes")?.desired).toBe("running");
    setDesired(a, "notes", "stopped");
    expect(readSpec(node.db, "notes")?.desired).toBe("stopped");
  });

  test("a share on a and an upgrade on b at once, b's clock later: the upgrade, shared as a said", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    shareWithChild(a);
    const at = new Date().toISOString();
    const upgrade: AppSpec = {
      ...installed,
      version: "2.0.0",
      installedAt: at,
      updatedAt: at,
      actsAt: at,
    };
    writeAs("b", [specOp(upgrade)], later());
    expect(readSpec(node.db, "notes")).toMatchObject({ version: "2.0.0", shared: ["child"] });
  });

  test("an act of the install before an upgrade that names none it upgraded (an older bucky's) does not apply to it", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "stopped");
    const upgrade = { ...installed, version: "2.0.0", installedAt: new Date().toISOString() };
    writeAs("b", [specOp(upgrade)], later());
    expect(readSpec(node.db, "notes")).toMatchObject({ version: "2.0.0", desired: "running" });
  });

  test("an act a member wrote not of an act's shape changes nothing", () => {
    const { node, writeAs } = zoneOfTwo();
    writeAs(
      "b",
      [
        {
          key: appKeys.desired("notes"),
          value: JSON.stringify({ desired: "gone", installedAt: INSTALLED_AT }),
        },
        {
          key: appKeys.share("notes"),
          value: JSON.stringify({ shared: 5, installedAt: INSTALLED_AT }),
        },
      ],
      later(),
    );
    expect(readSpec(node.db, "notes")).toMatchObject({ desired: "running" });
    expect(readSpec(node.db, "notes")?.shared).toBeUndefined();
  });

  test("the acts written are what the spec says, a purge not among them", () => {
    const spec = testSpec("notes", {
      desired: "removed",
      purge: true,
      purgeGrant: "g",
      shared: ["ann"],
      sharedAt: "2026-11-29T11:00:00.000Z",
      installedAt: INSTALLED_AT,
    });
    expect(JSON.parse(desiredActOp(spec).value as string)).toEqual({
      desired: "removed",
      installedAt: INSTALLED_AT,
    });
    expect(JSON.parse(shareActOp(spec).value as string)).toEqual({
      shared: ["ann"],
      sharedAt: "2026-11-29T11:00:00.000Z",
    });
  });
});

/** b's upgrade to `version` of `seen` (what b had seen), as its install writes it. */
function upgradedByB(seen: AppSpec, version = "2.0.0", at = new Date().toISOString()): Op[] {
  const spec: AppSpec = {
    ...seen,
    version,
    manifest: { ...seen.manifest, version },
    installedAt: at,
    ...(seen.installedAt ? { installedOver: seen.installedAt } : {}),
    updatedAt: at,
    actsAt: at,
  };
  return installOps(seen, spec);
}

/** a's command over `seen` (from before b's upgrade): the spec whole, and its act. */
function actedByA(seen: AppSpec, fields: Partial<AppSpec>, act: (spec: AppSpec) => Op): Op[] {
  const at = new Date().toISOString();
  const spec: AppSpec = { ...seen, ...fields, updatedAt: at, actsAt: at };
  return [specOp(spec), act(spec)];
}

describe("an upgrade on one device and an act on another at once: both stand", () => {
  test("a stop on a, then the upgrade on b, made from before it: the upgrade, stopped", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "stopped");
    writeAs("b", upgradedByB(installed), later());
    expect(readSpec(node.db, "notes")).toMatchObject({ version: "2.0.0", desired: "stopped" });
  });

  test("the upgrade on b, then a stop on a made from before it: the upgrade, stopped", () => {
    const { node, writeAs, installed } = zoneOfTwo();
    writeAs("b", upgradedByB(installed), 2000);
    // a's spec, whole and later, names the version before: it undid the upgrade.
    writeAs("a", actedByA(installed, { desired: "stopped" }, desiredActOp), later());
    expect(readSpec(node.db, "notes")).toMatchObject({ version: "2.0.0", desired: "stopped" });
  });

  test("a removal on a, then the upgrade on b, made from before it: removed", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "removed");
    writeAs("b", upgradedByB(installed), later());
    expect(readSpec(node.db, "notes")).toMatchObject({ version: "2.0.0", desired: "removed" });
  });

  test("the upgrade on b, then the owner's purge on a made from before it: removed, the data kept for a purge again", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    writeAs("b", upgradedByB(installed), 2000);
    const at = new Date(later()).toISOString();
    const purge = {
      desired: "removed" as const,
      purge: true,
      purgeGrant: grantPurge(a, "notes", at),
    };
    const removal: AppSpec = { ...installed, ...purge, updatedAt: at, actsAt: at };
    writeAs("a", [specOp(removal), desiredActOp(removal)], later());
    const spec = readSpec(node.db, "notes") as AppSpec;
    expect(spec).toMatchObject({ version: "2.0.0", desired: "removed" });
    expect(purgeGranted(node.db, new PurgeGrants(testZone.id), spec)).toBe(false);
    setDesired(a, "notes", "removed", true);
    expect(
      purgeGranted(node.db, new PurgeGrants(testZone.id), readSpec(node.db, "notes") as AppSpec),
    ).toBe(true);
  });

  test("a move on a, then the upgrade on b, made from before it: the upgrade, moved", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    moveApp(a, "notes", "b");
    writeAs("b", upgradedByB(installed), later());
    expect(readSpec(node.db, "notes")).toMatchObject({ version: "2.0.0", moveTo: "b" });
  });

  test("the upgrade on b, then a share on a made from before it: the upgrade, shared", () => {
    const { node, writeAs, installed } = zoneOfTwo();
    writeAs("b", upgradedByB(installed), 2000);
    writeAs("a", sharedFrom(installed), later());
    expect(readSpec(node.db, "notes")).toMatchObject({ version: "2.0.0", shared: ["child"] });
  });

  test("an act of the install two upgrades back no longer applies", () => {
    const { node, a, writeAs, installed } = zoneOfTwo();
    setDesired(a, "notes", "stopped");
    writeAs("b", upgradedByB(installed), 2000);
    setDesired(a, "notes", "running");
    const upgraded = readSpec(node.db, "notes") as AppSpec;
    writeAs("b", upgradedByB(upgraded, "3.0.0", new Date(later()).toISOString()), later());
    // The first install's stop, written again as a member could, is not the second's.
    writeAs("a", [desiredActOp({ ...installed, desired: "stopped" })], later() + 1000);
    expect(readSpec(node.db, "notes")).toMatchObject({ version: "3.0.0", desired: "running" });
  });

  test("an install kept beside the spec that is not one, or of another install, is not laid over it", () => {
    const { node, writeAs, installed } = zoneOfTwo();
    const before = readSpec(node.db, "notes");
    const elsewhere: AppSpec = {
      ...installed,
      version: "9.0.0",
      installedAt: "2026-11-30T00:00:00.000Z",
      installedOver: "2026-11-01T00:00:00.000Z",
    };
    for (const value of [
      JSON.stringify("junk"),
      JSON.stringify({ ...elsewhere, manifest: 5 }),
      JSON.stringify(elsewhere),
    ]) {
      writeAs("b", [{ key: appKeys.install("notes"), value }], later());
      expect(readSpec(node.db, "notes")).toEqual(before);
    }
  });
});
