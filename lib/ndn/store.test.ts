/**
 * Chunks taken into the store from elsewhere on the disk (a blob stored as it was read):
 * renamed in, not written again; one the store has already stays as it is; from another
 * disk, copied with its bytes checked. A damaged object is set aside, not held, and said.
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_PACKAGE_BYTES } from "../../protocol/app-package.ts";
import { CHUNK_BYTES, type ChunkId, chunkIdOf } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import { MAX_WHOLE_READ_BYTES, ObjectStore } from "./store.ts";

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

/** Flips one byte of the file at `path`, as a disk's rot or a hand would. */
function damage(path: string): void {
  const held = readFileSync(path);
  held[held.length >> 1] = (held[held.length >> 1] as number) ^ 0xff;
  writeFileSync(path, held);
}

test("a damaged chunk list is set aside, held no more, and said: never thrown by holdsWhole", async () => {
  const store = new ObjectStore(mkdtempSync(join(root, "damaged-list-")));
  const file = join(root, "listed.bin");
  writeFileSync(file, new Uint8Array(5 * 1024 * 1024).fill(7));
  const { id } = store.putFile(file);
  const told = new Promise<void>((resolve) => store.onMaybeLost(resolve));
  damage(store.pathOf(id));
  // It threw here, and the daemon that asked died at every start.
  expect(store.holdsWhole(id)).toBe(false);
  expect(existsSync(store.pathOf(id))).toBe(false);
  expect(readdirSync(store.damagedDir())).toHaveLength(1);
  await told;
  // Put again, it is whole again.
  store.putFile(file);
  expect(store.holdsWhole(id)).toBe(true);
});

test("a damaged chunk is set aside when read, with words that say so; putting its bytes again mends it", () => {
  const store = new ObjectStore(mkdtempSync(join(root, "damaged-chunk-")));
  const { id } = store.putBytes(bytes("a photo"));
  const chunk = id as ChunkId;
  damage(store.chunkPath(chunk));
  expect(() => store.readChunk(chunk)).toThrow("was damaged: set aside as");
  expect(store.hasChunk(chunk)).toBe(false);
  // Found by the writer first: a put of the same bytes checks the copy it finds.
  store.putBytes(bytes("a photo"));
  damage(store.chunkPath(chunk));
  store.putBytes(bytes("a photo"));
  expect(new TextDecoder().decode(store.readChunk(chunk))).toBe("a photo");
  expect(readdirSync(store.damagedDir())).toHaveLength(2);
});

test("a list naming one chunk over and over is not read whole past the bound, nor allocated", () => {
  const store = new ObjectStore(mkdtempSync(join(root, "repeated-")));
  const chunk = new Uint8Array(CHUNK_BYTES);
  const id = chunkIdOf(chunk);
  store.writeChunk(id, chunk);
  // 4 MiB held, a list of a few kilobytes naming it 2,048 times: 8 GiB, were it read whole.
  const chunks = Array.from({ length: 2_048 }, () => id);
  const list = store.writeList({
    size: chunks.length * CHUNK_BYTES,
    chunkSize: CHUNK_BYTES,
    chunks,
  });
  let thrown: unknown;
  try {
    store.readObject(list);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(BuckyError);
  expect((thrown as BuckyError).code).toBe("E_TOO_LARGE");
  // As long as the largest object read whole, an app package: that one is read.
  expect(MAX_WHOLE_READ_BYTES).toBe(MAX_PACKAGE_BYTES);
  const two = store.writeList({ size: 2 * CHUNK_BYTES, chunkSize: CHUNK_BYTES, chunks: [id, id] });
  expect(store.readObject(two)?.length).toBe(2 * CHUNK_BYTES);
});
