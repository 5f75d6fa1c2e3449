/**
 * Two owner devices that each began epoch 1 unaware of the other (a partition) made two
 * roots: a device reads with both, and every device seals under the same one, whichever
 * order it learnt of them in; one that opens only the other says so rather than seal.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { keyEpochName, readKeyEpoch, signKeyEpoch } from "../../protocol/backup/key-epoch.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { toHex } from "../../protocol/encoding.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "../../protocol/ids.ts";
import { type KnownEpoch, openKeyring } from "./key-epochs.ts";

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
