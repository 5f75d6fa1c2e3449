/**
 * A write that lands while the holder takes a snapshot: whether or not the snapshot caught
 * it, the standbys end up with it, and the holder says so (a standby that has it is not
 * reported as holding only what was written before the write).
 */
import { Database } from "bun:sqlite";
import { afterAll, afterEach, describe, expect, spyOn, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLog } from "../log.ts";
import { materialize } from "./materialize.ts";
import { ReplicaDb, type ReplicaHead } from "./replica-db.ts";
import * as snapshot from "./snapshot.ts";
import { ReplicaSource, type StandbyLag } from "./source.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-source-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/**
 * A holder of the notes app's data as the fixture keeps it (SQLite in WAL mode), its
 * snapshots taken when the test says (no timer), on a clock that moves only when told.
 */
function holder(name: string) {
  const dataDir = join(scratch, name, "data");
  mkdirSync(join(dataDir, "db"), { recursive: true });
  const notes = new Database(join(dataDir, "db", "notes.db"), { create: true });
  notes.run("PRAGMA journal_mode = WAL");
  notes.run("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)");
  const db = new ReplicaDb(join(scratch, name, "replica", "replica.db"));
  let clockMs = Date.now();
  const options = {
    app: "notes",
    epoch: 1,
    device: "nas",
    db,
    dataDir,
    replicaDir: join(scratch, name, "replica"),
    log: createLog({ level: "silent" }),
    now: () => clockMs,
  };
  const source = new ReplicaSource(options);
  cleanups.push(() => {
    notes.close();
    db.close();
  });
  return {
    source,
    /** What the source was made with: another made with them is the holder restarted. */
    options,
    /** Writes a note; when it was written (its commit is done by then). */
    write(text: string): number {
      clockMs += 100;
      notes.run("INSERT INTO notes (text) VALUES (?)", [text]);
      return clockMs;
    },
    /** Time passing until the next snapshot. */
    tick(ms = 1_000): void {
      clockMs += ms;
    },
    /** The notes a standby holding snapshot `head` has. */
    notesIn(head: ReplicaHead): string[] {
      const target = join(scratch, name, `copy-${head.seq}`);
      materialize(db, head.root, target);
      const copy = new Database(join(target, "db", "notes.db"), { readonly: true });
      try {
        return (copy.query("SELECT text FROM notes ORDER BY id").all() as { text: string }[]).map(
          (row) => row.text,
        );
      } finally {
        copy.close();
      }
    },
    /** A standby fetches the newest snapshot whole and says so. */
    standbyFetches(): ReplicaHead {
      const head = source.head() as ReplicaHead;
      source.acknowledge("standby", head.epoch, head.seq, head.at);
      return head;
    },
  };
}

/** Runs `during` once, inside the next snapshot, before (or after) its data is read. */
function duringNextSnapshot(when: "before reading" | "after reading", during: () => void): void {
  const take = snapshot.takeSnapshot;
  let done = false;
  const spy = spyOn(snapshot, "takeSnapshot").mockImplementation(async (options) => {
    if (done) return take(options);
    done = true;
    if (when === "before reading") during();
    const head = await take(options);
    if (when === "after reading") during();
    return head;
  });
  cleanups.push(() => spy.mockRestore());
}

describe("a holder whose data stays as it is", () => {
  test("each look that finds it unchanged: its snapshot holds every write until that look", async () => {
    const nas = holder("idle");
    nas.write("only");
    const head = (await nas.source.snapshot()) as ReplicaHead;
    // The first look may be too close to the write to settle anything; the later ones do,
    // ten seconds at a time (the facts that say it are not signed anew at every look).
    const heldAfter = async (ms: number) => {
      nas.tick(ms);
      expect((await nas.source.snapshot())?.seq ?? head.seq).toBe(head.seq);
      return nas.source.heldAt();
    };
    const first = (await heldAfter(1_000)) as number;
    expect(await heldAfter(1_000)).toBe(first);
    expect(await heldAfter(9_000)).toBe(first + 10_000);
    expect(await heldAfter(20_000)).toBe(first + 30_000);
    // Before, only a look that found files touched moved it: idle a day, "a day of writes lost".
    expect(nas.source.head()?.seq).toBe(head.seq);
  });
});

describe("a blob of the holder's replica found damaged", () => {
  test("dropped, is put back by the next look, though the data did not change", async () => {
    const nas = holder("rotted");
    nas.write("only");
    writeFileSync(join(nas.options.dataDir, "readme.txt"), "a file the app wrote once");
    const head = (await nas.source.snapshot()) as ReplicaHead;
    // Settled: a look too close to the writes settles nothing, the next finds it unchanged.
    nas.tick(5_000);
    await nas.source.snapshot();
    nas.tick(5_000);
    expect(await nas.source.snapshot()).toBeUndefined();
    // Every blob of the head, rotted one at a time: the readme's is the one here.
    const blobs = new Database(join(nas.options.replicaDir, "replica.db"));
    const ids = (blobs.query("SELECT id FROM blobs").all() as { id: string }[]).map((r) => r.id);
    const rotted = ids.find((id) => {
      const bytes = nas.options.db.get(id) as Uint8Array;
      return new TextDecoder().decode(bytes) === "a file the app wrote once";
    }) as string;
    blobs.run("UPDATE blobs SET bytes = ?1 WHERE id = ?2", [new Uint8Array([1, 2, 3]), rotted]);
    blobs.close();
    expect(() => nas.options.db.get(rotted)).toThrow("is damaged");
    // As the holder does when a standby asks for it: dropped, and the data read again.
    nas.options.db.drop(rotted);
    nas.source.readAgain();
    nas.tick(5_000);
    await nas.source.snapshot();
    expect(new TextDecoder().decode(nas.options.db.get(rotted))).toBe("a file the app wrote once");
    expect(nas.source.head()?.content).toBe(head.content);
  });
});

describe("a write while the holder takes a snapshot", () => {
  test("caught by that snapshot: the standby that has it is caught up as of a time after the write", async () => {
    const nas = holder("caught");
    nas.write("first");
    await nas.source.snapshot();
    nas.tick();
    // Written after the snapshot looked for changes, before it read the data.
    let writtenAt = 0;
    duringNextSnapshot("before reading", () => {
      writtenAt = nas.write("second");
    });
    // Written before it: what has the snapshot taken at all.
    nas.write("first, edited");
    await nas.source.snapshot();
    const shipped = nas.standbyFetches();
    expect(nas.notesIn(shipped)).toEqual(["first", "first, edited", "second"]);
    // The next look finds the data changed since the last look, but not since the snapshot.
    nas.tick();
    expect(await nas.source.snapshot()).toEqual(shipped);
    const position = nas.source.positions().get("standby");
    expect(position?.lagMs).toBe(0);
    expect(position?.at).toBeGreaterThanOrEqual(writtenAt);
    // The holder says the same of its own snapshot: taken before, holding all since.
    expect(shipped.at).toBeLessThan(position?.at as number);
    expect(nas.source.heldAt()).toBe(position?.at as number);
  });

  test("not caught by that snapshot: the next one ships it, and the standby lags until it has it", async () => {
    const nas = holder("missed");
    nas.write("first");
    await nas.source.snapshot();
    nas.tick();
    // Written after the snapshot read the data, before it was done.
    let writtenAt = 0;
    duringNextSnapshot("after reading", () => {
      writtenAt = nas.write("second");
    });
    // Written before it: what has the snapshot taken at all.
    nas.write("first, edited");
    await nas.source.snapshot();
    const before = nas.standbyFetches();
    expect(nas.notesIn(before)).toEqual(["first", "first, edited"]);
    nas.tick();
    const next = (await nas.source.snapshot()) as ReplicaHead;
    expect(next.seq).toBe(before.seq + 1);
    expect(nas.notesIn(next)).toEqual(["first", "first, edited", "second"]);
    // Until the standby has it, it is behind by the time since its snapshot.
    const lagging = nas.source.positions().get("standby");
    expect(lagging?.at).toBeLessThan(writtenAt);
    expect(lagging?.lagMs).toBeGreaterThan(0);
    nas.standbyFetches();
    const caughtUp = nas.source.positions().get("standby");
    expect(caughtUp?.lagMs).toBe(0);
    expect(caughtUp?.at).toBeGreaterThanOrEqual(writtenAt);
  });
});

describe("data no snapshot can hold", () => {
  test("a name that is not UTF-8 is said once, for each set of such names, in the holder's log", async () => {
    const nas = holder("latin1");
    const warned: string[] = [];
    const source = new ReplicaSource({
      ...nas.options,
      log: createLog({ level: "warn", write: (line) => warned.push(line) }),
    });
    const latin1Path = (name: string) =>
      Buffer.concat([Buffer.from(`${nas.options.dataDir}/`), Buffer.from(name, "latin1")]);
    writeFileSync(latin1Path("café.txt"), "kept nowhere");
    nas.write("first");
    await source.snapshot();
    nas.tick();
    nas.write("second");
    await source.snapshot();
    expect(warned).toEqual([expect.stringContaining("app data not replicated: names not UTF-8")]);
    expect(warned[0]).toContain("count=1");
    writeFileSync(latin1Path("naïve.txt"), "nor this");
    nas.tick();
    nas.write("third");
    await source.snapshot();
    expect(warned.length).toBe(2);
    expect(warned[1]).toContain("count=2");
  });
});

describe("a standby asking for news", () => {
  test("of the holder's newest snapshot: a holder that forgot its position knows it again", async () => {
    const nas = holder("asked");
    nas.write("first");
    const head = (await nas.source.snapshot()) as ReplicaHead;
    expect(nas.source.positions().get("standby")).toBeUndefined();
    expect(nas.source.asked("standby", { epoch: head.epoch, seq: head.seq })).toBe(true);
    expect(nas.source.positions().get("standby")).toMatchObject({ seq: head.seq, lagMs: 0 });
    // Said again, it is nothing new.
    expect(nas.source.asked("standby", { epoch: head.epoch, seq: head.seq })).toBe(false);
  });

  test("with nothing new, waits its time out, and leaves nothing of it behind", async () => {
    const nas = holder("idle-asks");
    nas.write("first");
    const head = (await nas.source.snapshot()) as ReplicaHead;
    // An idle app's standby asks every few seconds; each ask stayed until the next head.
    for (let ask = 0; ask < 3; ask++)
      expect(await nas.source.nextHead({ epoch: head.epoch, seq: head.seq }, 1)).toBeUndefined();
    expect(nas.source.waiting).toBe(0);
    // One still waiting is woken by the next head, and gone too.
    const waiting = nas.source.nextHead({ epoch: head.epoch, seq: head.seq }, 60_000);
    expect(nas.source.waiting).toBe(1);
    nas.write("second");
    await nas.source.snapshot();
    expect((await waiting)?.seq).toBe(head.seq + 1);
    expect(nas.source.waiting).toBe(0);
  });

  test("asked at once after a move's last snapshot, with the app written to since: a snapshot of it, not 'nothing newer'", async () => {
    const nas = holder("ran-again");
    nas.write("before the move");
    const last = (await nas.source.snapshot(true)) as ReplicaHead;
    const after = { epoch: last.epoch, seq: last.seq };
    // Nothing written since: that last snapshot is the newest, and the move may arrive.
    expect(await nas.source.newestNow(after)).toBeUndefined();
    // The move called off, the app runs here again and writes before its next snapshot.
    nas.tick();
    nas.write("after the move was called off");
    const newer = (await nas.source.newestNow(after)) as ReplicaHead;
    expect(newer.seq).toBe(last.seq + 1);
    expect(nas.notesIn(newer)).toEqual(["before the move", "after the move was called off"]);
  });

  test("is not needed by a holder restarted: it knows each standby's position at once", async () => {
    const nas = holder("restarted");
    nas.write("first");
    await nas.source.snapshot();
    const head = nas.standbyFetches();
    const before = nas.source.positions().get("standby");
    expect(before).toMatchObject({ seq: head.seq, lagMs: 0 });
    // The daemon restarted: a new source over the same replica, the data unchanged.
    const again = new ReplicaSource({ ...nas.options, log: createLog({ level: "silent" }) });
    expect(again.positions().get("standby")).toEqual(before as StandbyLag);
    // Of another epoch (the data taken over, and back), it knows none.
    expect(new ReplicaSource({ ...nas.options, epoch: 2 }).positions().size).toBe(0);
    // Kept positions not of the shape it writes (a damaged replica) are passed over.
    for (const kept of ["not json", "[]", '{"standby": {"epoch": 1, "seq": "1"}}', "null"]) {
      nas.options.db.setMeta("standbys", kept);
      expect(new ReplicaSource(nas.options).positions().size).toBe(0);
    }
  });

  test("of an older snapshot, or none: no position is made up for it", async () => {
    const nas = holder("asked-older");
    nas.write("first");
    await nas.source.snapshot();
    nas.tick();
    nas.write("second");
    const head = (await nas.source.snapshot()) as ReplicaHead;
    expect(nas.source.asked("standby", { epoch: head.epoch, seq: head.seq - 1 })).toBe(false);
    expect(nas.source.asked("standby", { epoch: 0, seq: 0 })).toBe(false);
    expect(nas.source.positions().get("standby")).toBeUndefined();
  });
});

describe("a standby's acknowledgement", () => {
  test("is timed as the holder took the snapshot, not as the standby says", async () => {
    const nas = holder("ack-time");
    nas.write("first");
    const first = (await nas.source.snapshot()) as ReplicaHead;
    nas.tick();
    nas.write("second");
    await nas.source.snapshot();
    nas.tick();
    // Behind by one snapshot, it says its copy is from a year ahead: it is still behind.
    nas.source.acknowledge("standby", first.epoch, first.seq, first.at + 365 * 86_400_000);
    const position = nas.source.positions().get("standby");
    expect(position?.at).toBe(first.at);
    expect(position?.lagMs).toBeGreaterThan(0);
  });

  test("of a snapshot not taken, or of another epoch, makes no position", async () => {
    const nas = holder("ack-unknown");
    nas.write("first");
    const head = (await nas.source.snapshot()) as ReplicaHead;
    nas.source.acknowledge("ahead", head.epoch, head.seq + 1, head.at);
    nas.source.acknowledge("elsewhen", head.epoch + 1, 1, head.at);
    expect([...nas.source.positions().keys()]).toEqual([]);
  });
});
