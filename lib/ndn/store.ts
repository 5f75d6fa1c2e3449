/**
 * This node's store of named data: chunk files under `<home>/ndn/chunks/<2 hex>/<hex>` and
 * chunk lists under `<home>/ndn/lists/<hex>`, each written atomically once and never
 * changed. What is read back is verified against its id, so a damaged or altered file is
 * found, not served onward as good: it is set aside (`<home>/ndn-damaged/`, its bytes kept
 * for whoever wants to look) and is no longer held here, so the keepers of the zone's
 * copies fetch it again from another device. What writes an object found here already
 * checks it first: putting a file again mends its damaged copy.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { ProtocolError } from "../../protocol/errors.ts";
import {
  CHUNK_BYTES,
  type ChunkId,
  type ChunkList,
  type ChunkListId,
  chunkIdOf,
  decodeChunkList,
  digestOf,
  encodeChunkList,
  isChunk,
  type ObjectId,
  parseObjectId,
} from "../../protocol/ndn.ts";
import { fsyncDirectory, writeFileAtomic } from "../atomic-file.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import { requireObjectId } from "./object-id.ts";

export interface StoredObject {
  readonly id: ObjectId;
  readonly size: number;
}

/**
 * The most an object read whole into memory may be (records, catalogs, images' small
 * blobs, app packages): as large as the largest of them, an app package
 * (protocol/app-package.ts, MAX_PACKAGE_BYTES).
 */
export const MAX_WHOLE_READ_BYTES = 256 * 1024 * 1024;

export class ObjectStore {
  private written = 0;
  private readonly lossListeners = new Set<() => void>();
  private lossToTell = false;

  constructor(readonly root: string) {}

  /** How many times an object was stored (or found stored) through this store: a counter. */
  get writes(): number {
    return this.written;
  }

  chunkPath(id: ChunkId): string {
    const hex = digestOf(id);
    return join(this.root, "chunks", hex.slice(0, 2), hex);
  }

  listPath(id: ChunkListId): string {
    return join(this.root, "lists", digestOf(id));
  }

  hasChunk(id: ChunkId): boolean {
    return existsSync(this.chunkPath(id));
  }

  /**
   * Calls `listener` when objects held here may no longer be whole: one was found damaged
   * and set aside, or a scrub's round ended (lib/ndn/scrub.ts), which is also how a file
   * removed behind the store's back is found: whoever keeps objects here looks again.
   */
  onMaybeLost(listener: () => void): () => void {
    this.lossListeners.add(listener);
    return () => this.lossListeners.delete(listener);
  }

  /** Says objects held here may no longer be whole (see onMaybeLost). */
  maybeLost(): void {
    if (this.lossToTell || this.lossListeners.size === 0) return;
    this.lossToTell = true;
    // Told soon, once for all found meanwhile: not within the read that found it (a keeper
    // looking again reads the store itself).
    setTimeout(() => {
      this.lossToTell = false;
      for (const listener of this.lossListeners) listener();
    }, 0);
  }

  /**
   * Where a damaged file of the store is set aside: beside the store, never read as an
   * object again (nor backed up or counted with it).
   */
  damagedDir(): string {
    return `${this.root}-damaged`;
  }

  /** Stores a file: one chunk if it fits, else its chunks and their list. */
  putFile(path: string): StoredObject {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (error) {
      throw fileSystemError(error, "read", path) ?? error;
    }
    try {
      const chunks: ChunkId[] = [];
      let size = 0;
      const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
      for (;;) {
        let filled = 0;
        while (filled < CHUNK_BYTES) {
          const read = readSync(fd, buffer, filled, CHUNK_BYTES - filled, null);
          if (read === 0) break;
          filled += read;
        }
        if (filled === 0 && chunks.length > 0) break;
        const bytes = buffer.subarray(0, filled);
        const id = chunkIdOf(bytes);
        this.writeHashedChunk(id, bytes);
        chunks.push(id);
        size += filled;
        if (filled < CHUNK_BYTES) break;
      }
      if (chunks.length === 1) return { id: chunks[0] as ChunkId, size };
      return { id: this.writeList({ size, chunkSize: CHUNK_BYTES, chunks }), size };
    } finally {
      closeSync(fd);
    }
  }

  /** Stores bytes held in memory: one chunk if they fit, else chunks and their list. */
  putBytes(bytes: Uint8Array): StoredObject {
    const chunks: ChunkId[] = [];
    for (let offset = 0; offset === 0 || offset < bytes.length; offset += CHUNK_BYTES) {
      const chunk = bytes.subarray(offset, offset + CHUNK_BYTES);
      const id = chunkIdOf(chunk);
      this.writeHashedChunk(id, chunk);
      chunks.push(id);
    }
    if (chunks.length === 1) return { id: chunks[0] as ChunkId, size: bytes.length };
    return {
      id: this.writeList({ size: bytes.length, chunkSize: CHUNK_BYTES, chunks }),
      size: bytes.length,
    };
  }

  /**
   * An object's whole content, every chunk verified; undefined when any part is missing.
   * Read whole into memory, so one over `maxBytes` is refused (E_TOO_LARGE) before any of
   * it is: a list may name one chunk a thousand times (a file of zeros does), so a few
   * kilobytes a peer sent can claim gigabytes, which were allocated at once.
   */
  readObject(id: ObjectId, maxBytes = MAX_WHOLE_READ_BYTES): Uint8Array | undefined {
    const parsed = parseObjectId(id);
    if (!parsed) return undefined;
    if (parsed.kind === "chunk") return this.readChunk(parsed.id);
    const list = this.readList(parsed.id);
    if (!list) return undefined;
    if (list.size > maxBytes)
      throw new BuckyError(
        "E_TOO_LARGE",
        `${id} is ${list.size} bytes, more than the ${maxBytes} read whole into memory`,
        "An object this large is read as a file (`bucky get`), not as a record or a package.",
      );
    const out = new Uint8Array(list.size);
    for (const [index, chunk] of list.chunks.entries()) {
      const bytes = this.readChunk(chunk);
      if (!bytes) return undefined;
      out.set(bytes, index * list.chunkSize);
    }
    return out;
  }

  /** Stores a chunk after checking the bytes are the ones `id` names. */
  writeChunk(id: ChunkId, bytes: Uint8Array): void {
    if (!isChunk(id, bytes))
      throw new BuckyError("E_INTEGRITY", `the bytes for ${id} do not hash to it`);
    this.writeHashedChunk(id, bytes);
  }

  /**
   * Stores a chunk whose bytes the caller has just hashed to `id` (named them by their
   * hash, or checked them against it): hashing them again here would double the work. One
   * here already is compared with them (no hash): damaged, it is set aside and written.
   */
  writeHashedChunk(id: ChunkId, bytes: Uint8Array): void {
    this.written++;
    const path = this.chunkPath(id);
    if (this.holdsGood(path, (held) => held.size === bytes.length && sameBytes(path, bytes)))
      return;
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileAtomic(path, bytes, 0o644);
  }

  /**
   * Takes in `chunks`, each from the file `pathOf(id)`, which this process wrote (durably)
   * and hashed to that id elsewhere on this disk (a blob stored as it was read): renamed in,
   * so their bytes are not written twice; copied, their bytes checked, from another disk. A
   * chunk here already of its length stays as it is (read, a layer shared by every image
   * pulled would be read again at each: its rot is the scrub's to find). The renames are
   * durable when this returns.
   */
  adoptChunks(chunks: readonly ChunkId[], pathOf: (id: ChunkId) => string): void {
    const renamedIn = new Set<string>();
    for (const id of chunks) {
      this.written++;
      const target = this.chunkPath(id);
      if (this.holdsGood(target, (held) => held.size === statSync(pathOf(id)).size)) continue;
      mkdirSync(dirname(target), { recursive: true });
      try {
        renameSync(pathOf(id), target);
        renamedIn.add(dirname(target));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EXDEV")
          throw fileSystemError(error, "store", target) ?? error;
        this.writeChunk(id, readFileSync(pathOf(id)));
      }
    }
    for (const dir of renamedIn) fsyncDirectory(dir);
  }

  writeList(list: ChunkList): ChunkListId {
    const { id, bytes } = encodeChunkList(list);
    this.writeListBytes(id, bytes);
    return id;
  }

  /** Stores the bytes of chunk list `id` after checking them. */
  writeListBytes(id: ChunkListId, bytes: Uint8Array): ChunkList {
    const list = verifiedList(id, bytes);
    this.written++;
    const path = this.listPath(id);
    if (!this.holdsGood(path, (held) => held.size === bytes.length && sameBytes(path, bytes))) {
      mkdirSync(join(path, ".."), { recursive: true });
      writeFileAtomic(path, bytes, 0o644);
    }
    return list;
  }

  /**
   * Whether the file at `path` is here and `good` (an object written already); one here
   * that is not is set aside, to be written anew.
   */
  private holdsGood(path: string, good: (held: Stats) => boolean): boolean {
    let held: Stats;
    try {
      held = statSync(path);
    } catch {
      return false;
    }
    if (good(held)) return true;
    this.setAside(path);
    return false;
  }

  /**
   * Moves a damaged file of the store aside (its bytes kept, for whoever wants to look) and
   * says so: its object is no longer held here, and its keepers fetch it again.
   */
  private setAside(path: string): string {
    const name = `${Date.now()}-${randomBytes(4).toString("hex")}-${basename(path)}`;
    const aside = join(this.damagedDir(), name);
    try {
      mkdirSync(this.damagedDir(), { recursive: true });
      renameSync(path, aside);
    } catch (error) {
      // Set aside already (by another reader, or another process of this home) is as good;
      // a disk that takes no rename (read-only, failing) leaves it where it is, said.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT")
        return `nowhere (${(error as Error).message}): it stays at ${path}`;
    }
    this.maybeLost();
    return aside;
  }

  /** A chunk's bytes, verified; undefined when it is not here. */
  readChunk(id: ChunkId): Uint8Array | undefined {
    const path = this.chunkPath(id);
    if (!existsSync(path)) return undefined;
    const bytes = readFileSync(path);
    if (!isChunk(id, bytes)) throw damaged(`chunk ${id}`, this.setAside(path));
    return bytes;
  }

  /** Whether an object is all here: a chunk, or a list and every chunk it names. */
  holdsWhole(id: ObjectId): boolean {
    const parsed = parseObjectId(id);
    if (!parsed) return false;
    if (parsed.kind === "chunk") return this.hasChunk(parsed.id);
    const list = this.heldList(parsed.id);
    return list?.chunks.every((chunk) => this.hasChunk(chunk)) ?? false;
  }

  /** The size of an object held whole here, else undefined. */
  wholeSize(id: ObjectId): number | undefined {
    if (!this.holdsWhole(id)) return undefined;
    const parsed = parseObjectId(id);
    if (!parsed) return undefined;
    if (parsed.kind === "list") return this.heldList(parsed.id)?.size;
    return statSync(this.chunkPath(parsed.id)).size;
  }

  /** The raw bytes of a chunk list, unverified (for serving: the receiver verifies). */
  listBytes(id: ChunkListId): Uint8Array | undefined {
    const path = this.listPath(id);
    return existsSync(path) ? readFileSync(path) : undefined;
  }

  /** Chunk list `id`, verified; undefined when it is not here. Damaged, it is set aside. */
  readList(id: ChunkListId): ChunkList | undefined {
    const bytes = this.listBytes(id);
    if (bytes === undefined) return undefined;
    try {
      return decodeChunkList(id, bytes);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      throw damaged(`chunk list ${id}`, this.setAside(this.listPath(id)));
    }
  }

  /**
   * Chunk list `id` when it is here and whole; a damaged one is set aside, and not here,
   * as one the disk cannot read (EIO: it is held by no one who asks).
   */
  heldList(id: ChunkListId): ChunkList | undefined {
    try {
      return this.readList(id);
    } catch (error) {
      if (error instanceof BuckyError && error.code === "E_INTEGRITY") return undefined;
      if (typeof (error as NodeJS.ErrnoException).code === "string") return undefined;
      throw error;
    }
  }

  /**
   * Every object stored here: each chunk list, and each chunk (a file whose name is not a
   * digest, such as one half written, is not an object and is passed over).
   */
  *objects(): Generator<ObjectId> {
    for (const name of listDir(join(this.root, "lists")))
      if (HEX_DIGEST.test(name)) yield `clist:${name}` as ChunkListId;
    for (const prefix of listDir(join(this.root, "chunks")))
      for (const name of listDir(join(this.root, "chunks", prefix)))
        if (HEX_DIGEST.test(name) && name.startsWith(prefix)) yield `sha256:${name}` as ChunkId;
  }

  /** The path an object is stored at. */
  pathOf(id: ObjectId): string {
    const parsed = requireObjectId(id);
    return parsed.kind === "chunk" ? this.chunkPath(parsed.id) : this.listPath(parsed.id);
  }

  /** Removes an object's file (a chunk list's chunks are objects of their own). Returns its size. */
  remove(id: ObjectId): number {
    const path = this.pathOf(id);
    try {
      const size = statSync(path).size;
      rmSync(path);
      return size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw fileSystemError(error, "remove", path) ?? error;
    }
  }

  /** The size in bytes of a chunk stored here (unverified: a stat, for serving). */
  chunkSize(id: ChunkId): number | undefined {
    const path = this.chunkPath(id);
    return existsSync(path) ? statSync(path).size : undefined;
  }
}

const HEX_DIGEST = /^[0-9a-f]{64}$/;

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** Whether the file at `path` holds exactly `bytes`. */
function sameBytes(path: string, bytes: Uint8Array): boolean {
  return Buffer.compare(readFileSync(path), bytes) === 0;
}

/** What a reader of a damaged stored object is told: it was set aside, and comes again. */
function damaged(what: string, aside: string): BuckyError {
  return new BuckyError(
    "E_INTEGRITY",
    `the stored ${what} was damaged: set aside as ${aside}`,
    "It is fetched again from another device that holds it, as its daemon runs.",
  );
}

function verifiedList(id: ChunkListId, bytes: Uint8Array): ChunkList {
  try {
    return decodeChunkList(id, bytes);
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError("E_INTEGRITY", `chunk list ${id} does not verify: ${error.message}`);
    throw error;
  }
}
