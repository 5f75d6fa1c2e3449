import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ProtocolError } from "../errors.ts";
import { Chunker, DEFAULT_CHUNKER } from "./chunker.ts";
import { decodeTree, encodeTree } from "./formats.ts";
import { blobId, NONCE_BYTES, open, repositoryKeys, seal } from "./keys.ts";

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
    const sealed = seal(
      keys,
      new TextEncoder().encode("secret"),
      "ctx",
      new Uint8Array(randomBytes(NONCE_BYTES)),
    );
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

describe("trees", () => {
  test("sorted by name, so a directory is the same blob whatever order it was read in", () => {
    const nodes = [
      { name: "b", type: "file" as const, mode: 0o644, mtimeNs: "1", size: 3, content: ["x"] },
      { name: "a", type: "dir" as const, mode: 0o755, mtimeNs: "2", subtree: "y" },
      { name: "l", type: "symlink" as const, mode: 0o777, mtimeNs: "3", target: "../b" },
    ];
    const tree = encodeTree(nodes);
    expect(decodeTree(tree).map((n) => n.name)).toEqual(["a", "b", "l"]);
    expect(encodeTree([...nodes].reverse())).toEqual(tree);
  });

  test("a name that would climb out of the restore directory, or no file system takes, is refused", () => {
    for (const name of ["../x", "a/b", "..", ".", "a\0b"]) {
      const bytes = new TextEncoder().encode(
        JSON.stringify({
          nodes: [{ name, type: "file", mode: 1, mtimeNs: "1", size: 0, content: [] }],
        }),
      );
      expect(() => decodeTree(bytes)).toThrow(ProtocolError);
    }
  });

  test("a name twice, or a time that is no number, is refused", () => {
    const entry = { name: "a", type: "file", mode: 1, mtimeNs: "1", size: 0, content: [] };
    for (const nodes of [[entry, entry], [{ ...entry, mtimeNs: "soon" }]]) {
      const bytes = new TextEncoder().encode(JSON.stringify({ nodes }));
      expect(() => decodeTree(bytes)).toThrow(ProtocolError);
    }
  });
});
