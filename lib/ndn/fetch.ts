/**
 * Fetching named data from wherever it is: this node's store first, then the zone's other
 * devices. Every chunk is verified against its id before it is written anywhere; a source
 * that sends wrong bytes is passed over, and if nobody sends the right ones the fetch is
 * an integrity error. Into a file, the result appears at its destination only whole.
 *
 * Chunks move PARALLEL_CHUNKS at a time, and each is hashed on the runtime's thread pool
 * (chunk-check.ts) and written by it, so the main thread only receives: a 1 GiB `bucky
 * get` hashed and wrote in line on the main thread, which then received nothing.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fdatasync, fsyncSync, openSync, renameSync, rmSync, write } from "node:fs";
import { dirname, join } from "node:path";
import { ProtocolError } from "../../protocol/errors.ts";
import {
  type ChunkId,
  type ChunkList,
  type ChunkListId,
  chunkLength,
  decodeChunkList,
  type ObjectId,
  parseObjectId,
} from "../../protocol/ndn.ts";
import { fsyncDirectory } from "../atomic-file.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import type { PeerClient } from "../node/peer-client.ts";
import type { Peer } from "../node/peers.ts";
import { chunkMatches } from "./chunk-check.ts";
import type { ObjectStore } from "./store.ts";

/** How many chunks are fetched at once. */
const PARALLEL_CHUNKS = 4;
/**
 * Into a file, what was written is handed to the disk every this many bytes, on a
 * thread of the runtime's, while the fetch goes on: the kernel would otherwise hold a
 * large file's every byte in memory until the final fsync, and that fsync would then
 * write it all while the fetch waits (0.7 s of 3 for 1 GiB here).
 */
const SYNC_EVERY_BYTES = 64 * 1024 * 1024;
const CHUNK_TIMEOUT_MS = 120_000;

export interface ObjectSource {
  readonly name: string;
  /**
   * The bytes of a chunk, or of a chunk list object; undefined when it does not have it.
   * `signal` says the fetch was called off (another chunk failed): stop if you can.
   */
  fetch(id: ObjectId, signal?: AbortSignal): Promise<Uint8Array | undefined>;
  /**
   * The source checks each chunk it gives against its id itself (this device's store
   * hashes every chunk it reads), so it need not be hashed again. Not chunk lists.
   */
  readonly checksOwnChunks?: true;
}

export function storeSource(store: ObjectStore): ObjectSource {
  return {
    name: "this device",
    checksOwnChunks: true,
    async fetch(id) {
      const parsed = parseObjectId(id);
      if (!parsed) return undefined;
      return parsed.kind === "chunk" ? store.readChunk(parsed.id) : store.listBytes(parsed.id);
    },
  };
}

export function peerSource(client: PeerClient, peer: Peer): ObjectSource {
  return {
    name: peer.name,
    fetch: (id, signal) =>
      client.get(
        peer,
        id.startsWith("clist:") ? `/ndn/${id}?object` : `/ndn/${id}`,
        CHUNK_TIMEOUT_MS,
        signal,
      ),
  };
}

/** Fetches object `id` into a new file at `destination`; returns its size. */
export async function fetchToFile(
  id: ObjectId,
  destination: string,
  sources: readonly ObjectSource[],
): Promise<number> {
  const temp = join(dirname(destination), `.${randomBytes(6).toString("hex")}.bucky-partial`);
  let fd: number;
  try {
    fd = openSync(temp, "wx", 0o644);
  } catch (error) {
    throw fileSystemError(error, "write", destination) ?? error;
  }
  const syncing = new BackgroundSync(fd);
  try {
    // Only checked bytes are written, on the runtime's thread pool; fetchInto returns once
    // no write is under way, so none can land in another file after the close below.
    const size = await fetchInto(id, sources, async (offset, bytes) => {
      await writeAt(fd, bytes, offset);
      syncing.wrote(bytes.length);
    });
    await syncing.settled();
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, destination);
    // The new name is durable too: a fetch that said it was done is there after a crash.
    fsyncDirectory(dirname(destination));
    return size;
  } catch (error) {
    await syncing.settled().catch(() => undefined);
    closeSync(fd);
    rmSync(temp, { force: true });
    throw fileSystemError(error, "write", destination) ?? error;
  }
}

/** Writes all of `bytes` at `offset` of `fd`, off the main thread. */
async function writeAt(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    done += await new Promise<number>((resolve, reject) =>
      write(fd, bytes, done, bytes.length - done, offset + done, (error, written) =>
        error ? reject(error) : resolve(written),
      ),
    );
  }
}

/**
 * Data syncs of a file being written, one at a time, each once another SYNC_EVERY_BYTES
 * were written: they only start the disk's work early. The caller's own fsync at the end
 * is what makes the file durable.
 */
class BackgroundSync {
  private unsynced = 0;
  private running: Promise<void> | undefined;
  private failure: unknown;

  constructor(private readonly fd: number) {}

  wrote(bytes: number): void {
    this.unsynced += bytes;
    if (this.running || this.unsynced < SYNC_EVERY_BYTES) return;
    this.unsynced = 0;
    this.running = new Promise<void>((resolve) =>
      fdatasync(this.fd, (error) => {
        this.failure ??= error ?? undefined;
        this.running = undefined;
        resolve();
      }),
    );
  }

  /** Once no sync runs; throws what one met (a full or failing disk). */
  async settled(): Promise<void> {
    await this.running;
    if (this.failure) throw this.failure;
  }
}

/**
 * Fetches object `id` (its list and every chunk) into `store`, skipping what is there;
 * `onProgress` hears how many of its bytes are stored, as chunks arrive.
 */
export async function fetchToStore(
  id: ObjectId,
  store: ObjectStore,
  sources: readonly ObjectSource[],
  onProgress?: (doneBytes: number, totalBytes: number) => void,
): Promise<void> {
  const parsed = parseObjectId(id);
  if (parsed?.kind === "list") {
    const list =
      store.readList(parsed.id) ??
      store.writeListBytes(parsed.id, await fetchListBytes(parsed.id, sources));
    let done = 0;
    await forEachChunk(list, async (chunk, index, signal) => {
      // fetchChunk checked the bytes against the id: the store need not hash them again.
      if (!store.hasChunk(chunk))
        store.writeHashedChunk(chunk, await fetchChunk(chunk, sources, signal));
      done += chunkLength(list, index);
      onProgress?.(done, list.size);
    });
  } else if (parsed && !store.hasChunk(parsed.id)) {
    const bytes = await fetchChunk(parsed.id, sources);
    store.writeHashedChunk(parsed.id, bytes);
    onProgress?.(bytes.length, bytes.length);
  }
}

/**
 * The first `maxBytes` of object `id` (fetching only the chunks they lie in), and its
 * whole size: to look at an object without moving all of it.
 */
export async function fetchHead(
  id: ObjectId,
  sources: readonly ObjectSource[],
  maxBytes: number,
): Promise<{ bytes: Uint8Array; size: number }> {
  const parsed = parseObjectId(id);
  if (!parsed) throw new BuckyError("E_INVALID_INPUT", `${id} is not an object id`);
  if (parsed.kind === "chunk") {
    const bytes = await fetchChunk(parsed.id, sources);
    return { bytes: bytes.subarray(0, maxBytes), size: bytes.length };
  }
  const list = decodeChunkList(parsed.id, await fetchListBytes(parsed.id, sources));
  const head = new Uint8Array(Math.min(maxBytes, list.size));
  for (let index = 0; index * list.chunkSize < head.length; index++) {
    const bytes = await fetchChunk(list.chunks[index] as ChunkId, sources);
    head.set(bytes.subarray(0, head.length - index * list.chunkSize), index * list.chunkSize);
  }
  return { bytes: head, size: list.size };
}

async function fetchInto(
  id: ObjectId,
  sources: readonly ObjectSource[],
  write: (offset: number, bytes: Uint8Array) => Promise<void>,
): Promise<number> {
  const parsed = parseObjectId(id);
  if (!parsed)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${id} is not an object id`,
      "Ids look like sha256:<64 hex> or clist:<64 hex>.",
    );
  if (parsed.kind === "chunk") {
    const bytes = await fetchChunk(parsed.id, sources);
    await write(0, bytes);
    return bytes.length;
  }
  const list = decodeChunkList(parsed.id, await fetchListBytes(parsed.id, sources));
  await forEachChunk(list, async (chunk, index, signal) => {
    const bytes = await fetchChunk(chunk, sources, signal);
    if (bytes.length !== chunkLength(list, index)) {
      throw new BuckyError("E_INTEGRITY", `chunk ${index} of ${id} has the wrong length`);
    }
    await write(index * list.chunkSize, bytes);
  });
  return list.size;
}

/**
 * Runs `work` on each chunk of `list`, PARALLEL_CHUNKS at a time. The first failure calls
 * the others off (through `signal`) and takes no new chunk; it is thrown once every
 * `work` under way has ended, so nothing of this fetch runs after it says it failed.
 */
async function forEachChunk(
  list: ChunkList,
  work: (chunk: ChunkId, index: number, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  let failure: { error: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (!failure && next < list.chunks.length) {
      const index = next++;
      try {
        await work(list.chunks[index] as ChunkId, index, stop.signal);
      } catch (error) {
        // The first failure is the one to report: the others are mostly its call-off.
        failure ??= { error };
        stop.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_CHUNKS, list.chunks.length) }, worker));
  if (failure) throw failure.error;
}

async function fetchChunk(
  id: ChunkId,
  sources: readonly ObjectSource[],
  signal?: AbortSignal,
): Promise<Uint8Array> {
  return fetchVerified(
    id,
    sources,
    (bytes, source) => source.checksOwnChunks === true || chunkMatches(id, bytes),
    signal,
  );
}

async function fetchListBytes(
  id: ChunkListId,
  sources: readonly ObjectSource[],
): Promise<Uint8Array> {
  return fetchVerified(id, sources, (bytes) => {
    try {
      decodeChunkList(id, bytes);
      return true;
    } catch (error) {
      if (error instanceof ProtocolError) return false;
      throw error;
    }
  });
}

/** Tries each source in turn until one sends bytes that verify. */
async function fetchVerified(
  id: ObjectId,
  sources: readonly ObjectSource[],
  verify: (bytes: Uint8Array, source: ObjectSource) => boolean | Promise<boolean>,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const altered: string[] = [];
  const unreachable: string[] = [];
  for (const source of sources) {
    signal?.throwIfAborted();
    let bytes: Uint8Array | undefined;
    try {
      bytes = await source.fetch(id, signal);
    } catch (error) {
      if (!(error instanceof BuckyError)) throw error;
      // A damaged local copy counts as altered; anything else means "ask someone else".
      (error.code === "E_INTEGRITY" ? altered : unreachable).push(source.name);
      continue;
    }
    if (bytes === undefined) continue;
    if (await verify(bytes, source)) return bytes;
    altered.push(source.name);
  }
  if (altered.length > 0) {
    throw new BuckyError(
      "E_INTEGRITY",
      `${id} failed verification: the bytes from ${altered.join(", ")} do not match it`,
      "Those copies are damaged or were altered; nothing was written.",
    );
  }
  if (unreachable.length > 0) {
    throw new BuckyError(
      "E_UNAVAILABLE",
      `no device that answered has ${id}, and ${unreachable.join(", ")} could not be reached`,
      "Try again when those devices are online.",
    );
  }
  throw new BuckyError(
    "E_NOT_FOUND",
    `no device of the zone has ${id}`,
    "Check the id, or `bucky put` the file first.",
  );
}
