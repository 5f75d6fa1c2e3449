/**
 * A chunk list decodes to exactly what was encoded, for any size and chunk size whose
 * chunk count adds up, and its id names exactly its bytes.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { ProtocolError } from "./errors.ts";
import {
  CHUNK_BYTES,
  type ChunkId,
  type ChunkList,
  type ChunkListId,
  chunkIdOf,
  chunkLength,
  decodeChunkList,
  encodeChunkList,
  parseObjectId,
} from "./ndn.ts";

const chunkId = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((digest) => `sha256:${Buffer.from(digest).toString("hex")}` as ChunkId);

/** A consistent list: every chunk but the last is chunkSize bytes, the last 1 to chunkSize. */
const chunkList: fc.Arbitrary<ChunkList> = fc
  .record({
    chunkSize: fc.integer({ min: 1, max: CHUNK_BYTES * 16 }),
    chunks: fc.array(chunkId, { maxLength: 40 }),
    lastFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ chunkSize, chunks, lastFraction }) => {
    const last = Math.max(1, Math.ceil(lastFraction * chunkSize));
    const size = chunks.length === 0 ? 0 : (chunks.length - 1) * chunkSize + last;
    return { size, chunkSize, chunks };
  });

function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("chunk lists", () => {
  test("round-trip and are named by the SHA-256 of their bytes", () => {
    fc.assert(
      fc.property(chunkList, (list) => {
        const { id, bytes } = encodeChunkList(list);
        expect(parseObjectId(id)).toEqual({ kind: "list", id });
        expect(id).toBe(`clist:${createHash("sha256").update(bytes).digest("hex")}` as ChunkListId);
        expect(decodeChunkList(id, bytes)).toEqual(list);
      }),
      { numRuns: 300 },
    );
  });

  test("give chunk lengths that add up to the size, each 1 to chunkSize", () => {
    fc.assert(
      fc.property(chunkList, (list) => {
        const lengths = list.chunks.map((_, index) => chunkLength(list, index));
        expect(lengths.reduce((sum, length) => sum + length, 0)).toBe(list.size);
        for (const length of lengths) {
          expect(length).toBeGreaterThanOrEqual(1);
          expect(length).toBeLessThanOrEqual(list.chunkSize);
        }
        expect(lengths.slice(0, -1).every((length) => length === list.chunkSize)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test("refuse a size that does not match the chunk count", () => {
    fc.assert(
      fc.property(chunkList, fc.integer({ min: 0, max: 2 ** 40 }), (list, size) => {
        fc.pre(Math.ceil(size / list.chunkSize) !== list.chunks.length);
        const { id, bytes } = encodeChunkList({ ...list, size });
        expect(errorOf(() => decodeChunkList(id, bytes))).toEqual(
          new ProtocolError("chunk list size does not match its number of chunks"),
        );
      }),
      { numRuns: 300 },
    );
  });

  test("refuse their bytes with any bit flipped", () => {
    fc.assert(
      fc.property(chunkList, fc.nat(), fc.nat(7), (list, position, bit) => {
        const { id, bytes } = encodeChunkList(list);
        const index = position % bytes.length;
        bytes[index] = (bytes[index] as number) ^ (1 << bit);
        expect(errorOf(() => decodeChunkList(id, bytes))).toEqual(
          new ProtocolError(`the bytes received for ${id} do not hash to it`),
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe("chunk ids", () => {
  test("are sha256: and the hex SHA-256 of any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        const id = chunkIdOf(bytes);
        expect(id).toBe(`sha256:${createHash("sha256").update(bytes).digest("hex")}` as ChunkId);
        expect(parseObjectId(id)).toEqual({ kind: "chunk", id });
      }),
      { numRuns: 300 },
    );
  });
});
