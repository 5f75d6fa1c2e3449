/**
 * A key epoch of the zone's backups: its root opens for each device it is sealed to and
 * for the owner, and for no one else; only the owner's signature, for this zone, makes
 * one; a bit flipped anywhere is refused; and a repository keyring reads what every epoch
 * sealed, checking a blob's id with the epoch that sealed it, while sealing under the newest.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { signingKeyFromSeed } from "../ed25519.ts";
import { toHex } from "../encoding.ts";
import { ProtocolError } from "../errors.ts";
import { type DeviceId, deviceIdFromPublicKey, zoneIdFromPublicKey } from "../ids.ts";
import { MAX_KEY_EPOCH_BYTES, openKeyEpoch, readKeyEpoch, signKeyEpoch } from "./key-epoch.ts";
import { blobId, open, repositoryKeyring, repositoryKeys, seal } from "./keys.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const otherOwner = signingKeyFromSeed(new Uint8Array(32).fill(2));
const zone = zoneIdFromPublicKey(owner.publicKey);
const otherZone = zoneIdFromPublicKey(otherOwner.publicKey);
const seeds = [3, 4, 5].map((n) => new Uint8Array(32).fill(n));
const [nas, tablet, laptop] = seeds.map((seed) => {
  const key = signingKeyFromSeed(seed);
  return { seed, id: deviceIdFromPublicKey(key.publicKey), publicKey: key.publicKey };
}) as [Device, Device, Device];
const root = new Uint8Array(32).fill(9);

interface Device {
  readonly seed: Uint8Array;
  readonly id: DeviceId;
  readonly publicKey: Uint8Array;
}

function epochOne(signer = owner, forZone = zone): Uint8Array {
  return signKeyEpoch({
    zone: forZone,
    epoch: 1,
    root,
    revoked: laptop.id,
    devices: [nas.id, tablet.id],
    owner: signer,
    random: (n) => new Uint8Array(randomBytes(n)),
  });
}

const as = (device: Device) => ({ device: device.id, publicKey: device.publicKey });

describe("a key epoch", () => {
  test("opens to its root for each device sealed to and for the owner; the revoked one has no copy", () => {
    const epoch = readKeyEpoch(epochOne(), zone);
    expect({
      epoch: epoch.epoch,
      revoked: epoch.revoked,
      devices: [...epoch.devices.keys()],
    }).toEqual({ epoch: 1, revoked: laptop.id, devices: [nas.id, tablet.id].sort() });
    for (const device of [nas, tablet])
      expect(toHex(openKeyEpoch(epoch, device.seed, as(device)) as Uint8Array)).toBe(toHex(root));
    expect(toHex(openKeyEpoch(epoch, new Uint8Array(32).fill(1), "owner") as Uint8Array)).toBe(
      toHex(root),
    );
    expect(openKeyEpoch(epoch, laptop.seed, as(laptop))).toBeUndefined();
    // The laptop's key on the NAS's copy: not for it.
    expect(() =>
      openKeyEpoch(epoch, laptop.seed, { device: nas.id, publicKey: nas.publicKey }),
    ).toThrow(ProtocolError);
    expect(epochOne().length).toBeLessThan(MAX_KEY_EPOCH_BYTES);
  });

  test("is the owner's word only: another key's signature, or another zone's record, is refused", () => {
    expect(() => readKeyEpoch(epochOne(signingKeyFromSeed(nas.seed)), zone)).toThrow(
      "not signed by the zone's owner",
    );
    expect(() => readKeyEpoch(epochOne(otherOwner, otherZone), zone)).toThrow("another zone's");
  });

  test("a bit flipped anywhere is refused", () => {
    const bytes = epochOne();
    fc.assert(
      fc.property(fc.nat(bytes.length * 8 - 1), (bit) => {
        const flipped = new Uint8Array(bytes);
        flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        expect(() => readKeyEpoch(flipped, zone)).toThrow(ProtocolError);
      }),
      { numRuns: 200 },
    );
  });
});

describe("a repository keyring", () => {
  const id = "0123456789abcdef0123456789abcdef";
  const phrase = new Uint8Array(32).fill(7);
  const older = repositoryKeys(phrase, id);
  const ring = repositoryKeyring([root, phrase], id);

  test("seals under the newest epoch, which the older keys do not open", () => {
    const sealed = seal(ring, new Uint8Array([1, 2, 3]), "snapshot x", randomBytes(12));
    expect([...open(ring, sealed, "snapshot x")]).toEqual([1, 2, 3]);
    expect(() => open(older, sealed, "snapshot x")).toThrow("does not decrypt");
  });

  test("opens what an earlier epoch sealed, and names blobs as each epoch did", () => {
    const sealed = seal(older, new Uint8Array([4, 5]), "index y", randomBytes(12));
    expect([...open(ring, sealed, "index y")]).toEqual([4, 5]);
    expect(blobId(ring, new Uint8Array([6]))).not.toBe(blobId(older, new Uint8Array([6])));
  });
});
