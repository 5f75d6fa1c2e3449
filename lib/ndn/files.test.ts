/**
 * `bucky put` keeps what it pinned: an object it found stored already, and so did not
 * write, may be removed by the daemon's collection before the pin commits.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHUNK_BYTES, type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import { openTestNode } from "../state/test-db.ts";
import { storeKept } from "./files.ts";
import { ObjectStore, type StoredObject } from "./store.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A store whose first store of a file is followed by a collection removing `part` of it. */
class CollectedMeanwhile extends ObjectStore {
  private stores = 0;

  constructor(
    root: string,
    private readonly part: (stored: StoredObject, store: ObjectStore) => ObjectId,
  ) {
    super(root);
  }

  override putFile(path: string): StoredObject {
    const stored = super.putFile(path);
    if (this.stores++ === 0) this.remove(this.part(stored, this));
    return stored;
  }
}

const chunkOf = (stored: StoredObject, store: ObjectStore, index: number): ObjectId => {
  const parsed = parseObjectId(stored.id);
  if (parsed?.kind !== "list") throw new Error("a list was expected");
  return store.readList(parsed.id)?.chunks[index] as ObjectId;
};

test.each([
  ["one chunk, removed", 1000, (stored: StoredObject) => stored.id],
  [
    "a list, one of its chunks removed",
    CHUNK_BYTES + 10,
    (s: StoredObject, store: ObjectStore) => chunkOf(s, store, 1),
  ],
  ["a list, the list removed", CHUNK_BYTES + 10, (stored: StoredObject) => stored.id],
] as const)("what a collection removed before the pin is stored again: %s", (_, size, part) => {
  const node = openTestNode(70);
  const file = join(dir, `file-${size}-${Math.random()}`);
  writeFileSync(
    file,
    new Uint8Array(size).map((_, i) => i % 251),
  );
  const store = new CollectedMeanwhile(join(dir, `ndn-${Math.random()}`), part);
  const stored = storeKept(store, node.db, file, Date.now());
  expect(store.holdsWhole(stored.id)).toBe(true);
  expect(store.readObject(stored.id)?.length).toBe(size);
});
