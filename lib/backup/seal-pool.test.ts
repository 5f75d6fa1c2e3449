import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { repositoryKeys } from "../../protocol/backup/keys.ts";
import { SealPool } from "./seal-pool.ts";
import { openBlob } from "./sealed.ts";

const keys = repositoryKeys(new Uint8Array(randomBytes(32)), "test-repository");

describe("SealPool", () => {
  test("blobs named and sealed on workers open to what went in", async () => {
    const pool = new SealPool(keys, 2);
    try {
      const plaintexts = [0, 1, 2, 3].map((i) => new Uint8Array(randomBytes(1000 + i)));
      const blobs = await Promise.all(plaintexts.map((p) => pool.hash(p)));
      const sealed = await Promise.all(blobs.map((blob) => pool.seal(blob)));
      sealed.forEach((bytes, i) => {
        expect(openBlob(keys, blobs[i]?.id as string, bytes, 2000)).toEqual(
          plaintexts[i] as Uint8Array,
        );
      });
    } finally {
      pool.close();
    }
  });

  test("a worker that fails fails what it held, and the pool takes no more work", async () => {
    // A key the cipher refuses makes the worker throw while it seals.
    const pool = new SealPool({ encrypt: new Uint8Array(3), id: keys.id }, 1);
    try {
      const blob = await pool.hash(new Uint8Array(100));
      await expect(pool.seal(blob)).rejects.toThrow("a seal worker failed");
      await expect(pool.hash(new Uint8Array(100))).rejects.toThrow("a seal worker failed");
    } finally {
      pool.close();
    }
  });
});
