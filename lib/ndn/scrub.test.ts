/**
 * The store's scrub: a round reads its share of the store from where the last one ended
 * (kept across starts), sets a damaged object aside, and has the keepers look again.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChunkId } from "../../protocol/ndn.ts";
import { createLog } from "../log.ts";
import { StoreScrub } from "./scrub.ts";
import { ObjectStore } from "./store.ts";

const root = mkdtempSync(join(tmpdir(), "bucky-scrub-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const quiet = createLog({ level: "silent" });

test("rounds go through the store a share at a time, from where the last ended, and find what rotted", async () => {
  const store = new ObjectStore(mkdtempSync(join(root, "store-")));
  // Ten chunks of 1000 bytes; a round reads at most 3000 of them.
  const ids = Array.from(
    { length: 10 },
    (_, index) => store.putBytes(new Uint8Array(1000).fill(index)).id as ChunkId,
  );
  // The eighth in the scrub's order (of ids): read in the third round.
  const rotten = [...ids].sort()[7] as ChunkId;
  const held = readFileSync(store.chunkPath(rotten));
  held[0] = 99;
  writeFileSync(store.chunkPath(rotten), held);
  const scrubs = () => new StoreScrub(store, quiet, { everyMs: 60_000, bytesPerRound: 3000 });
  const rounds = [];
  for (let round = 0; round < 4; round++) {
    const told = new Promise<void>((resolve) => store.onMaybeLost(resolve));
    // A new scrub each round, as after a restart: where it is comes from the store.
    rounds.push(await scrubs().round());
    await told;
  }
  expect(rounds).toEqual([
    { checked: 3, bytes: 3000, damaged: 0 },
    { checked: 3, bytes: 3000, damaged: 0 },
    // The rotten one is read as damaged (no bytes), so this round reads one more.
    { checked: 4, bytes: 3000, damaged: 1 },
    // The rest of the store, then back to its start.
    { checked: 0, bytes: 0, damaged: 0 },
  ]);
  expect(store.hasChunk(rotten)).toBe(false);
  expect(ids.filter((id) => store.hasChunk(id))).toHaveLength(9);
  expect((await scrubs().round()).checked).toBe(3);
});

test("an object the disk will not read is said, and the round goes on: the daemon runs on", async () => {
  const store = new ObjectStore(mkdtempSync(join(root, "unreadable-")));
  const ids = [1, 2].map((fill) => store.putBytes(new Uint8Array(1000).fill(fill)).id as ChunkId);
  // The first in the scrub's order made a directory: reading it fails as no rot does.
  const [first] = [...ids].sort() as [ChunkId];
  rmSync(store.chunkPath(first));
  mkdirSync(store.chunkPath(first));
  const warned: string[] = [];
  const log = { ...quiet, warn: (message: string) => warned.push(message) };
  const round = await new StoreScrub(store, log, {
    everyMs: 60_000,
    bytesPerRound: 1 << 20,
  }).round();
  expect(round).toEqual({ checked: 2, bytes: 1000, damaged: 0 });
  expect(warned).toEqual(["stored object could not be read"]);
});
