/**
 * Fetching named data from wherever it is: this node's store first, then the zone's other
 * devices. Every chunk is verified against its id before it is written anywhere; a source
 * that sends wrong bytes is passed over, and if nobody sends the right ones the fetch is
 * an integrity error. Into a file, the result appears at its destination only whole.
 *
 * Chunks move PARALLEL_CHUNKS at a time. Into a file, each chunk from a peer is received
 * (by a connection of the peer client's own, lib/node/bulk-get.ts) into one of
 * PARALLEL_CHUNKS buffers taken again once it is written, hashed in line and
 * written by the runtime's thread pool (partial-file.ts). Memory never touched before costs
 * here far more than a copy into warm memory: a new 4 MiB buffer for each chunk, and
 * WebCrypto's own copy of it to hash off the main thread, took most of `bucky get`'s CPU
 * (docs/performance.md, `bucky get`). Hashing on a worker thread instead measured no
 * better: on two cores, moving work between them does not make less of it.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import {
  type ChunkId,
  type ChunkList,
  type ChunkListId,
  chunkLength,
  decodeChunkList,
  isChunk,
  type ObjectId,
  parseObjectId,
} from "../../protocol/ndn.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import type { PeerClient } from "../node/peer-client.ts";
import type { Peer } from "../node/peers.ts";
import { requireObjectId } from "./object-id.ts";
import { PartialFile } from "./partial-file.ts";
import type { ObjectStore } from "./store.ts";

/**
 * How many chunks are fetched at once. Two keep a link busy while a chunk (4 MiB) takes
 * longer to arrive than a round trip (below about 600 Mbit/s at 50 ms); on this 2-core
 * machine loaded by other work, four took more CPU a MiB than two, and more time, in 10 of
 * 11 rounds taking turns (each chunk under way holds its buffers and its connection's);
 * quiet, the two were alike.
 */
export const PARALLEL_CHUNKS = 2;
const CHUNK_TIMEOUT_MS = 120_000;

export interface ObjectSource {
  readonly name: string;
  /**
   * The bytes of a chunk, or of a chunk list object; undefined when it does not have it.
   * `signal` says the fetch was called off (another chunk failed): stop if you can. `into`,
   * given for a chunk: a buffer of its length, reused from chunk to chunk, where a source
   * that receives the bytes may put them (and give that back) rather than in new memory.
   */
  fetch(id: ObjectId, signal?: AbortSignal, into?: Uint8Array): Promise<Uint8Array | undefined>;
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
    fetch: (id, signal, into) =>
      client.get(
        peer,
        id.startsWith("clist:") ? `/ndn/${id}?object` : `/ndn/${id}`,
        CHUNK_TIMEOUT_MS,
        signal,
        into,
      ),
  };
}

/** Fetches object `id` into a new file at `destination`; returns its size. */
export async function fetchToFile(
  id: ObjectId,
  destination: string,
  sources: readonly ObjectSource[],
): Promise<number> {
  const file = PartialFile.open(destination);
  let size: number;
  try {
    // Only checked bytes are written; fetchInto returns once no write is under way, so
    // none can land in another file after the file is closed.
    size = await fetchInto(id, sources, (offset, bytes) => file.write(offset, bytes));
  } catch (error) {
    await file.discard();
    throw fileSystemError(error, "write", destination) ?? error;
  }
  await file.commit();
  return size;
}

/** The most an object may be where it is fetched as one thing (an app package), and what. */
export interface FetchLimit {
  readonly bytes: number;
  readonly what: string;
}

/**
 * Fetches object `id` (its list and every chunk) into `store`, skipping what is there;
 * `onProgress` hears how many of its bytes are stored, as chunks arrive. With `limit`, an
 * object its list says is larger is refused before any of its chunks is fetched: an id
 * in the zone state (a member's words) may name any object, a large file put by someone
 * included, and every device fetching it would fill its disk.
 */
export async function fetchToStore(
  id: ObjectId,
  store: ObjectStore,
  sources: readonly ObjectSource[],
  options: {
    readonly onProgress?: (doneBytes: number, totalBytes: number) => void;
    readonly limit?: FetchLimit;
  } = {},
): Promise<void> {
  const { onProgress, limit } = options;
  const parsed = parseObjectId(id);
  if (parsed?.kind === "list") {
    // One damaged here is set aside, and fetched again like one never held.
    const held = store.heldList(parsed.id);
    const bytes = held ? undefined : await fetchListBytes(parsed.id, sources);
    const list = held ?? decodeChunkList(parsed.id, bytes as Uint8Array);
    // Refused before the list is stored: a list may be megabytes, and many ids said to be
    // small would otherwise leave theirs on every device.
    if (limit && list.size > limit.bytes)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${id} is ${list.size} bytes: larger than ${limit.what} can be (${limit.bytes} bytes)`,
        "Nothing of it was fetched. Whoever named it there named the wrong object.",
      );
    let done = 0;
    const stored = (length: number) => {
      done += length;
      onProgress?.(done, list.size);
    };
    // fetchChunk checked the bytes against the id: the store need not hash them again.
    await fetchChunksOf(id, list, sources, {
      held: (chunk, index, length) => {
        if (!store.hasChunk(chunk)) return false;
        if (store.wholeSize(chunk) !== length) throw wrongLength(id, index);
        stored(length);
        return true;
      },
      take: (chunk, _offset, bytes) => {
        store.writeHashedChunk(chunk, bytes);
        stored(bytes.length);
      },
    });
    // Kept last: a list here is an object held whole, each chunk of its length.
    if (bytes) store.writeListBytes(parsed.id, bytes);
  } else if (parsed && !store.hasChunk(parsed.id)) {
    const bytes = await fetchChunk(parsed.id, sources);
    // A chunk is at most CHUNK_BYTES, but a limit smaller than that holds too: many ids
    // said to be tiny must not add up to many chunks of the largest size.
    if (limit && bytes.length > limit.bytes)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${id} is ${bytes.length} bytes: larger than ${limit.what} can be (${limit.bytes} bytes)`,
        "Nothing of it was kept. Whoever named it there named the wrong object.",
      );
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
  const parsed = requireObjectId(id);
  if (parsed.kind === "chunk") {
    const bytes = await fetchChunk(parsed.id, sources);
    return { bytes: bytes.subarray(0, maxBytes), size: bytes.length };
  }
  const list = decodeChunkList(parsed.id, await fetchListBytes(parsed.id, sources));
  const head = new Uint8Array(Math.min(maxBytes, list.size));
  for (let index = 0; index * list.chunkSize < head.length; index++) {
    const bytes = await fetchChunk(list.chunks[index] as ChunkId, sources);
    // Each of the length its list gives it, as a whole fetch checks: else a short one left
    // zeros in the head, and a long one's bytes ran under the next's.
    if (bytes.length !== chunkLength(list, index)) throw wrongLength(id, index);
    head.set(bytes.subarray(0, head.length - index * list.chunkSize), index * list.chunkSize);
  }
  return { bytes: head, size: list.size };
}

async function fetchInto(
  id: ObjectId,
  sources: readonly ObjectSource[],
  write: (offset: number, bytes: Uint8Array) => Promise<void>,
): Promise<number> {
  const parsed = requireObjectId(id);
  if (parsed.kind === "chunk") {
    const bytes = await fetchChunk(parsed.id, sources);
    await write(0, bytes);
    return bytes.length;
  }
  const list = decodeChunkList(parsed.id, await fetchListBytes(parsed.id, sources));
  await fetchChunksOf(id, list, sources, { take: (_chunk, offset, bytes) => write(offset, bytes) });
  return list.size;
}

/**
 * Fetches the chunks of `list` (of object `id`), PARALLEL_CHUNKS at a time, each into one
 * of a few buffers used again and taken back once `take` settles, each checked against its
 * id and against the length its list gives it: a list naming chunks larger than that would
 * fill a disk past the size the object claims (and its budget), and read back as nothing
 * whole. `held` says a chunk need not be fetched (it is here already).
 */
async function fetchChunksOf(
  id: ObjectId,
  list: ChunkList,
  sources: readonly ObjectSource[],
  handle: {
    readonly held?: (chunk: ChunkId, index: number, length: number) => boolean;
    readonly take: (chunk: ChunkId, offset: number, bytes: Uint8Array) => void | Promise<void>;
  },
): Promise<void> {
  const spare: Uint8Array[] = [];
  await forEachChunk(list, async (chunk, index, signal) => {
    const length = chunkLength(list, index);
    if (handle.held?.(chunk, index, length)) return;
    const buffer = spare.pop() ?? new Uint8Array(Math.min(list.chunkSize, list.size));
    try {
      const bytes = await fetchChunk(chunk, sources, signal, buffer.subarray(0, length));
      if (bytes.length !== length) throw wrongLength(id, index);
      await handle.take(chunk, index * list.chunkSize, bytes);
    } finally {
      spare.push(buffer);
    }
  });
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

function wrongLength(id: ObjectId, index: number): BuckyError {
  return new BuckyError("E_INTEGRITY", `chunk ${index} of ${id} has the wrong length`);
}

/**
 * Chunk `id`, checked (on this thread), from the first source that has it. `into`: a
 * buffer of its length for a source to receive it into.
 */
async function fetchChunk(
  id: ChunkId,
  sources: readonly ObjectSource[],
  signal?: AbortSignal,
  into?: Uint8Array,
): Promise<Uint8Array> {
  return fetchVerified(
    id,
    sources,
    (bytes, source) => source.checksOwnChunks === true || isChunk(id, bytes),
    signal,
    into,
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
  into?: Uint8Array,
): Promise<Uint8Array> {
  const altered: string[] = [];
  const unreachable: string[] = [];
  for (const source of sources) {
    signal?.throwIfAborted();
    let bytes: Uint8Array | undefined;
    try {
      bytes = await source.fetch(id, signal, into);
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
