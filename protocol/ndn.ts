/**
 * Named data, BuckyOS style: content is addressed by its hash. A chunk is bytes of at most
 * CHUNK_BYTES, named `sha256:<hex>` (for a small file that is exactly `sha256sum`). A
 * larger file is a chunk list, a CBOR object naming its chunks in order, named
 * `clist:<hex>` after the SHA-256 of its canonical encoding. Anyone holding an id can
 * verify every byte they receive, whoever sent it.
 *
 *   chunk list = CBOR {v: 1, size, chunkSize, chunks: [sha256 digest, ...]}
 *
 * Every chunk but the last is exactly chunkSize bytes; the last is 1 to chunkSize bytes.
 */
import { createHash } from "node:crypto";
import type { Brand } from "./brand.ts";
import { cborUint, decodeCbor, encodeCbor } from "./cbor.ts";
import { toHex } from "./encoding.ts";
import { check } from "./errors.ts";
import { requireBytes, requireOnlyFields, requireRecord, requireUint } from "./shape.ts";

export const CHUNK_BYTES = 4 * 1024 * 1024;
/** A chunk list names at most this many chunks (1 TiB at the default chunk size). */
export const MAX_LIST_CHUNKS = 262_144;
const DIGEST_BYTES = 32;

export type ChunkId = Brand<string, "ChunkId">;
export type ChunkListId = Brand<string, "ChunkListId">;
export type ObjectId = ChunkId | ChunkListId;

export interface ChunkList {
  readonly size: number;
  readonly chunkSize: number;
  readonly chunks: readonly ChunkId[];
}

export function chunkIdOf(bytes: Uint8Array): ChunkId {
  return `sha256:${sha256Hex(bytes)}` as ChunkId;
}

/** The kind of object an id names, or undefined when it is not an object id. */
export function parseObjectId(
  text: string,
): { kind: "chunk"; id: ChunkId } | { kind: "list"; id: ChunkListId } | undefined {
  const match = /^(sha256|clist):([0-9a-f]{64})$/.exec(text);
  if (!match) return undefined;
  return match[1] === "sha256"
    ? { kind: "chunk", id: text as ChunkId }
    : { kind: "list", id: text as ChunkListId };
}

/** The hex digest an id carries: what its bytes must hash to. */
export function digestOf(id: ObjectId): string {
  return id.slice(id.indexOf(":") + 1);
}

/** The canonical bytes of a chunk list and its id. */
export function encodeChunkList(list: ChunkList): { id: ChunkListId; bytes: Uint8Array } {
  const bytes = encodeCbor({
    v: 1,
    // A file of 4 GiB or more: a CBOR unsigned integer, as any other encoder writes it.
    size: cborUint(list.size),
    chunkSize: list.chunkSize,
    chunks: list.chunks.map((chunk) => Buffer.from(digestOf(chunk), "hex")),
  });
  return { id: `clist:${sha256Hex(bytes)}` as ChunkListId, bytes };
}

/**
 * Decodes the bytes of chunk list `id`, checking they hash to it and that the sizes add
 * up. Throws ProtocolError otherwise.
 */
export function decodeChunkList(id: ChunkListId, bytes: Uint8Array): ChunkList {
  check(sha256Hex(bytes) === digestOf(id), `the bytes received for ${id} do not hash to it`);
  const value = requireRecord(
    decodeCbor(bytes, 16 + MAX_LIST_CHUNKS * 40, "chunk list"),
    "chunk list",
  );
  requireOnlyFields(value, ["v", "size", "chunkSize", "chunks"], "chunk list");
  check(value.v === 1, "chunk list version is not 1");
  const size = requireUint(value.size, "chunk list size");
  const chunkSize = requireUint(value.chunkSize, "chunk list chunkSize", CHUNK_BYTES * 16);
  check(chunkSize > 0, "chunk list chunkSize must be positive");
  check(
    Array.isArray(value.chunks) && value.chunks.length <= MAX_LIST_CHUNKS,
    "chunk list chunks is too long",
  );
  const chunks = value.chunks.map(
    (digest, i) => `sha256:${toHex(requireBytes(digest, `chunk ${i}`, DIGEST_BYTES))}` as ChunkId,
  );
  check(
    chunks.length === Math.ceil(size / chunkSize),
    "chunk list size does not match its number of chunks",
  );
  return { size, chunkSize, chunks };
}

/** The byte length chunk `index` of `list` must have. */
export function chunkLength(list: ChunkList, index: number): number {
  return index < list.chunks.length - 1
    ? list.chunkSize
    : list.size - list.chunkSize * (list.chunks.length - 1);
}

/** Whether `bytes` are the chunk `id` names. */
export function isChunk(id: ChunkId, bytes: Uint8Array): boolean {
  return sha256Hex(bytes) === digestOf(id);
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
