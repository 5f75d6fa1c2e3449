import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testZone } from "../state/test-db.ts";
import { Archiver, type Entry } from "./archiver.ts";
import type { Backend } from "./backend.ts";
import { LocalBackend } from "./local-backend.ts";
import { Repository } from "./repository.ts";
import { SnapshotSignatures } from "./snapshot-trust.ts";
import { StateImages } from "./state-images.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-state-images-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => {
  const dir = join(scratch, `d${dirs++}`);
  mkdirSync(dir);
  return dir;
};
const root = new Uint8Array(randomBytes(32));

async function snapshotOf(repository: Repository, state: Uint8Array, time: string) {
  const entries = new Map<string, Entry>([
    ["state.db", { kind: "bytes", bytes: state, mode: 0o600, mtimeNs: 0n }],
  ]);
  const { tree } = await new Archiver(repository, undefined).archive(entries);
  const snapshot = {
    version: 1,
    time,
    zone: testZone.id,
    device: "nas",
    hostname: "h",
    tree,
    parent: null,
    stats: { files: 1, bytes: state.length, addedBytes: 0, durationMs: 0 },
  };
  return { name: await repository.writeSnapshot(snapshot), snapshot };
}

test("a state two snapshots share is restored once, however often it is asked for", async () => {
  const location = newDir();
  const writer = await Repository.openOrCreate(new LocalBackend(location), root);
  const same = new Uint8Array(randomBytes(300_000));
  const first = await snapshotOf(writer, same, "2026-01-01T00:00:00.000Z");
  const second = await snapshotOf(writer, same, "2026-01-01T01:00:00.000Z");
  const other = await snapshotOf(writer, new Uint8Array(randomBytes(1000)), "2026-01-01T02:00Z");
  writer.close();
  const local = new LocalBackend(location);
  const packReads: string[] = [];
  const watched: Backend = Object.assign(Object.create(local) as LocalBackend, {
    readRange(path: string, offset: number, length: number) {
      packReads.push(path);
      return local.readRange(path, offset, length);
    },
  });
  const repository = await Repository.open(watched, root);
  const images = new StateImages(repository, newDir());
  try {
    const path = await images.pathOf(first);
    const read = packReads.length;
    expect(read).toBeGreaterThan(0);
    expect(await images.pathOf(second)).toBe(path as string);
    expect(await images.pathOf(first)).toBe(path as string);
    // Only the root trees read again, to find the state in them: no data blob.
    expect(packReads.length - read).toBeLessThanOrEqual(2);
    expect(new Uint8Array(readFileSync(path as string))).toEqual(same);
    const another = await images.pathOf(other);
    expect(another).not.toBe(path as string);
    images.close();
    expect(existsSync(path as string)).toBe(false);
  } finally {
    images.close();
    repository.close();
  }
});

test("a snapshot's signature is checked once against a zone, however often it is asked for", async () => {
  const repository = await Repository.openOrCreate(new LocalBackend(newDir()), root);
  try {
    const entry = await snapshotOf(repository, new Uint8Array(10), "2026-01-01T00:00:00.000Z");
    const signatures = new SnapshotSignatures(testZone.id);
    const once = signatures.of(entry);
    expect(once).toEqual({ kind: "unsigned" });
    expect(signatures.of(entry)).toBe(once);
  } finally {
    repository.close();
  }
});
