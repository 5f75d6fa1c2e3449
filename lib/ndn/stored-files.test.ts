import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { type DeviceId, zoneIdFromPublicKey } from "../../protocol/ids.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { signBudget } from "../../protocol/zone-budget.ts";
import { testOwner } from "../state/test-db.ts";
import type { Member, Membership } from "../sync/membership.ts";
import {
  FILES_BUDGET_KEY,
  FILES_PREFIX,
  heldFileOps,
  recordAppObject,
  releaseAppObject,
  storedFileRecords,
  storedFileRow,
  storedFilesBudget,
  summarizeStoredFiles,
} from "./stored-files.ts";

const idOf = (letter: string) => `sha256:${letter.repeat(64)}` as ObjectId;
const zone = zoneIdFromPublicKey(testOwner.publicKey);

/** A state table of the rows given: key → value (null: a deletion), written by `author`. */
function stateOf(rows: Record<string, unknown>, author = "dev-alpha"): Database {
  const db = new Database(":memory:");
  db.run(
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT, hlc_ms INTEGER, hlc_counter INTEGER, author TEXT)",
  );
  db.run("CREATE TABLE node (zone_id TEXT)");
  db.run("INSERT INTO node VALUES (?)", [zone]);
  writeRows(db, rows, author, 1000);
  return db;
}

/** Writes `rows` as `author` did, one after another from `hlcMs` by its clock. */
function writeRows(db: Database, rows: Record<string, unknown>, author: string, hlcMs: number) {
  for (const [counter, [key, value]] of Object.entries(rows).entries())
    db.run("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?)", [
      key,
      typeof value === "string" || value === null ? value : JSON.stringify(value),
      hlcMs,
      counter,
      author,
    ]);
}

/** The owner's budget for stored files, signed. */
const budgetOf = (bytes: number) =>
  signBudget({ key: FILES_BUDGET_KEY, zone, bytes, atMs: 1000, owner: testOwner });

/** What writes to `db` as alpha's node does, each write a millisecond after the last. */
function alphaWriting(db: Database) {
  let hlcMs = 2000;
  return {
    db,
    now: () => hlcMs,
    write(ops: readonly { key: string; value: string | null }[]) {
      writeRows(db, Object.fromEntries(ops.map((op) => [op.key, op.value])), "dev-alpha", ++hlcMs);
    },
  };
}

function membershipOf(names: Record<string, "member" | "revoked">): Membership {
  const byId = new Map<DeviceId, Member>();
  for (const [name, standing] of Object.entries(names))
    byId.set(
      `dev-${name}` as DeviceId,
      {
        id: `dev-${name}`,
        name,
        ...(standing === "revoked" ? { revokedAfterSeq: 1 } : {}),
      } as unknown as Member,
    );
  return { byId, byName: new Map([...byId.values()].map((m) => [m.name, m])) };
}

describe("the zone's stored files", () => {
  test("are within the budget in the order stored; a record with no size a file can have is past it", () => {
    const db = stateOf({
      [`${FILES_PREFIX}${idOf("a")}`]: { size: 60, at: "2026-12-01T00:00:01.000Z", name: "a" },
      [`${FILES_PREFIX}${idOf("b")}`]: { size: 50, at: "2026-12-01T00:00:02.000Z" },
      [`${FILES_PREFIX}${idOf("c")}`]: { size: 40, at: "2026-12-01T00:00:03.000Z" },
      [`${FILES_PREFIX}${idOf("d")}`]: { size: -1, at: "2026-12-01T00:00:00.000Z" },
      [`${FILES_PREFIX}${idOf("e")}`]: "not json",
      [`${FILES_PREFIX}not-an-id`]: { size: 1, at: "x" },
      [FILES_BUDGET_KEY]: budgetOf(100),
    });
    const budget = storedFilesBudget(db, membershipOf({ alpha: "member" }));
    expect(budget.within.map((r) => [r.id, r.storedBy])).toEqual([
      [idOf("a"), "alpha"],
      [idOf("c"), "alpha"],
    ]);
    expect(budget.past.map((r) => r.id).sort()).toEqual([idOf("b"), idOf("d"), idOf("e")].sort());
  });

  test("a member's record, whatever its size and time, pushes only its own files past the budget", () => {
    const budget = 100;
    const db = stateOf({
      [`${FILES_PREFIX}${idOf("a")}`]: { size: 30, at: "2026-12-01T00:00:01.000Z" },
      [`${FILES_PREFIX}${idOf("b")}`]: { size: 30, at: "2026-12-01T00:00:02.000Z" },
      [FILES_BUDGET_KEY]: budgetOf(budget),
    });
    // Of an object nobody holds, the whole budget, said stored first and written with the
    // oldest clock a changeset can carry.
    writeRows(db, { [`${FILES_PREFIX}${idOf("f")}`]: { size: budget, at: "" } }, "dev-mallory", 0);
    const members = membershipOf({ alpha: "member", mallory: "member" });
    const split = storedFilesBudget(db, members);
    expect([split.within.map((r) => r.id), split.past.map((r) => r.id)]).toEqual([
      [idOf("a"), idOf("b")],
      [idOf("f")],
    ]);
    // Many small ones of its own take no more than the share every storing device has (and
    // what the shares leave goes to the device that used least of it).
    writeRows(
      db,
      Object.fromEntries(
        ["1", "2", "3", "4"].map((letter) => [
          `${FILES_PREFIX}${idOf(letter)}`,
          { size: 20, at: "" },
        ]),
      ),
      "dev-mallory",
      0,
    );
    expect(storedFilesBudget(db, members).within.map((r) => r.id)).toEqual([
      idOf("1"),
      idOf("2"),
      idOf("a"),
      idOf("b"),
    ]);
  });

  test("count the copies devices in good standing say they hold", () => {
    const db = stateOf({
      [`${FILES_PREFIX}${idOf("a")}`]: { size: 1, at: "1" },
      [`${FILES_PREFIX}${idOf("b")}`]: { size: 2, at: "2" },
      [`nodes/alpha/files/${idOf("a")}`]: true,
      [`nodes/beta/files/${idOf("a")}`]: true,
      [`nodes/alpha/files/${idOf("b")}`]: true,
      // Revoked: its word counts no more. Deleted: no copy. Of no record: nothing.
      [`nodes/gone/files/${idOf("b")}`]: true,
      [`nodes/beta/files/${idOf("b")}`]: null,
      [`nodes/beta/files/${idOf("z")}`]: true,
    });
    const membership = membershipOf({ alpha: "member", beta: "member", gone: "revoked" });
    expect(summarizeStoredFiles(db, membership)).toEqual({
      files: 2,
      bytes: 3,
      fewerThanTwoCopies: 1,
      pastBudget: 0,
      budgetBytes: 32 * 1024 ** 3,
    });
  });

  test("a device says it holds what is recorded and whole here, and no more what is not", () => {
    const db = stateOf({
      [`${FILES_PREFIX}${idOf("a")}`]: { size: 1, at: "1" },
      [`${FILES_PREFIX}${idOf("b")}`]: { size: 1, at: "2" },
      [`${FILES_PREFIX}${idOf("c")}`]: null,
      [`nodes/alpha/files/${idOf("b")}`]: true,
      [`nodes/alpha/files/${idOf("c")}`]: true,
    });
    const whole = new Set([idOf("a"), idOf("c")]);
    expect(heldFileOps(db, "alpha", (id) => whole.has(id))).toEqual([
      { key: `nodes/alpha/files/${idOf("a")}`, value: "true" },
      { key: `nodes/alpha/files/${idOf("b")}`, value: null },
      { key: `nodes/alpha/files/${idOf("c")}`, value: null },
    ]);
  });

  test("a record's row says whether the zone never stored it, stores it, or let it go when", () => {
    const db = stateOf({
      [`${FILES_PREFIX}${idOf("a")}`]: { size: 1, at: "1" },
      [`${FILES_PREFIX}${idOf("b")}`]: null,
    });
    expect([idOf("a"), idOf("b"), idOf("c")].map((id) => storedFileRow(db, id))).toEqual([
      { kind: "live" },
      { kind: "released", atMs: 1000 },
      { kind: "none" },
    ]);
  });
});

describe("the named data an app stores", () => {
  const APPS = `${FILES_PREFIX}apps/`;

  test("is recorded for each app that stored it, copied and counted as the owner's files are", () => {
    const db = stateOf({
      [`${FILES_PREFIX}${idOf("a")}`]: { size: 10, at: "1", name: "a.txt" },
      [`${APPS}photos/${idOf("b")}`]: { size: 20, at: "2" },
      [`${APPS}notes/${idOf("b")}`]: { size: 20, at: "3" },
      // No app's name, no id, a path beneath: not records.
      [`${APPS}Photos/${idOf("c")}`]: { size: 1, at: "4" },
      [`${APPS}../${idOf("c")}`]: { size: 1, at: "4" },
      [`${APPS}photos/not-an-id`]: { size: 1, at: "4" },
      [`${APPS}photos/${idOf("c")}/more`]: { size: 1, at: "4" },
      [`${APPS}photos`]: { size: 1, at: "4" },
      [`${APPS}notes/${idOf("d")}`]: null,
    });
    expect(storedFileRecords(db).map((r) => [r.id, r.app, r.sizeBytes])).toEqual([
      [idOf("a"), null, 10],
      [idOf("b"), "photos", 20],
      [idOf("b"), "notes", 20],
    ]);
    const membership = membershipOf({ alpha: "member" });
    expect(new Set(storedFilesBudget(db, membership).within.map((r) => r.id))).toEqual(
      new Set([idOf("a"), idOf("b")]),
    );
    // One file for both apps, counted once.
    expect(summarizeStoredFiles(db, membership).files).toBe(2);
    expect(heldFileOps(db, "alpha", () => true)).toEqual([
      { key: `nodes/alpha/files/${idOf("a")}`, value: "true" },
      { key: `nodes/alpha/files/${idOf("b")}`, value: "true" },
    ]);
  });

  test("takes only what the owner's files leave of the budget, each app its own share", () => {
    const db = stateOf({
      [FILES_BUDGET_KEY]: budgetOf(100),
      [`${APPS}photos/${idOf("1")}`]: { size: 50, at: "1" },
      [`${APPS}photos/${idOf("2")}`]: { size: 50, at: "2" },
      [`${APPS}notes/${idOf("3")}`]: { size: 20, at: "3" },
    });
    // The owner's files come first, stored after, from another device.
    writeRows(db, { [`${FILES_PREFIX}${idOf("a")}`]: { size: 60, at: "4" } }, "dev-beta", 2000);
    const split = storedFilesBudget(db, membershipOf({ alpha: "member", beta: "member" }));
    // 40 left: notes' 20 fits a share of 20, photos' 50s fit none.
    expect(split.within.map((r) => [r.id, r.app])).toEqual([
      [idOf("3"), "notes"],
      [idOf("a"), null],
    ]);
    expect(split.past.map((r) => r.id)).toEqual([idOf("1"), idOf("2")]);
    // An object the owner's files keep takes no more of it.
    writeRows(db, { [`${APPS}photos/${idOf("a")}`]: { size: 60, at: "5" } }, "dev-alpha", 3000);
    expect(storedFilesBudget(db).within.map((r) => [r.id, r.app])).toEqual([
      [idOf("3"), "notes"],
      [idOf("a"), null],
      [idOf("a"), "photos"],
    ]);
  });

  test("is said within the budget or not alike, whether every record fits or not; a size lied below zero frees none", () => {
    const db = stateOf({
      [FILES_BUDGET_KEY]: budgetOf(100),
      [`${FILES_PREFIX}${idOf("a")}`]: { size: 60, at: "2026-12-01T00:00:01.000Z" },
      [`${FILES_PREFIX}${idOf("d")}`]: { size: -1000, at: "2026-12-01T00:00:02.000Z" },
    });
    const zoneOf = alphaWriting(db);
    const store = (letter: string) =>
      recordAppObject(zoneOf, "alpha", "photos", { id: idOf(letter), sizeBytes: 30 }).withinBudget;
    expect(store("b")).toBe(true);
    expect(store("c")).toBe(false);
    expect(
      storedFilesBudget(db)
        .within.map((record) => record.id)
        .sort(),
    ).toEqual([idOf("a"), idOf("b")]);
  });

  test("is past the budget when a size written as 1e2, or twice, takes it: read as the budget reads it", () => {
    for (const said of ['{"size":1e2,"at":"x"}', '{"size":0,"size":100,"at":"x"}']) {
      const db = stateOf({
        [FILES_BUDGET_KEY]: budgetOf(100),
        [`${FILES_PREFIX}${idOf("a")}`]: said,
      });
      expect(
        recordAppObject(alphaWriting(db), "alpha", "photos", { id: idOf("b"), sizeBytes: 30 }),
      ).toEqual({
        withinBudget: false,
      });
    }
  });

  test("is recorded once, held here; one app letting it go leaves another's record", () => {
    const db = stateOf({});
    const written: unknown[][] = [];
    const zoneOf = {
      db,
      now: () => Date.parse("2026-12-02T00:00:00.000Z"),
      write(ops: readonly { key: string; value: string | null }[]) {
        written.push([...ops]);
        writeRows(db, Object.fromEntries(ops.map((op) => [op.key, op.value])), "dev-alpha", 2000);
      },
    };
    const object = { id: idOf("b"), sizeBytes: 20 };
    recordAppObject(zoneOf, "alpha", "photos", object);
    expect(written).toEqual([
      [
        { key: `${APPS}photos/${idOf("b")}`, value: '{"size":20,"at":"2026-12-02T00:00:00.000Z"}' },
        { key: `nodes/alpha/files/${idOf("b")}`, value: "true" },
      ],
    ]);
    recordAppObject(zoneOf, "alpha", "photos", object);
    expect(written).toHaveLength(1);
    recordAppObject(zoneOf, "alpha", "notes", object);
    expect(written.at(-1)).toEqual([
      { key: `${APPS}notes/${idOf("b")}`, value: '{"size":20,"at":"2026-12-02T00:00:00.000Z"}' },
    ]);
    expect(releaseAppObject(zoneOf, "photos", idOf("b"))).toBe(true);
    expect(releaseAppObject(zoneOf, "photos", idOf("b"))).toBe(false);
    expect(written).toHaveLength(3);
    expect(storedFileRecords(db).map((r) => [r.id, r.app])).toEqual([[idOf("b"), "notes"]]);
    expect(releaseAppObject(zoneOf, "notes", idOf("b"))).toBe(true);
    expect(storedFileRecords(db)).toEqual([]);
  });
});
