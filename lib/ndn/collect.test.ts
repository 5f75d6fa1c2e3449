import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { encodePackage } from "../../protocol/app-package.ts";
import {
  CHUNK_BYTES,
  type ChunkListId,
  chunkIdOf,
  type ObjectId,
  parseObjectId,
} from "../../protocol/ndn.ts";
import { FILES_BUDGET_KEY, PUBLIC_BUDGET_KEY, signBudget } from "../../protocol/zone-budget.ts";
import { appKeys } from "../apps/spec.ts";
import { testSpec } from "../apps/test-spec.ts";
import { createLog } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, type TestNode, testOwner } from "../state/test-db.ts";
import { openStateDb } from "../store/db.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { collectGarbage, liveObjects, referrers } from "./collect.ts";
import { pin, unpin } from "./pins.ts";
import { builtInRoots } from "./roots.ts";
import { ObjectStore } from "./store.ts";

// In memory where it can be: the collector removes thousands of files here.
const dir = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-collect-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet = createLog({ level: "silent" });
const DAY = 24 * 3_600_000;
let stores = 0;

function setUp(): { node: TestNode; store: ObjectStore } {
  const node = openTestNode(50 + stores);
  return { node, store: new ObjectStore(join(dir, `ndn-${++stores}`)) };
}

/** The spec of an app whose current package is `id` (and `previous` before it). */
function install(node: TestNode, app: string, id: ObjectId, previous?: ObjectId) {
  appendLocalChangeset(
    node.db,
    { zone: node.zone, name: "d", key: node.key, seal: node.seal },
    [
      {
        key: appKeys.spec(app),
        value: JSON.stringify(
          testSpec(app, { package: id, ...(previous ? { previousPackage: previous } : {}) }),
        ),
      },
    ],
    1000,
  );
}

function collect(node: TestNode, store: ObjectStore, nowMs: number) {
  return collectGarbage({
    db: node.db,
    store,
    roots: builtInRoots(node.db),
    nowMs,
    graceMs: DAY,
    log: quiet,
  });
}

const bytes = (text: string) => new TextEncoder().encode(text);
const packageOf = (text: string) =>
  encodePackage([{ path: "main.ts", executable: false, bytes: bytes(text) }]);

describe("named data collection", () => {
  test("what nothing refers to goes after a day; what the owner stored and apps use stays", async () => {
    const { node, store } = setUp();
    await collect(node, store, 0); // the first collection on an empty store
    const photo = store.putBytes(bytes("a photo")).id;
    pin(node.db, photo, "photo.jpg", 1);
    const current = store.putBytes(packageOf("v2")).id;
    const previous = store.putBytes(packageOf("v1")).id;
    const older = store.putBytes(packageOf("v0")).id;
    install(node, "notes", current, previous);
    const stray = store.putBytes(bytes("nobody's")).id;
    // A large file: its list and every chunk of it kept by the one pin.
    const large = store.putBytes(new Uint8Array(CHUNK_BYTES + 10).fill(7));
    pin(node.db, large.id, "large.bin", 1);

    expect(await collect(node, store, 10)).toEqual({ removed: 0, removedBytes: 0, waiting: 2 });
    expect((await collect(node, store, 10 + DAY - 1)).removed).toBe(0);
    const collected = await collect(node, store, 10 + DAY);
    expect(collected.removed).toBe(2);
    const left = new Set(store.objects());
    expect([photo, current, previous, large.id].every((id) => left.has(id))).toBe(true);
    expect(left.has(older) || left.has(stray)).toBe(false);
    expect(left.size).toBe(4 + 2); // and the two chunks of the large file

    // Released, it waits its day too.
    expect(unpin(node.db, photo)).toBe(true);
    await collect(node, store, 20 + DAY);
    expect(existsSync(store.pathOf(photo))).toBe(true);
    await collect(node, store, 20 + 2 * DAY);
    expect(existsSync(store.pathOf(photo))).toBe(false);
  });

  test("a public object is kept while within the zone's budget for public files, and goes a day after it is past it", async () => {
    const { node, store } = setUp();
    await collect(node, store, 0);
    const first = store.putBytes(bytes("made public first")).id;
    const second = store.putBytes(bytes("made public second")).id;
    const record = (at: string) => JSON.stringify({ size: 18, at });
    const writer = { zone: node.zone, name: "d", key: node.key, seal: node.seal };
    // Made public in turn, the second saying an earlier time: the order is the state's.
    appendLocalChangeset(
      node.db,
      writer,
      [{ key: `system/public/${first}`, value: record("2026-12-01T00:00:02.000Z") }],
      1000,
    );
    appendLocalChangeset(
      node.db,
      writer,
      [
        { key: `system/public/${second}`, value: record("2026-12-01T00:00:01.000Z") },
        // Room for one of them: the one made public first.
        {
          key: "system/public-budget",
          value: JSON.stringify(
            signBudget({
              key: PUBLIC_BUDGET_KEY,
              zone: node.zone,
              bytes: 30,
              atMs: 1000,
              owner: testOwner,
            }),
          ),
        },
      ],
      1001,
    );
    await collect(node, store, 1);
    await collect(node, store, 1 + DAY);
    expect([existsSync(store.pathOf(first)), existsSync(store.pathOf(second))]).toEqual([
      true,
      false,
    ]);
  });

  test("an app's object past the budget for stored files stays on the device that stored it", async () => {
    const { node, store } = setUp();
    await collect(node, store, 0);
    const first = store.putBytes(bytes("an app's first object")).id;
    const second = store.putBytes(bytes("an app's next object")).id;
    const record = (size: number) => JSON.stringify({ size, at: "2026-12-02T00:00:00.000Z" });
    appendLocalChangeset(
      node.db,
      { zone: node.zone, name: "d", key: node.key, seal: node.seal },
      [
        { key: `system/files/apps/photos/${first}`, value: record(21) },
        { key: `system/files/apps/photos/${second}`, value: record(20) },
        // Room for one of them: no other device copies the second, so this one keeps it.
        {
          key: FILES_BUDGET_KEY,
          value: JSON.stringify(
            signBudget({
              key: FILES_BUDGET_KEY,
              zone: node.zone,
              bytes: 30,
              atMs: 1000,
              owner: testOwner,
            }),
          ),
        },
      ],
      1000,
    );
    await collect(node, store, 1);
    await collect(node, store, 1 + DAY);
    expect([existsSync(store.pathOf(first)), existsSync(store.pathOf(second))]).toEqual([
      true,
      true,
    ]);
  });

  test("an object referred to again before its day is over stays", async () => {
    const { node, store } = setUp();
    await collect(node, store, 0);
    const file = store.putBytes(bytes("released by mistake")).id;
    await collect(node, store, 1);
    pin(node.db, file, "again", 2);
    await collect(node, store, 3);
    unpin(node.db, file);
    // Its day starts again from when it was found unreferenced the second time.
    await collect(node, store, 4 + DAY - 2);
    expect(existsSync(store.pathOf(file))).toBe(true);
  });

  test("an object gone from the store and stored again gets its whole day again", async () => {
    const { node, store } = setUp();
    await collect(node, store, 0);
    const file = store.putBytes(bytes("removed by hand")).id;
    await collect(node, store, 1); // noted unreferenced
    store.remove(file);
    pin(node.db, file, "asked for again", 2);
    await collect(node, store, 3); // named again, though not here
    store.putBytes(bytes("removed by hand"));
    unpin(node.db, file);
    await collect(node, store, 1 + DAY); // found unreferenced afresh
    await collect(node, store, 1 + DAY + 1);
    expect(existsSync(store.pathOf(file))).toBe(true);
  });

  test("the first collection keeps, as the owner's, what was stored before (app packages aside)", async () => {
    const { node, store } = setUp();
    const stored = store.putBytes(bytes("put before references were counted")).id;
    const oldPackage = store.putBytes(packageOf("an old version")).id;
    await collect(node, store, 0);
    await collect(node, store, 2 * DAY);
    expect(existsSync(store.pathOf(stored))).toBe(true);
    expect(existsSync(store.pathOf(oldPackage))).toBe(false);
  });
});

/** A store that runs `onWalk` once, as the collector begins to list its objects. */
class WalkedStore extends ObjectStore {
  onWalk: (() => void) | undefined;

  override *objects(): Generator<ObjectId> {
    const onWalk = this.onWalk;
    this.onWalk = undefined;
    onWalk?.();
    yield* super.objects();
  }
}

/** `count` objects nothing names, found unreferenced at 1 (so past their grace at 1 + DAY). */
async function strays(node: TestNode, store: ObjectStore, count: number): Promise<ObjectId[]> {
  await collect(node, store, 0);
  // Written straight to their paths: the store's own writes wait on the disk for each.
  const ids = Array.from({ length: count }, (_, i) => {
    const chunk = bytes(`stray ${i}`);
    const id = chunkIdOf(chunk);
    mkdirSync(dirname(store.pathOf(id)), { recursive: true });
    writeFileSync(store.pathOf(id), chunk);
    return id;
  });
  await collect(node, store, 1);
  return ids;
}

describe("a collection under way", () => {
  test("lets the event loop turn in the middle of its removals", async () => {
    const { node, store } = setUp();
    const ids = await strays(node, store, 3_000);
    let settled = false;
    const collecting = collect(node, store, 1 + DAY).finally(() => {
      settled = true;
    });
    // Timers run while it is under way: once some of the strays are gone, not all.
    const seen = await new Promise<number>((resolve) => {
      const look = () => {
        const gone = ids.filter((id) => !existsSync(store.pathOf(id))).length;
        if (settled || gone > 0) resolve(settled ? -1 : gone);
        else setTimeout(look, 0);
      };
      setTimeout(look, 0);
    });
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(ids.length);
    expect((await collecting).removed).toBe(ids.length);
  });

  test("ends at its next step when the daemon stops, and the next one carries on", async () => {
    const { node, store } = setUp();
    const ids = await strays(node, store, 3_000);
    let stopping = false;
    setTimeout(() => {
      stopping = true;
    }, 0);
    const stopped = await collectGarbage({
      db: node.db,
      store,
      roots: builtInRoots(node.db),
      nowMs: 1 + DAY,
      graceMs: DAY,
      log: quiet,
      stopping: () => stopping,
    });
    expect(stopped.removed).toBeLessThan(ids.length);
    const rest = await collect(node, store, 1 + DAY);
    expect(stopped.removed + rest.removed).toBe(ids.length);
    expect(ids.some((id) => existsSync(store.pathOf(id)))).toBe(false);
  });

  test("keeps what is pinned while it walks the store, by this connection or another", async () => {
    for (const by of ["this connection", "another process"]) {
      const node = openTestNode(80 + stores);
      const store = new WalkedStore(join(dir, `ndn-${++stores}`));
      const [first, second, third] = await strays(node, store, 3);
      const other = openStateDb(node.db.$client.filename, { create: false });
      store.onWalk = () =>
        pin(by === "this connection" ? node.db : other, second as ObjectId, "again", 2);
      expect([by, (await collect(node, store, 1 + DAY)).removed]).toEqual([by, 2]);
      expect([first, second, third].map((id) => existsSync(store.pathOf(id as ObjectId)))).toEqual([
        false,
        true,
        false,
      ]);
      other.$client.close();
    }
  });

  test("keeps what another process pins just as one of its own steps commits", async () => {
    const node = openTestNode(95);
    const store = new ObjectStore(join(dir, `ndn-${++stores}`));
    const [first, second, third] = await strays(node, store, 3);
    const other = openStateDb(node.db.$client.filename, { create: false });
    // The other process commits the moment the collector's first transaction of this run
    // has (its notes), before the collector looks at what changed.
    let pinAfter: (() => void) | undefined = () => pin(other, second as ObjectId, "again", 2);
    const db = new Proxy(node.db, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (property !== "transaction")
          return typeof value === "function" ? value.bind(target) : value;
        return (...args: Parameters<typeof target.transaction>) => {
          const result = target.transaction(...args);
          const after = pinAfter;
          pinAfter = undefined;
          after?.();
          return result;
        };
      },
    });
    const collected = await collectGarbage({
      db,
      store,
      roots: builtInRoots(node.db),
      nowMs: 1 + DAY,
      graceMs: DAY,
      log: quiet,
    });
    expect(pinAfter).toBeUndefined();
    expect(collected.removed).toBe(2);
    expect([first, second, third].map((id) => existsSync(store.pathOf(id as ObjectId)))).toEqual([
      false,
      true,
      false,
    ]);
    other.$client.close();
  });

  test("keeps the chunks of a list stored while it walks, when a root names that list", async () => {
    const node = openTestNode(90);
    const store = new WalkedStore(join(dir, `ndn-${++stores}`));
    await collect(node, store, 0);
    // A large file's two chunks, left when its list was lost; the list is named again.
    const large = new Uint8Array(CHUNK_BYTES + 10).fill(5);
    const scratch = new ObjectStore(join(dir, `ndn-${++stores}`));
    const list = scratch.putBytes(large).id;
    const listBytes = scratch.listBytes(parseObjectId(list)?.id as ChunkListId) as Uint8Array;
    store.putBytes(large.subarray(0, CHUNK_BYTES));
    store.putBytes(large.subarray(CHUNK_BYTES));
    await collect(node, store, 1);
    pin(node.db, list, "large.bin", 2);
    // The list comes back (fetched from another device) as the collector walks.
    store.onWalk = () => store.writeListBytes(parseObjectId(list)?.id as ChunkListId, listBytes);
    expect((await collect(node, store, 1 + DAY)).removed).toBe(0);
    expect(store.readObject(list)).toEqual(large);
  });
});

describe("what keeps an object, as bucky rm says it", () => {
  test("a chunk of a list a root names is kept by that root, as the collector keeps it", async () => {
    const { node, store } = setUp();
    const large = store.putBytes(new Uint8Array(CHUNK_BYTES + 10).fill(7)).id;
    // A file that is, byte for byte, the large file's first chunk.
    const small = store.putBytes(new Uint8Array(CHUNK_BYTES).fill(7)).id;
    pin(node.db, large, "large.bin", 1);
    pin(node.db, small, "small.bin", 1);
    unpin(node.db, small);
    const roots = builtInRoots(node.db);
    expect(liveObjects(store, roots).has(small)).toBe(true);
    expect(referrers(store, roots, small)).toEqual(["put"]);
    expect(referrers(store, roots, store.putBytes(bytes("nobody's")).id)).toEqual([]);
  });
});
