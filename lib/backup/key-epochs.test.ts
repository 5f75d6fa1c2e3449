/**
 * Two owner devices that each began epoch 1 unaware of the other (a partition) made two
 * roots: a device reads with both, and every device seals under the same one, whichever
 * order it learnt of them in; one that opens only the other says so rather than seal.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { keyEpochName, readKeyEpoch, signKeyEpoch } from "../../protocol/backup/key-epoch.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { toHex } from "../../protocol/encoding.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "../../protocol/ids.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import {
  fileBesideSnapshot,
  type KnownEpoch,
  openKeyring,
  removeKeysOfNoSnapshot,
  targetKeyEpochs,
} from "./key-epochs.ts";
import { LocalBackend } from "./local-backend.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const zone = zoneIdFromPublicKey(owner.publicKey);
const device = (n: number) => {
  const seed = new Uint8Array(32).fill(n);
  const key = signingKeyFromSeed(seed);
  return { seed, key, id: deviceIdFromPublicKey(key.publicKey) };
};
const [nas, tablet, laptop] = [device(3), device(4), device(5)];
const phrase = new Uint8Array(32).fill(7);

function epochOne(root: Uint8Array, devices: (typeof nas)[]): KnownEpoch {
  const bytes = signKeyEpoch({
    zone,
    epoch: 1,
    root,
    revoked: laptop.id,
    devices: devices.map((d) => d.id),
    owner,
    random: (n) => new Uint8Array(randomBytes(n)),
  });
  const read = readKeyEpoch(bytes, zone);
  return { epoch: 1, name: keyEpochName(read), revoked: laptop.id, bytes };
}

describe("two roots of one epoch", () => {
  const [a, b] = [new Uint8Array(32).fill(8), new Uint8Array(32).fill(9)];
  const both = [epochOne(a, [nas, tablet]), epochOne(b, [nas])];
  const first = [...both].sort((x, y) => (x.name < y.name ? -1 : 1))[0] as KnownEpoch;
  const sealsUnder = first === both[0] ? a : b;

  test("are both read with, and every device seals under the first by name, in any order", () => {
    for (const known of [both, [...both].reverse()]) {
      const ring = openKeyring(phrase, known, { zone, device: nas });
      expect(ring.roots.map(toHex)).toEqual(
        [sealsUnder, sealsUnder === a ? b : a, phrase].map(toHex),
      );
      expect([ring.epoch, ring.unopened]).toEqual([1, undefined]);
    }
  });

  test("a device that opens only the other seals nothing: the first is unopened", () => {
    const ring = openKeyring(phrase, both, { zone, device: tablet });
    if (sealsUnder === a) expect(ring.unopened).toBeUndefined();
    else expect(ring.unopened?.name).toBe(first.name);
  });
});

describe("key epochs beside snapshots", () => {
  const root = new Uint8Array(32).fill(8);
  const genuine = epochOne(root, [nas]);
  const snapshot = (n: number) => n.toString(16).padStart(32, "0");
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });
  const target = () => {
    const dir = mkdtempSync(join(TEST_SCRATCH_ROOT, "beside-"));
    made.push(dir);
    return new LocalBackend(dir);
  };

  test("with keys/ gone, the record beside a snapshot is found; one planted under the name is passed over", async () => {
    const backend = target();
    // Planted by someone who can write to the target: another zone's record, and junk.
    const other = signingKeyFromSeed(new Uint8Array(32).fill(2));
    const planted = signKeyEpoch({
      zone: zoneIdFromPublicKey(other.publicKey),
      epoch: 1,
      root,
      revoked: laptop.id,
      devices: [nas.id],
      owner: other,
      random: (n) => new Uint8Array(randomBytes(n)),
    });
    await backend.create(`snapshot-keys/${snapshot(1)}-${genuine.name}`, planted);
    await backend.create(`snapshot-keys/${snapshot(2)}-${genuine.name}`, new Uint8Array(9));
    await fileBesideSnapshot(backend, snapshot(3), [genuine, genuine]);
    expect(await backend.list("snapshot-keys")).toContain(`${snapshot(3)}-${genuine.name}`);
    const found = await targetKeyEpochs(backend, zone);
    expect(found.map((e) => [e.name, toHex(e.bytes)])).toEqual([
      [genuine.name, toHex(genuine.bytes)],
    ]);
    // Known already (the zone state has it): nothing beside the snapshots is read.
    expect(await targetKeyEpochs(backend, zone, [genuine])).toEqual([]);
  });

  test("names planted beside snapshots past what a listing takes stop no backup: cut, the genuine read where listed", async () => {
    const dir = mkdtempSync(join(TEST_SCRATCH_ROOT, "beside-"));
    made.push(dir);
    const backend = new LocalBackend(dir, dir, 8);
    await fileBesideSnapshot(backend, snapshot(1), [genuine]);
    for (let n = 2; n < 20; n++)
      await backend.create(`snapshot-keys/${snapshot(n)}-${genuine.name}`, new Uint8Array(3));
    await expect(backend.list("snapshot-keys")).rejects.toThrow();
    await targetKeyEpochs(backend, zone);
    expect(await removeKeysOfNoSnapshot(backend)).toBe(8);
  });

  test("prune's clean-up removes the records of snapshots that are gone, and keeps the others'", async () => {
    const backend = target();
    await backend.create(`snapshots/${snapshot(1)}`, new Uint8Array(1));
    await fileBesideSnapshot(backend, snapshot(1), [genuine]);
    await fileBesideSnapshot(backend, snapshot(2), [genuine]);
    expect(await removeKeysOfNoSnapshot(backend)).toBe(1);
    expect(await backend.list("snapshot-keys")).toEqual([`${snapshot(1)}-${genuine.name}`]);
  });
});
