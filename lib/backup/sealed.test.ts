import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { DEFAULT_CHUNKER } from "../../protocol/backup/chunker.ts";
import {
  type BlobLocation,
  decodeConfig,
  decodeIndex,
  encodeIndex,
  MAX_SNAPSHOT_FILE_BYTES,
} from "../../protocol/backup/formats.ts";
import { blobId, repositoryKeys } from "../../protocol/backup/keys.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { testZone } from "../state/test-db.ts";
import {
  decompressWithin,
  keysFit,
  newConfig,
  openBlob,
  openIndex,
  openSnapshot,
  sealBlob,
  sealIndex,
  sealSnapshot,
} from "./sealed.ts";

const root = new Uint8Array(randomBytes(32));
const keys = repositoryKeys(root, "0".repeat(32));
const otherKeys = repositoryKeys(new Uint8Array(randomBytes(32)), "0".repeat(32));

describe("sealed files", () => {
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
      expect(
        Buffer.from(openBlob(keys, id, sealed, plaintext.length)).equals(Buffer.from(plaintext)),
      ).toBe(true);
      expect(() => openBlob(keys, blobId(keys, new Uint8Array([9])), sealed, 20_000)).toThrow(
        ProtocolError,
      );
    }
    const text = new TextEncoder().encode("abc ".repeat(5000));
    expect(sealBlob(keys, blobId(keys, text), text).length).toBeLessThan(text.length / 10);
  });

  test("index and snapshot round-trip, sealed under their names", () => {
    const blobs = [
      {
        id: "a".repeat(64),
        type: "data" as const,
        pack: "1".repeat(64),
        offset: 0,
        length: 100,
        size: 90,
      },
      {
        id: "b".repeat(64),
        type: "tree" as const,
        pack: "1".repeat(64),
        offset: 100,
        length: 50,
        size: 40,
      },
      {
        id: "c".repeat(64),
        type: "data" as const,
        pack: "2".repeat(64),
        offset: 0,
        length: 10,
        size: 1,
      },
    ];
    const sealed = sealIndex(keys, "i1", blobs);
    expect(openIndex(keys, "i1", sealed)).toEqual({ blobs });
    expect(() => openIndex(keys, "i2", sealed)).toThrow(ProtocolError);

    const snapshot = {
      version: 1,
      time: "2026-01-01T00:00:00.000Z",
      zone: testZone.id,
      device: "d",
      hostname: "h",
      tree: "d".repeat(64),
      parent: null,
      stats: { files: 1, bytes: 2, addedBytes: 3, durationMs: 4 },
    };
    expect(openSnapshot(keys, "s1", sealSnapshot(keys, "s1", snapshot))).toEqual(snapshot);
    expect(() => openSnapshot(otherKeys, "s1", sealSnapshot(keys, "s1", snapshot))).toThrow(
      ProtocolError,
    );
  });

  test("a snapshot's fields are checked where read: any holder of the backup key writes them", () => {
    const snapshot = {
      version: 1,
      time: "2026-01-01T00:00:00.000Z",
      zone: testZone.id,
      device: "nas",
      hostname: "box",
      tree: "d".repeat(64),
      parent: "a".repeat(32),
      stats: { files: 1, bytes: 2, addedBytes: 3, durationMs: 4 },
    };
    const opens = (changed: Record<string, unknown>) => {
      try {
        openSnapshot(keys, "s1", sealSnapshot(keys, "s1", { ...snapshot, ...changed } as never));
        return "opens";
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        return error.message;
      }
    };
    expect(opens({})).toBe("opens");
    expect(opens({ device: "../../etc" })).toBe("snapshot s1 names no device");
    expect(opens({ device: "nas\u001b[2J" })).toBe("snapshot s1 names no device");
    expect(opens({ device: 7 })).toBe("snapshot s1 names no device");
    expect(opens({ zone: "z" })).toBe("snapshot s1 names no zone");
    expect(opens({ hostname: "box\nforged line" })).toBe("snapshot s1 has a malformed hostname");
    expect(opens({ hostname: "h".repeat(256) })).toBe("snapshot s1 has a malformed hostname");
    expect(opens({ parent: "../x" })).toBe("snapshot s1 has a malformed parent");
    expect(opens({ parent: "a".repeat(65) })).toBe("snapshot s1 has a malformed parent");
    expect(opens({ time: "2026\u0000" })).toBe("snapshot s1 is malformed");
    // Its counts are printed by `backup list` and the panel: counts, or it does not open.
    const stats = snapshot.stats;
    expect(opens({ stats: { ...stats, files: "\u001b[2J" } })).toBe("snapshot s1 is malformed");
    expect(opens({ stats: { ...stats, bytes: null } })).toBe("snapshot s1 is malformed");
    expect(opens({ stats: { ...stats, addedBytes: -1 } })).toBe("snapshot s1 is malformed");
    expect(opens({ stats: { ...stats, durationMs: 1.5 } })).toBe("snapshot s1 is malformed");
    expect(opens({ hostname: "x".repeat(MAX_SNAPSHOT_FILE_BYTES) })).toBe(
      "snapshot s1 is too large",
    );
  });
});

describe("what an index or hot file decompresses to", () => {
  test("is bounded: a few KiB standing for far more stop at the bound, not after", () => {
    // 64 MiB of zeros is about 2 KiB of zstd: what a holder of the key could file.
    const bomb = Bun.zstdCompressSync(new Uint8Array(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect(() => decompressWithin(bomb, 1024 * 1024, "hot file x")).toThrow(
      "hot file x decompresses to over 1048576 bytes",
    );
    // Within it, the bytes as they were.
    const small = new TextEncoder().encode("changesets");
    expect(decompressWithin(Bun.zstdCompressSync(small), 1024, "hot file y")).toEqual(small);
    expect(() => decompressWithin(new Uint8Array([1, 2, 3]), 1024, "index z")).toThrow(
      "index z does not decompress",
    );
  });
});

describe("an index file, any holder of the backup key's to write", () => {
  const entries = (count: number, id: (at: number) => string): BlobLocation[] =>
    Array.from({ length: count }, (_, at) => ({
      id: id(at),
      type: "data" as const,
      pack: "ab".repeat(32),
      offset: at * 1_048_605,
      length: 1_048_605,
      size: 1_048_576,
    }));

  test("opens when it names what its sealed size can honestly hold: blobs with random ids", () => {
    for (const count of [1, 20_000]) {
      const blobs = entries(count, () => randomBytes(32).toString("hex"));
      expect(openIndex(keys, "i", sealIndex(keys, "i", blobs)).blobs).toEqual(blobs);
    }
  });

  test("is refused when it names more than its sealed size can honestly hold, before it is parsed", () => {
    // Made-up ids that compress to almost nothing: some 1 byte a blob, sealed.
    const sealed = sealIndex(
      keys,
      "i",
      entries(100_000, (at) => at.toString(16).padStart(64, "0")).map((blob) => ({
        ...blob,
        offset: 0,
      })),
    );
    expect(sealed.length).toBeLessThan(200_000);
    expect(() => openIndex(keys, "i", sealed)).toThrow(
      `, more than its ${sealed.length} sealed bytes can honestly hold`,
    );
  });

  test("names at most the blobs its bound allows, whatever its JSON says", () => {
    const bytes = encodeIndex(entries(3, (at) => at.toString(16).padStart(64, "0")));
    expect(decodeIndex("i", bytes, 3).blobs.length).toBe(3);
    expect(() => decodeIndex("i", bytes, 2, ": why")).toThrow(
      "index i names more than 2 blobs: why",
    );
  });
});
