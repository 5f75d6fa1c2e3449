/**
 * The holder's snapshots and what replaces them: a conflict copy brought back (`bucky app
 * restore-copy`) moves the data aside, and a newer epoch starts snapshots of its own, only
 * once a snapshot under way is done, never from under it or beside it.
 */
import { afterAll, afterEach, describe, expect, spyOn, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeTree } from "../../protocol/backup/formats.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { conflictCopyName } from "../../protocol/replica.ts";
import { testSpec } from "../apps/test-spec.ts";
import { CONFLICTS_LISTED } from "../facts/payload.ts";
import { createLog } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { HolderClaim } from "./claims.ts";
import { ReplicaDb, type ReplicaHead } from "./replica-db.ts";
import { copyNewerThan, Replication } from "./replication.ts";
import * as snapshot from "./snapshot.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-replication-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let replication: Replication | undefined;
afterEach(async () => {
  await replication?.stop();
  replication = undefined;
});

/** The replication of device "nas" with its home at `home`, writing nothing to a zone. */
function replicationOn(home: string): Replication {
  const node = {
    deviceName: "nas",
    zone: { paths: { home, appsDir: join(home, "apps") } },
    now: () => Date.now(),
    log: createLog({ level: "silent" }),
    write: () => {},
  } as unknown as NodeContext;
  return new Replication(node, { onChange: () => {} });
}

describe("a conflict copy restored on the holder", () => {
  test("waits for the snapshot under way before it moves the data aside", async () => {
    const home = join(scratch, "nas");
    const appsDir = join(home, "apps");
    const dataDir = join(appsDir, "notes", "data");
    const conflicts = join(appsDir, "notes", "conflicts");
    const copy = conflictCopyName(Date.parse("2026-11-29T10:00:00.000Z"), "nas", 1);
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "notes.txt"), "as it is now");
    mkdirSync(join(conflicts, copy), { recursive: true });
    writeFileSync(join(conflicts, copy, "notes.txt"), "the copy");
    writeFileSync(
      join(conflicts, `${copy}.json`),
      JSON.stringify({ name: copy, at: "2026-11-29T10:00:00.000Z", bytes: 8, epoch: 1 }),
    );
    const written: string[] = [];
    const node = {
      deviceName: "nas",
      zone: { paths: { home, appsDir } },
      now: () => Date.now(),
      log: createLog({ level: "silent" }),
      write: (ops: { key: string }[]) => written.push(...ops.map((op) => op.key)),
    } as unknown as NodeContext;
    replication = new Replication(node, { onChange: () => {} });

    // The holder's snapshot, held open until the test lets it go on; what it then reads.
    const take = snapshot.takeSnapshot;
    let started: () => void = () => {};
    const snapshotStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let seen: string | undefined;
    const held = spyOn(snapshot, "takeSnapshot").mockImplementation(async (options) => {
      started();
      await released;
      seen = readFileSync(join(options.dataDir, "notes.txt"), "utf8");
      return take(options);
    });
    try {
      const claim: HolderClaim = {
        device: "nas",
        deviceId: "dnas" as DeviceId,
        epoch: 1,
        since: "2026-11-29T09:00:00.000Z",
        from: null,
        lostAtMostMs: null,
      };
      const spec = testSpec("notes", {
        restoreCopy: { device: "nas", name: copy, at: "2026-11-29T11:00:00.000Z" },
      });
      await replication.arrange(
        spec,
        {
          holder: claim,
          runner: "nas",
          claimant: undefined,
          standbys: [],
          movingTo: undefined,
          waiting: undefined,
        },
        claim,
      );
      await snapshotStarted;
      const restoring = replication.restoreCopy(spec, [claim]);
      // The data is still where the snapshot reads it while the snapshot is under way.
      expect(readFileSync(join(dataDir, "notes.txt"), "utf8")).toBe("as it is now");
      release();
      await restoring;
      expect(seen).toBe("as it is now");
    } finally {
      release();
      held.mockRestore();
    }
    // Then the copy is the data, the data until now a conflict copy, and the next epoch claimed.
    expect(readFileSync(join(dataDir, "notes.txt"), "utf8")).toBe("the copy");
    expect(existsSync(join(conflicts, copy))).toBe(false);
    const kept = replication.conflicts("notes");
    expect(kept.map((c) => c.epoch)).toEqual([1]);
    expect(readFileSync(join(conflicts, kept[0]?.name as string, "notes.txt"), "utf8")).toBe(
      "as it is now",
    );
    expect(written).toEqual(["nodes/nas/holds/notes"]);
  });
});

describe("a holder's snapshots at a newer epoch", () => {
  test("start once the older epoch's snapshot under way is done, never beside it", async () => {
    const home = join(scratch, "epochs");
    const appsDir = join(home, "apps");
    const dataDir = join(appsDir, "notes", "data");
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "notes.txt"), "a note");
    replication = replicationOn(home);
    const claim = (epoch: number): HolderClaim => ({
      device: "nas",
      deviceId: "dnas" as DeviceId,
      epoch,
      since: "2026-11-29T09:00:00.000Z",
      from: null,
      lostAtMostMs: null,
    });
    const holding = (epoch: number) => ({
      holder: claim(epoch),
      runner: "nas",
      claimant: undefined,
      standbys: [],
      movingTo: undefined,
      waiting: undefined,
    });
    // Each snapshot says when it starts and ends; the first is held open until let go.
    const take = snapshot.takeSnapshot;
    const events: string[] = [];
    const started: (() => void)[] = [];
    const starts = [0, 1].map((i) => new Promise<void>((resolve) => (started[i] = resolve)));
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held = spyOn(snapshot, "takeSnapshot").mockImplementation(async (options) => {
      const n = events.filter((e) => e === "start").length;
      events.push("start");
      started[n]?.();
      if (n === 0) await released;
      try {
        return await take(options);
      } finally {
        events.push("done");
      }
    });
    try {
      const spec = testSpec("notes");
      await replication.arrange(spec, holding(1), claim(1));
      await starts[0];
      const newer = replication.arrange(spec, holding(2), claim(2));
      // A second snapshot beside the first would start at once; half a second bounds the wait.
      await Promise.race([starts[1], Bun.sleep(500)]);
      release();
      await newer;
      await starts[1];
      expect(events.slice(0, 3)).toEqual(["start", "done", "start"]);
    } finally {
      release();
      held.mockRestore();
    }
  });
});

describe("the conflict copies a device lists", () => {
  test("are only copies named as copies, each a directory of its own: a snapshot's others are not", () => {
    const home = join(scratch, "restored");
    const appsDir = join(home, "apps");
    const conflicts = join(appsDir, "notes", "conflicts");
    mkdirSync(conflicts, { recursive: true });
    const describe = (file: string, name: string) =>
      writeFileSync(
        join(conflicts, file),
        JSON.stringify({ name, at: "2026-11-29T10:00:00.000Z", bytes: 1, epoch: 1 }),
      );
    // A genuine copy.
    const good = conflictCopyName(Date.parse("2026-11-29T10:00:00.000Z"), "nas", 1);
    mkdirSync(join(conflicts, good));
    describe(`${good}.json`, good);
    // A name that leads out of the app (what a planted snapshot could hold).
    describe("escape.json", "../../../identity");
    // A copy's name, but a link to elsewhere on the device.
    const linked = conflictCopyName(Date.parse("2026-11-29T11:00:00.000Z"), "nas", 2);
    symlinkSync(join(home), join(conflicts, linked));
    describe(`${linked}.json`, linked);
    // A description under another file's name than its copy's.
    const other = conflictCopyName(Date.parse("2026-11-29T12:00:00.000Z"), "nas", 3);
    mkdirSync(join(conflicts, other));
    describe(`${good}-x.json`, other);
    replication = replicationOn(home);
    expect(replication.conflicts("notes").map((copy) => copy.name)).toEqual([good]);
  });

  test("are the newest in its facts, beside how many it keeps in all", () => {
    const home = join(scratch, "many-copies");
    const appsDir = join(home, "apps");
    const conflicts = join(appsDir, "notes", "conflicts");
    mkdirSync(conflicts, { recursive: true });
    const names: string[] = [];
    for (let i = 0; i < CONFLICTS_LISTED + 3; i++) {
      const at = Date.parse("2026-11-29T10:00:00.000Z") + i * 60_000;
      const name = conflictCopyName(at, "nas", 1);
      names.push(name);
      mkdirSync(join(conflicts, name));
      writeFileSync(
        join(conflicts, `${name}.json`),
        JSON.stringify({ name, at: new Date(at).toISOString(), bytes: 1, epoch: 1 }),
      );
    }
    replication = replicationOn(home);
    const facts = replication.facts();
    expect(facts.conflicts.notes?.map((copy) => copy.name)).toEqual(names.slice(3));
    expect(facts.conflictsKept).toEqual({ notes: CONFLICTS_LISTED + 3 });
  });
});

describe("a standby's newer copy, before another holder's snapshot replaces it", () => {
  test("not whole (a repair that failed): kept as far as it goes, said, and it does not hold the standby back", async () => {
    const home = mkdtempSync(join(scratch, "not-whole-"));
    const warned: string[] = [];
    const node = {
      deviceName: "nas",
      zone: { paths: { home, appsDir: join(home, "apps") } },
      now: () => Date.now(),
      log: { ...createLog({ level: "silent" }), warn: (message: string) => warned.push(message) },
      write: () => {},
    } as unknown as NodeContext;
    replication = new Replication(node, { onChange: () => {} });
    const data = join(home, "laptop-data");
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, "notes.txt"), "written on the laptop");
    const db = new ReplicaDb(join(home, "standby", "replica.db"));
    const head = await snapshot.takeSnapshot({
      db,
      dataDir: data,
      cacheDir: join(home, "cache"),
      head: { app: "notes", epoch: 2, seq: 5, holder: "laptop", at: Date.now(), final: false },
    });
    // The file's chunk dropped as damaged, and never fetched again.
    const named = (tree: string, name: string) =>
      decodeTree(db.get(tree) as Uint8Array).find((node) => node.name === name);
    const dir = named(head.root, "data");
    const file = dir?.type === "dir" ? named(dir.subtree, "notes.txt") : undefined;
    if (file?.type !== "file") throw new Error("the snapshot holds no notes.txt");
    db.drop(file.content[0] as string);
    const keepAside = (
      replication as unknown as {
        keepAsideIfNewer(app: string, own: ReplicaHead, db: ReplicaDb): void;
      }
    ).keepAsideIfNewer.bind(replication);
    expect(() => keepAside("notes", head, db)).not.toThrow();
    // Kept as far as it goes: a conflict copy, its missing file said.
    expect(warned).toEqual([
      "a newer copy of app data is damaged or not whole: kept as far as it goes",
      "kept a conflict copy of app data",
    ]);
    expect(replication.conflicts("notes")).toHaveLength(1);
    db.close();
  });
});

describe("a standby's copy, against where the holder began its epoch", () => {
  const from = { device: "nas", epoch: 3, seq: 40, at: 5_000 };
  test("of the snapshot it began from: newer only past it, by number", () => {
    const copy = { holder: "nas", epoch: 3, seq: 40, at: 9_000 };
    expect(copyNewerThan(copy, from)).toBe(false);
    expect(copyNewerThan({ ...copy, seq: 41 }, from)).toBe(true);
    expect(copyNewerThan({ ...copy, seq: 12, at: 1_000 }, from)).toBe(false);
  });

  test("of another holder or epoch, or where it began from no snapshot: newer when taken after", () => {
    expect(copyNewerThan({ holder: "laptop", epoch: 2, seq: 9, at: 6_000 }, from)).toBe(true);
    expect(copyNewerThan({ holder: "laptop", epoch: 2, seq: 9, at: 4_000 }, from)).toBe(false);
    // A backup's data (seq 0): a copy of the same epoch is weighed by when it was taken.
    const restored = { ...from, seq: 0 };
    expect(copyNewerThan({ holder: "nas", epoch: 3, seq: 7, at: 5_500 }, restored)).toBe(true);
    expect(copyNewerThan({ holder: "nas", epoch: 3, seq: 7, at: 4_500 }, restored)).toBe(false);
  });

  test("of a holder that began from nothing known (its holder gone, the app started anew): newer", () => {
    // The laptop holding notes was lost and revoked while the only copy's standby slept:
    // notes started empty elsewhere, and that copy was replaced by its first snapshot.
    expect(copyNewerThan({ holder: "laptop", epoch: 4, seq: 90, at: 1_000 }, null)).toBe(true);
    expect(copyNewerThan({ holder: "laptop", epoch: 4, seq: 90, at: 1_000 }, undefined)).toBe(true);
  });
});
