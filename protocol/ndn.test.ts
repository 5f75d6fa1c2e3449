import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { encodeCbor } from "./cbor.ts";
import { toHex, utf8 } from "./encoding.ts";
import {
  CHUNK_BYTES,
  type ChunkId,
  type ChunkList,
  type ChunkListId,
  chunkIdOf,
  chunkLength,
  decodeChunkList,
  digestOf,
  encodeChunkList,
  isChunk,
  parseObjectId,
} from "./ndn.ts";
import { refusal } from "./test-refusal.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const chunk = (fill: number) => chunkIdOf(new Uint8Array([fill]));

/** Chunk-list bytes of exactly `value`, with the id they hash to. */
function raw(value: unknown): { id: ChunkListId; bytes: Uint8Array } {
  const bytes = encodeCbor(value);
  return { id: `clist:${sha256(bytes)}` as ChunkListId, bytes };
}

describe("chunk ids", () => {
  test("are sha256: and the hex SHA-256 of the bytes, as sha256sum prints it", () => {
    expect(chunkIdOf(new Uint8Array())).toBe(
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" as ChunkId,
    );
    expect(chunkIdOf(utf8("abc"))).toBe(
      "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" as ChunkId,
    );
    const bytes = new Uint8Array(100_000).map((_, i) => i * 7);
    expect(chunkIdOf(bytes)).toBe(`sha256:${sha256(bytes)}` as ChunkId);
  });

  test("name exactly their bytes", () => {
    const id = chunkIdOf(utf8("abc"));
    expect(isChunk(id, utf8("abc"))).toBe(true);
    expect(isChunk(id, utf8("abd"))).toBe(false);
    expect(isChunk(id, utf8("abc\n"))).toBe(false);
    expect(digestOf(id)).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});

describe("parseObjectId", () => {
  const hex = "ab".repeat(32);

  test("accepts sha256: and clist: followed by 64 lowercase hex digits", () => {
    expect(parseObjectId(`sha256:${hex}`)).toEqual({
      kind: "chunk",
      id: `sha256:${hex}` as ChunkId,
    });
    expect(parseObjectId(`clist:${hex}`)).toEqual({
      kind: "list",
      id: `clist:${hex}` as ChunkListId,
    });
  });

  test.each([
    ["uppercase hex", `sha256:${hex.toUpperCase()}`],
    ["63 digits", `sha256:${hex.slice(1)}`],
    ["65 digits", `sha256:${hex}a`],
    ["a non-hex digit", `sha256:${hex.slice(1)}g`],
    ["another hash", `sha512:${hex}`],
    ["an uppercase prefix", `SHA256:${hex}`],
    ["no prefix", hex],
    ["no colon", `sha256${hex}`],
    ["a trailing newline", `sha256:${hex}\n`],
    ["a leading space", ` clist:${hex}`],
    ["a path", `sha256:${hex}/x`],
    ["nothing", ""],
  ])("refuses %s", (_what, text) => {
    expect(parseObjectId(text)).toBeUndefined();
  });
});

describe("chunk lists", () => {
  const list: ChunkList = { size: 10, chunkSize: 4, chunks: [chunk(1), chunk(2), chunk(3)] };
  const encoded = encodeChunkList(list);

  test("encode as CBOR {v, size, chunkSize, chunks of raw digests}, named clist: + SHA-256", () => {
    expect(encoded.id).toBe(`clist:${sha256(encoded.bytes)}` as ChunkListId);
    expect(encoded.bytes).toEqual(
      encodeCbor({
        v: 1,
        size: 10,
        chunkSize: 4,
        chunks: list.chunks.map((id) => Buffer.from(digestOf(id), "hex")),
      }),
    );
    expect(parseObjectId(encoded.id)?.kind).toBe("list");
  });

  test("decode to what was encoded", () => {
    expect(decodeChunkList(encoded.id, encoded.bytes)).toEqual(list);
  });

  test("encode a size of 4 GiB or more as a CBOR unsigned integer, not a float", () => {
    const chunks = Array.from({ length: 1025 }, () => chunk(0));
    const big = encodeChunkList({ size: 2 ** 32 + 1, chunkSize: CHUNK_BYTES, chunks });
    // a4: map of 4, 61 76 01: "v": 1, 64 73697a65: "size", then 1b: an 8-byte unsigned
    // integer (cbor-x alone would write fb, a float64).
    expect(toHex(big.bytes.subarray(0, 18))).toBe("a46176016473697a651b0000000100000001");
    expect(decodeChunkList(big.id, big.bytes).size).toBe(2 ** 32 + 1);
  });

  test("of an empty file have no chunks", () => {
    const empty = encodeChunkList({ size: 0, chunkSize: CHUNK_BYTES, chunks: [] });
    expect(decodeChunkList(empty.id, empty.bytes)).toEqual({
      size: 0,
      chunkSize: CHUNK_BYTES,
      chunks: [],
    });
  });

  test("refuse bytes that do not hash to the id", () => {
    const other = encodeChunkList({ ...list, size: 9 });
    expect(refusal(() => decodeChunkList(encoded.id, other.bytes))).toBe(
      `the bytes received for ${encoded.id} do not hash to it`,
    );
    const changed = encoded.bytes.slice();
    changed[changed.length - 1] = (changed[changed.length - 1] as number) ^ 1;
    expect(refusal(() => decodeChunkList(encoded.id, changed))).toBe(
      `the bytes received for ${encoded.id} do not hash to it`,
    );
  });

  test.each([
    ["one chunk too many", { size: 8, chunkSize: 4, chunks: [chunk(1), chunk(2), chunk(3)] }],
    ["one chunk too few", { size: 13, chunkSize: 4, chunks: [chunk(1), chunk(2), chunk(3)] }],
    ["chunks for no bytes", { size: 0, chunkSize: 4, chunks: [chunk(1)] }],
    ["no chunks for some bytes", { size: 1, chunkSize: 4, chunks: [] }],
  ])("refuse a size inconsistent with the chunk count: %s", (_what, inconsistent) => {
    const { id, bytes } = encodeChunkList(inconsistent);
    expect(refusal(() => decodeChunkList(id, bytes))).toBe(
      "chunk list size does not match its number of chunks",
    );
  });

  const digest = Buffer.from(digestOf(chunk(1)), "hex");
  test.each<[string, Record<string, unknown>, string]>([
    ["a digest of 31 bytes", { chunks: [digest.subarray(1)] }, "chunk 0 must be 32 bytes, got 31"],
    [
      "a digest of 33 bytes",
      { chunks: [Buffer.concat([digest, Buffer.from([0])])] },
      "chunk 0 must be 32 bytes, got 33",
    ],
    ["a digest as hex text", { chunks: [digest.toString("hex")] }, "chunk 0 must be a byte string"],
    [
      "a zero chunkSize",
      { size: 0, chunkSize: 0, chunks: [] },
      "chunk list chunkSize must be positive",
    ],
    [
      "a chunkSize over 16 chunks",
      { chunkSize: CHUNK_BYTES * 16 + 1 },
      `chunk list chunkSize must be a whole number from 0 to ${CHUNK_BYTES * 16}`,
    ],
    [
      "a negative size",
      { size: -1 },
      "chunk list size must be a whole number from 0 to 9007199254740991",
    ],
    ["version 2", { v: 2 }, "chunk list version is not 1"],
    ["an unknown field", { name: "a.txt" }, 'chunk list has an unknown field "name"'],
    ["chunks as a map", { chunks: {} }, "chunk list chunks is too long"],
  ])("refuse %s", (_what, changes, message) => {
    const { id, bytes } = raw({ v: 1, size: 1, chunkSize: 4, chunks: [digest], ...changes });
    expect(refusal(() => decodeChunkList(id, bytes))).toBe(message);
  });

  test("give every chunk but the last chunkSize bytes, and the last the rest", () => {
    expect([0, 1, 2].map((index) => chunkLength(list, index))).toEqual([4, 4, 2]);
    const exact: ChunkList = { size: 8, chunkSize: 4, chunks: [chunk(1), chunk(2)] };
    expect([0, 1].map((index) => chunkLength(exact, index))).toEqual([4, 4]);
    const one: ChunkList = { size: 3, chunkSize: CHUNK_BYTES, chunks: [chunk(1)] };
    expect(chunkLength(one, 0)).toBe(3);
  });
});
