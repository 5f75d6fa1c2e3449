import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { signingKeyFromSeed } from "../ed25519.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "../ids.ts";
import { backupKeyProof, openEpochGrant, sealEpochGrant } from "./epoch-grant.ts";
import { readKeyEpoch, signKeyEpoch } from "./key-epoch.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const zone = zoneIdFromPublicKey(owner.publicKey);
const device = (n: number) => {
  const seed = new Uint8Array(32).fill(n);
  const key = signingKeyFromSeed(seed);
  return { seed, publicKey: key.publicKey, id: deviceIdFromPublicKey(key.publicKey) };
};
const [nas, watch, laptop] = [device(3), device(4), device(5)];
const random = (n: number) => new Uint8Array(randomBytes(n));
const root = new Uint8Array(32).fill(8);
const epoch = readKeyEpoch(
  signKeyEpoch({ zone, epoch: 1, root, revoked: laptop.id, devices: [nas.id], owner, random }),
  zone,
);

describe("a key epoch given on to a device left out of it", () => {
  test("opens to that device, as the epoch's root", () => {
    const sealed = sealEpochGrant({
      epoch,
      root,
      recipient: watch.id,
      publicKey: watch.publicKey,
      random,
    });
    expect(
      openEpochGrant({
        epoch,
        sealed,
        device: watch.id,
        publicKey: watch.publicKey,
        seed: watch.seed,
      }),
    ).toEqual(root);
  });

  test("opens to no other device, nor altered, nor as another epoch's", () => {
    const sealed = sealEpochGrant({
      epoch,
      root,
      recipient: watch.id,
      publicKey: watch.publicKey,
      random,
    });
    expect(() =>
      openEpochGrant({
        epoch,
        sealed,
        device: laptop.id,
        publicKey: laptop.publicKey,
        seed: laptop.seed,
      }),
    ).toThrow("does not open");
    for (let at = 0; at < sealed.length; at += 7) {
      const flipped = new Uint8Array(sealed);
      flipped[at] = (flipped[at] as number) ^ 1;
      expect(() =>
        openEpochGrant({
          epoch,
          sealed: flipped,
          device: watch.id,
          publicKey: watch.publicKey,
          seed: watch.seed,
        }),
      ).toThrow();
    }
    const other = readKeyEpoch(
      signKeyEpoch({ zone, epoch: 2, root, revoked: laptop.id, devices: [nas.id], owner, random }),
      zone,
    );
    expect(() =>
      openEpochGrant({
        epoch: other,
        sealed,
        device: watch.id,
        publicKey: watch.publicKey,
        seed: watch.seed,
      }),
    ).toThrow("does not open");
  });

  test("a root that is not the epoch's is neither given nor taken", () => {
    const wrong = new Uint8Array(32).fill(9);
    expect(() =>
      sealEpochGrant({
        epoch,
        root: wrong,
        recipient: watch.id,
        publicKey: watch.publicKey,
        random,
      }),
    ).toThrow("not the epoch's root");
  });

  test("the proof of holding the backup key is the device's own, and the root's", () => {
    const proof = backupKeyProof(root, zone, watch.id);
    expect(proof).toBe(backupKeyProof(root, zone, watch.id));
    expect(proof).not.toBe(backupKeyProof(root, zone, laptop.id));
    expect(proof).not.toBe(backupKeyProof(new Uint8Array(32).fill(9), zone, watch.id));
    expect(proof.length).toBeLessThanOrEqual(64);
  });
});
