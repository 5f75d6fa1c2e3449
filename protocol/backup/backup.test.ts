import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ProtocolError } from "../errors.ts";
import { Chunker, DEFAULT_CHUNKER } from "./chunker.ts";
import {
  decodeConfig,
  decodeTree,
  encodeTree,
  keysFit,
  newConfig,
  openBlob,
  openIndex,
  openSnapshot,
  sealBlob,
  sealIndex,
  sealSnapshot,
} from "./formats.ts";
import { blobId, open, repositoryKeys, seal } from "./keys.ts";

const root = new Uint8Array(randomBytes(32));
const keys = repositoryKeys(root, "0".repeat(32));
const otherKeys = repositoryKeys(new Uint8Array(randomBytes(32)), "0".repeat(32));

describe("keys", () => {
  test("each repository has its own keys: the same root and another id give others", () => {
    const other = repositoryKeys(root, "1".repeat(32));
    expect(Buffer.from(other.encrypt).equals(Buffer.from(keys.encrypt))).toBe(false);
    expect(blobId(keys, new Uint8Array([1]))).not.toBe(blobId(other, new Uint8Array([1])));
  });

  test("ids are keyed: equal content, equal ids; other keys, other ids", () => {
    const data = new Uint8Array(randomBytes(1000));
    expect(blobId(keys, data)).toBe(blobId(keys, Uint8Array.from(data)));
    expect(blobId(keys, data)).not.toBe(blobId(otherKeys, data));
    expect(blobId(keys, data)).toMatch(/^[0-9a-f]{64}$/);
  });

  test("sealed pieces open only with their keys and context, and not once altered", () => {
    const sealed = seal(keys, new TextEncoder().encode("secret"), "ctx");
    expect(new TextDecoder().decode(open(keys, sealed, "ctx"))).toBe("secret");
    expect(() => open(otherKeys, sealed, "ctx")).toThrow(ProtocolError);
    expect(() => open(keys, sealed, "other ctx")).toThrow(ProtocolError);
    const flipped = Uint8Array.from(sealed);
    flipped[15] = (flipped[15] as number) ^ 1;
    expect(() => open(keys, flipped, "ctx")).toThrow(ProtocolError);
    expect(Buffer.from(sealed).includes(Buffer.from("secret"))).toBe(false);
  });
});

describe("chunker", () => {
  const chunker = new Chunker(keys.chunker);
  const cutAll = (data: Uint8Array) => {
    const lengths: number[] = [];
    for (let at = 0; at < data.length; ) {
      const length = chunker.cut(data, at, data.length);
      lengths.push(length);
      at += length;
    }
    return lengths;
  };

  test("chunks stay within the bounds and cover the input", () => {
    const data = new Uint8Array(randomBytes(24 * 1024 * 1024));
    const lengths = cutAll(data);
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(data.length);
    for (const length of lengths.slice(0, -1)) {
      expect(length).toBeGreaterThanOrEqual(DEFAULT_CHUNKER.minBytes);
      expect(length).toBeLessThanOrEqual(DEFAULT_CHUNKER.maxBytes);
    }
    const average = data.length / lengths.length;
    expect(average).toBeGreaterThan(DEFAULT_CHUNKER.minBytes);
    expect(average).toBeLessThan(DEFAULT_CHUNKER.maxBytes / 2);
  });

  test("an insertion near the start changes only the chunks around it", () => {
    const data = new Uint8Array(randomBytes(16 * 1024 * 1024));
    const shifted = new Uint8Array(data.length + 100);
    shifted.set(data.subarray(0, 1000), 0);
    shifted.set(randomBytes(100), 1000);
    shifted.set(data.subarray(1000), 1100);
    const ids = (d: Uint8Array) => {
      const out = new Set<string>();
      let at = 0;
      for (const length of cutAll(d)) {
        out.add(blobId(keys, d.subarray(at, at + length)));
        at += length;
      }
      return out;
    };
    const before = ids(data);
    const after = ids(shifted);
    const shared = [...after].filter((id) => before.has(id)).length;
    expect(shared).toBeGreaterThanOrEqual(before.size - 2);
  });

  test("another repository's secret cuts elsewhere", () => {
    const data = new Uint8Array(randomBytes(8 * 1024 * 1024));
    expect(cutAll(data)).not.toEqual(
      (() => {
        const other = new Chunker(otherKeys.chunker);
        const lengths: number[] = [];
        for (let at = 0; at < data.length; ) {
          const length = other.cut(data, at, data.length);
          lengths.push(length);
          at += length;
        }
        return lengths;
      })(),
    );
  });
});

describe("formats", () => {
  test("a config checks the phrase: the right keys fit, others do not", () => {
    const id = "a".repeat(32);
    const k = repositoryKeys(root, id);
    const config = decodeConfig(
      new TextEncoder().encode(JSON.stringify(newConfig(id, k, DEFAULT_CHUNKER, new Date()))),
    );
    expect(keysFit(config, k)).toBe(true);
    expect(keysFit(config, repositoryKeys(new Uint8Array(randomBytes(32)), id))).toBe(false);
    expect(() => decodeConfig(new TextEncoder().encode("{}"))).toThrow(ProtocolError);
    expect(() => decodeConfig(new TextEncoder().encode("not json"))).toThrow(ProtocolError);
  });

  test("blobs round-trip, compressed when that pays, and are checked against their ids", () => {
    for (const plaintext of [
      new Uint8Array(randomBytes(5000)),
      new TextEncoder().encode("abc ".repeat(5000)),
      new Uint8Array(0),
    ]) {
      const id = blobId(keys, plaintext);
      const sealed = sealBlob(keys, id, plaintext);
      expect(Buffer.from(openBlob(keys, id, sealed)).equals(Buffer.from(plaintext))).toBe(true);
      expect(() => openBlob(keys, blobId(keys, new Uint8Array([9])), sealed)).toThrow(
        ProtocolError,
      );
    }
    const text = new TextEncoder().encode("abc ".repeat(5000));
    expect(sealBlob(keys, blobId(keys, text), text).length).toBeLessThan(text.length / 10);
  });

  test("index, tree and snapshot round-trip; sealed under their names", () => {
    const blobs = [
      { id: "a".repeat(64), type: "data" as const, pack: "p1", offset: 0, length: 100, size: 90 },
      { id: "b".repeat(64), type: "tree" as const, pack: "p1", offset: 100, length: 50, size: 40 },
      { id: "c".repeat(64), type: "data" as const, pack: "p2", offset: 0, length: 10, size: 1 },
    ];
    const sealed = sealIndex(keys, "i1", blobs);
    expect(openIndex(keys, "i1", sealed)).toEqual(blobs);
    expect(() => openIndex(keys, "i2", sealed)).toThrow(ProtocolError);

    const nodes = [
      { name: "b", type: "file" as const, mode: 0o644, mtimeNs: "1", size: 3, content: ["x"] },
      { name: "a", type: "dir" as const, mode: 0o755, mtimeNs: "2", subtree: "y" },
      { name: "l", type: "symlink" as const, mode: 0o777, mtimeNs: "3", target: "../b" },
    ];
    const tree = encodeTree(nodes);
    expect(decodeTree(tree).map((n) => n.name)).toEqual(["a", "b", "l"]);
    expect(encodeTree([...nodes].reverse())).toEqual(tree);
    expect(() =>
      decodeTree(
        new TextEncoder().encode(
          '{"nodes":[{"name":"../x","type":"file","mode":1,"mtimeNs":"1","size":0,"content":[]}]}',
        ),
      ),
    ).toThrow(ProtocolError);

    const snapshot = {
      version: 1,
      time: "2026-01-01T00:00:00.000Z",
      zone: "z",
      device: "d",
      hostname: "h",
      tree: "t",
      parent: null,
      stats: { files: 1, bytes: 2, addedBytes: 3, durationMs: 4 },
    };
    expect(openSnapshot(keys, "s1", sealSnapshot(keys, "s1", snapshot))).toEqual(snapshot);
    expect(() => openSnapshot(otherKeys, "s1", sealSnapshot(keys, "s1", snapshot))).toThrow(
      ProtocolError,
    );
  });
});
