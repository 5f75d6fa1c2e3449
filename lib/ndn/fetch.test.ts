import { afterEach, describe, expect, spyOn, test } from "bun:test";
import * as fs from "node:fs";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as atomicFile from "../atomic-file.ts";
import { fetchToFile, storeSource } from "./fetch.ts";
import { ObjectStore } from "./store.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-fetch-"));
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

  test("a large object is handed to the disk as it is written, and arrives whole", async () => {
    const store = new ObjectStore(join(scratch, "store"));
    // Past the 64 MiB after which what was written is synced in the background.
    const bytes = new Uint8Array(70 * 1024 * 1024).map((_, i) => (i * 7) % 253);
    const { id } = store.putBytes(bytes);
    const synced = spyOn(fs, "fdatasync");
    const destination = join(scratch, "large.bin");
    expect(await fetchToFile(id, destination, [storeSource(store)])).toBe(bytes.length);
    expect(synced).toHaveBeenCalled();
    synced.mockRestore();
    expect(Buffer.compare(readFileSync(destination), bytes)).toBe(0);
  });
});
