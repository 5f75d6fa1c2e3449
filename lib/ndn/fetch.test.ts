import { afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import * as nodeCrypto from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ChunkId,
  type ChunkListId,
  chunkIdOf,
  encodeChunkList,
  type ObjectId,
} from "../../protocol/ndn.ts";
import * as atomicFile from "../atomic-file.ts";
import { BuckyError } from "../errors.ts";
import {
  fetchHead,
  fetchToFile,
  fetchToStore,
  type ObjectSource,
  PARALLEL_CHUNKS,
  storeSource,
} from "./fetch.ts";
import { ObjectStore } from "./store.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-fetch-"));
beforeEach(() => mkdirSync(scratch, { recursive: true }));
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

describe("fetchToFile", () => {
  test("makes the file's name durable before it says it is done: its directory is synced", async () => {
    const store = new ObjectStore(join(scratch, "store"));
    const bytes = new Uint8Array(10_000).map((_, i) => i % 251);
    const { id } = store.putBytes(bytes);
    const synced = spyOn(atomicFile, "fsyncDirectory");
    const destination = join(scratch, "out.bin");
    expect(await fetchToFile(id, destination, [storeSource(store)])).toBe(bytes.length);
    expect(new Uint8Array(readFileSync(destination))).toEqual(bytes);
    expect(synced).toHaveBeenCalledWith(scratch);
    synced.mockRestore();
  });

  test("an object of whole chunks and a tail arrives whole", async () => {
    const store = new ObjectStore(join(scratch, "store"));
    const bytes = new Uint8Array(9 * 1024 * 1024 + 100).map((_, i) => (i * 7) % 253);
    const { id } = store.putBytes(bytes);
    const destination = join(scratch, "large.bin");
    expect(await fetchToFile(id, destination, [storeSource(store)])).toBe(bytes.length);
    expect(Buffer.compare(readFileSync(destination), bytes)).toBe(0);
  });
});

/** A file of `count` small chunks, as a chunk list a test source serves. */
function smallChunks(count: number, chunkSize = 1024) {
  const parts = Array.from({ length: count }, (_, i) =>
    new Uint8Array(chunkSize).map((_, j) => (i * 31 + j) % 251),
  );
  const chunks = parts.map((part) => chunkIdOf(part));
  const list = encodeChunkList({ size: count * chunkSize, chunkSize, chunks });
  const byId = new Map<ObjectId, Uint8Array>([[list.id, list.bytes]]);
  for (const [i, chunk] of chunks.entries()) byId.set(chunk, parts[i] as Uint8Array);
  return { id: list.id, chunks, byId };
}

describe("fetchToFile, when a chunk is wrong while others are in flight", () => {
  test("fails as an integrity error, calls the others off, and writes nowhere after it says so", async () => {
    const { id, chunks, byId } = smallChunks(4);
    // Chunk 1 arrives altered at once; 0, 2 and 3 are held until the test lets them go,
    // or until the fetch calls them off.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calledOff = 0;
    const source: ObjectSource = {
      name: "test peer",
      async fetch(objectId, signal) {
        const bytes = byId.get(objectId);
        if (objectId === chunks[1]) return (bytes as Uint8Array).map((b) => b ^ 1);
        if (objectId === id) return bytes;
        const aborted = new Promise<never>((_, reject) =>
          signal?.addEventListener("abort", () => {
            calledOff++;
            reject(signal.reason);
          }),
        );
        await Promise.race([held, aborted]);
        return bytes;
      },
    };
    const destination = join(scratch, "out.bin");
    const error = await fetchToFile(id, destination, [source]).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(BuckyError);
    expect((error as BuckyError).code).toBe("E_INTEGRITY");
    // Every other chunk under way when it failed.
    expect(calledOff).toBe(PARALLEL_CHUNKS - 1);
    // The file descriptor the fetch wrote through is free again: the next file opened
    // gets its number. A chunk still on its way must not land in that file.
    const other = join(scratch, "other.bin");
    const fd = openSync(other, "w");
    release();
    await new Promise((resolve) => setImmediate(resolve));
    closeSync(fd);
    expect(statSync(other).size).toBe(0);
    expect(readdirSync(scratch)).toEqual(["other.bin"]);
  });

  test("a chunk whose hashing fails fails the fetch with that error, and leaves no file", async () => {
    const { id, byId } = smallChunks(3);
    const source: ObjectSource = {
      name: "test peer",
      fetch: async (objectId) => byId.get(objectId),
    };
    const digest = spyOn(nodeCrypto, "createHash").mockImplementation(() => {
      throw new Error("the hashing failed");
    });
    const destination = join(scratch, "out.bin");
    try {
      await expect(fetchToFile(id, destination, [source])).rejects.toThrow("the hashing failed");
    } finally {
      digest.mockRestore();
    }
    expect(readdirSync(scratch)).toEqual([]);
  });

  test("bytes from a source that sends wrong ones are never written, and the next source's are", async () => {
    const { id, chunks, byId } = smallChunks(6);
    const written: number[] = [];
    const liar: ObjectSource = {
      name: "liar",
      fetch: async (objectId) => {
        const bytes = byId.get(objectId);
        return objectId === chunks[2] ? (bytes as Uint8Array).map((b) => b ^ 0xff) : bytes;
      },
    };
    const honest: ObjectSource = {
      name: "honest",
      fetch: async (objectId) => {
        if (objectId === chunks[2]) written.push(2);
        return byId.get(objectId);
      },
    };
    const destination = join(scratch, "out.bin");
    expect(await fetchToFile(id, destination, [liar, honest])).toBe(6 * 1024);
    expect(written).toEqual([2]);
    const expected = Buffer.concat(chunks.map((chunk) => byId.get(chunk) as Uint8Array));
    expect(Buffer.compare(readFileSync(destination), expected)).toBe(0);
  });
});

describe("fetchToFile, from sources that receive chunks into the buffers they are given", () => {
  test("each chunk goes into one of a few buffers used again, and a liar's bytes there are replaced by the next source's", async () => {
    const { id, chunks, byId } = smallChunks(10, 64 * 1024);
    const buffers = new Set<ArrayBufferLike>();
    const receiving = (name: string, alter: (objectId: ObjectId) => boolean): ObjectSource => ({
      name,
      fetch: async (objectId, _signal, into) => {
        const bytes = byId.get(objectId);
        if (!bytes || !into) return bytes;
        buffers.add(into.buffer);
        into.set(alter(objectId) ? bytes.map((b) => b ^ 1) : bytes);
        return into.subarray(0, bytes.length);
      },
    });
    const liar = receiving("liar", (objectId) => objectId === chunks[3]);
    const honest = receiving("honest", () => false);
    const destination = join(scratch, "out.bin");
    expect(await fetchToFile(id, destination, [liar, honest])).toBe(10 * 64 * 1024);
    const expected = Buffer.concat(chunks.map((chunk) => byId.get(chunk) as Uint8Array));
    expect(Buffer.compare(readFileSync(destination), expected)).toBe(0);
    // As many buffers as chunks move at once, not one for each chunk.
    expect(buffers.size).toBeGreaterThan(0);
    expect(buffers.size).toBeLessThanOrEqual(PARALLEL_CHUNKS);
  });
});

/**
 * The lengths of everything SHA-256 hashes while `work` runs, on this thread (node:crypto)
 * or off it (WebCrypto).
 */
async function hashedLengths(work: () => Promise<unknown>): Promise<number[]> {
  const lengths: number[] = [];
  const createHash = nodeCrypto.createHash;
  const digest = crypto.subtle.digest.bind(crypto.subtle);
  const spies = [
    spyOn(nodeCrypto, "createHash").mockImplementation(((algorithm: string) => {
      const hash = createHash(algorithm);
      const update = hash.update.bind(hash);
      hash.update = ((data: Uint8Array) => {
        lengths.push(data.length);
        return update(data);
      }) as typeof hash.update;
      return hash;
    }) as typeof createHash),
    spyOn(crypto.subtle, "digest").mockImplementation((algorithm, data) => {
      lengths.push((data as Uint8Array).byteLength);
      return digest(algorithm, data);
    }),
  ];
  try {
    await work();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return lengths;
}

describe("each byte is hashed once", () => {
  test("fetched into a store: the store does not check again what the fetch checked", async () => {
    const chunkSize = 1000;
    const { id, byId } = smallChunks(3, chunkSize);
    const source: ObjectSource = {
      name: "test peer",
      fetch: async (objectId) => byId.get(objectId),
    };
    const store = new ObjectStore(join(scratch, "store"));
    const lengths = await hashedLengths(() => fetchToStore(id, store, [source]));
    expect(lengths.filter((length) => length === chunkSize)).toHaveLength(3);
    expect(store.holdsWhole(id)).toBe(true);
  });

  test("put into a store: a chunk named by its hash is not hashed again to check it", async () => {
    const store = new ObjectStore(join(scratch, "store"));
    const bytes = new Uint8Array(10_000).map((_, i) => i % 249);
    const lengths = await hashedLengths(async () => store.putBytes(bytes));
    expect(lengths.filter((length) => length === bytes.length)).toHaveLength(1);
  });

  test("a store still refuses a chunk handed to it with bytes that are not its own", () => {
    const store = new ObjectStore(join(scratch, "store"));
    const { chunks, byId } = smallChunks(2);
    expect(() =>
      store.writeChunk(chunks[0] as ChunkId, byId.get(chunks[1] as ChunkId) as Uint8Array),
    ).toThrow("do not hash to it");
  });
});

describe("fetchToStore with a limit", () => {
  test("an object its list says is larger is refused before any chunk is asked for", async () => {
    const chunkSize = 1000;
    const { id, byId } = smallChunks(3, chunkSize);
    const asked: ObjectId[] = [];
    const source: ObjectSource = {
      name: "test peer",
      fetch: async (objectId) => {
        asked.push(objectId);
        return byId.get(objectId);
      },
    };
    const store = new ObjectStore(join(scratch, "store"));
    const limit = { bytes: 3 * chunkSize - 1, what: "an app package" };
    const refused = await fetchToStore(id, store, [source], { limit }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BuckyError);
    expect((refused as BuckyError).message).toBe(
      `${id} is 3000 bytes: larger than an app package can be (2999 bytes)`,
    );
    expect([asked, store.holdsWhole(id)]).toEqual([[id], false]);
    // Nor is its list kept: many ids said to be small would leave theirs on every device.
    expect(existsSync(store.listPath(id as ChunkListId))).toBe(false);
    // The control: one byte more of room, and it is fetched whole.
    await fetchToStore(id, store, [source], { limit: { ...limit, bytes: 3 * chunkSize } });
    expect(store.holdsWhole(id)).toBe(true);
  });
});

describe("fetchToStore, a list naming chunks larger than it says", () => {
  // A member's record says 4 bytes; its list, of chunks of one byte, names chunks of 64 KiB.
  const big = Array.from({ length: 4 }, (_, i) => new Uint8Array(64 * 1024).fill(i + 1));
  const lying = encodeChunkList({ size: 4, chunkSize: 1, chunks: big.map((b) => chunkIdOf(b)) });
  const byId = new Map<ObjectId, Uint8Array>([[lying.id, lying.bytes]]);
  for (const bytes of big) byId.set(chunkIdOf(bytes), bytes);
  const source: ObjectSource = { name: "test peer", fetch: async (objectId) => byId.get(objectId) };

  test("is refused as damaged, none of its chunks kept, and the store does not hold it whole", async () => {
    const store = new ObjectStore(join(scratch, "store"));
    const refused = await fetchToStore(lying.id, store, [source]).catch((e: unknown) => e);
    expect((refused as BuckyError).code).toBe("E_INTEGRITY");
    expect((refused as BuckyError).message).toMatch(
      /^chunk \d of clist:[0-9a-f]+ has the wrong length$/,
    );
    expect(big.some((b) => store.hasChunk(chunkIdOf(b)))).toBe(false);
    expect(store.holdsWhole(lying.id)).toBe(false);
  });

  test("nor taken as whole from chunks already here (stored for another object)", async () => {
    const store = new ObjectStore(join(scratch, "store"));
    for (const bytes of big) store.putBytes(bytes);
    const refused = await fetchToStore(lying.id, store, [source]).catch((e: unknown) => e);
    expect((refused as BuckyError).code).toBe("E_INTEGRITY");
    expect(store.holdsWhole(lying.id)).toBe(false);
  });
});

describe("fetchHead", () => {
  test("a chunk shorter than its list says is refused, not read as zeros", async () => {
    const short = new TextEncoder().encode("abc");
    const whole = new TextEncoder().encode("defghijk");
    // Eight bytes a chunk, the first of three: the list's id holds, its chunks do not.
    const list = encodeChunkList({
      size: 11,
      chunkSize: 8,
      chunks: [chunkIdOf(short), chunkIdOf(whole)],
    });
    const byId = new Map<ObjectId, Uint8Array>([
      [list.id, list.bytes],
      [chunkIdOf(short), short],
      [chunkIdOf(whole), whole],
    ]);
    const source: ObjectSource = { name: "test peer", fetch: async (id) => byId.get(id) };
    const error = await fetchHead(list.id, [source], 1024).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(BuckyError);
    expect((error as BuckyError).code).toBe("E_INTEGRITY");
  });
});
