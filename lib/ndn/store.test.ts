/**
 * Chunks taken into the store from elsewhere on the disk (a blob stored as it was read):
 * renamed in, not written again; one the store has already stays as it is; from another
 * disk, copied with its bytes checked.
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ChunkId, chunkIdOf } from "../../protocol/ndn.ts";
import { ObjectStore } from "./store.ts";

const root = mkdtempSync(join(tmpdir(), "bucky-store-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const bytes = (text: string) => new TextEncoder().encode(text);

test("chunks are renamed in, the same file, and one the store holds already is left as it is", () => {
  const staged = new ObjectStore(mkdtempSync(join(root, "staged-")));
  const store = new ObjectStore(mkdtempSync(join(root, "store-")));
  const [fresh, held] = [chunkIdOf(bytes("fresh")), chunkIdOf(bytes("held"))];
  staged.writeHashedChunk(fresh, bytes("fresh"));
  staged.writeHashedChunk(held, bytes("held"));
  store.writeHashedChunk(held, bytes("held"));
  const inode = (store: ObjectStore, id: ChunkId) => statSync(store.chunkPath(id)).ino;
  const [freshInode, heldInode] = [inode(staged, fresh), inode(store, held)];
  const writes = store.writes;
  store.adoptChunks([fresh, held], (id) => staged.chunkPath(id));
  expect({
    fresh: inode(store, fresh) === freshInode,
    held: inode(store, held) === heldInode,
    stagedLeft: [existsSync(staged.chunkPath(fresh)), existsSync(staged.chunkPath(held))],
    bytes: new TextDecoder().decode(store.readChunk(fresh)),
    // Counted as writes: a collection under way reads what keeps objects again.
    writes: store.writes - writes,
  }).toEqual({ fresh: true, held: true, stagedLeft: [false, true], bytes: "fresh", writes: 2 });
});

test("from another disk, a chunk is copied with its bytes checked", () => {
  const mount = mkdtempSync(join(root, "other-disk-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount]);
  if (mounted.status !== 0)
    throw new Error(`this test needs root to mount a tmpfs: ${mounted.stderr}`);
  try {
    const staged = new ObjectStore(mount);
    const store = new ObjectStore(mkdtempSync(join(root, "store-")));
    const [good, bad] = [chunkIdOf(bytes("good")), chunkIdOf(bytes("bad"))];
    staged.writeHashedChunk(good, bytes("good"));
    staged.writeHashedChunk(bad, bytes("bad"));
    store.adoptChunks([good], (id) => staged.chunkPath(id));
    expect(new TextDecoder().decode(store.readChunk(good))).toBe("good");
    writeFileSync(staged.chunkPath(bad), "altered");
    expect(() => store.adoptChunks([bad], (id) => staged.chunkPath(id))).toThrow(
      `the bytes for ${bad} do not hash to it`,
    );
    expect(store.hasChunk(bad)).toBe(false);
  } finally {
    spawnSync("umount", ["-l", mount]);
  }
});

test("an object's size is known only when it is held whole: a chunk's, a list's", () => {
  const store = new ObjectStore(mkdtempSync(join(root, "sizes-")));
  const file = join(root, "large.bin");
  writeFileSync(file, new Uint8Array(5 * 1024 * 1024 + 3));
  const large = store.putFile(file);
  const small = store.putBytes(bytes("small"));
  expect([store.wholeSize(large.id), store.wholeSize(small.id)]).toEqual([5 * 1024 * 1024 + 3, 5]);
  expect(store.wholeSize(chunkIdOf(bytes("absent")))).toBeUndefined();
});
