/**
 * The golden vectors in fixtures/protocol/vectors.json, checked against today's code: the
 * same fixed inputs must give exactly the same bytes, and the stored bytes must decode and
 * verify. If this fails, the wire format changed by accident. A wire type that has
 * shipped is never edited: a change is a new version (a new typ, a new changeset `v`) with
 * new vectors beside these, and these go on verifying.
 */
import { describe, expect, test } from "bun:test";
import { ed25519 } from "@noble/curves/ed25519.js";
import { decodeCbor } from "./cbor.ts";
import {
  type ChangesetBody,
  decodeChangeset,
  signChangeset,
  verifyChangeset,
} from "./changeset.ts";
import {
  signDeviceDocument,
  signZoneDocument,
  verifyDeviceDocument,
  verifyZoneDocument,
} from "./documents.ts";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromHex, toHex, utf8 } from "./encoding.ts";
import { deviceIdFromPublicKey, type ZoneId, zoneIdFromPublicKey } from "./ids.ts";
import type { DeviceName, ZoneName } from "./names.ts";
import { checkPhrase, deriveBackupRoot, deriveOwnerSeed, phraseFromEntropy } from "./phrase.ts";

interface ChangesetVector {
  seq: number;
  prevHex: string | null;
  hlc: { ms: number; counter: number };
  ops: { key: string; value: string | null }[];
  entryHex: string;
  bodyHashHex: string;
}

interface Vectors {
  phrase: {
    entropyHex: string;
    words: string;
    ownerSeedHex: string;
    backupRootHex: string;
    ownerPublicKeyHex: string;
    zoneId: string;
  };
  device: { seedHex: string; publicKeyHex: string; deviceId: string };
  zoneDocument: { name: string; issuedAt: number; jws: string };
  deviceDocument: { name: string; issuedAt: number; jws: string };
  changesets: ChangesetVector[];
}

const vectors = (await Bun.file(
  new URL("../fixtures/protocol/vectors.json", import.meta.url),
).json()) as Vectors;

function bytes(hex: string): Uint8Array {
  const decoded = fromHex(hex);
  if (decoded === undefined) throw new Error(`vectors.json holds bad hex: ${hex.slice(0, 40)}`);
  return decoded;
}

const entropy = bytes(vectors.phrase.entropyHex);
const owner = signingKeyFromSeed(bytes(vectors.phrase.ownerSeedHex));
const device = signingKeyFromSeed(bytes(vectors.device.seedHex));
const zoneId = vectors.phrase.zoneId as ZoneId;

describe("golden vectors: identity", () => {
  test("the entropy gives the phrase, and the phrase gives back the entropy", () => {
    expect(phraseFromEntropy(entropy)).toBe(vectors.phrase.words);
    expect(checkPhrase(vectors.phrase.words)).toEqual({ ok: true, entropy });
  });

  test("the entropy gives the owner seed and the backup root", () => {
    expect(toHex(deriveOwnerSeed(entropy))).toBe(vectors.phrase.ownerSeedHex);
    expect(toHex(deriveBackupRoot(entropy))).toBe(vectors.phrase.backupRootHex);
  });

  test("the owner seed gives the owner public key and the zone id", () => {
    expect(toHex(owner.publicKey)).toBe(vectors.phrase.ownerPublicKeyHex);
    expect(zoneIdFromPublicKey(owner.publicKey)).toBe(zoneId);
  });

  test("the device seed gives the device public key and id", () => {
    expect(toHex(device.publicKey)).toBe(vectors.device.publicKeyHex);
    expect<string>(deviceIdFromPublicKey(device.publicKey)).toBe(vectors.device.deviceId);
  });
});

describe("golden vectors: documents", () => {
  const { zoneDocument, deviceDocument } = vectors;

  test("signing the zone document gives exactly the stored JWS", () => {
    const signed = signZoneDocument(
      { name: zoneDocument.name as ZoneName, issuedAt: zoneDocument.issuedAt },
      owner,
    );
    expect(signed.jws).toBe(zoneDocument.jws);
  });

  test("the stored zone document verifies", () => {
    expect(verifyZoneDocument(zoneDocument.jws, zoneId)).toEqual({
      id: zoneId,
      name: zoneDocument.name as ZoneName,
      issuedAt: zoneDocument.issuedAt,
      jws: zoneDocument.jws,
    });
  });

  test("signing the device document gives exactly the stored JWS", () => {
    const signed = signDeviceDocument(
      {
        name: deviceDocument.name as DeviceName,
        devicePublicKey: device.publicKey,
        issuedAt: deviceDocument.issuedAt,
      },
      owner,
    );
    expect(signed.jws).toBe(deviceDocument.jws);
  });

  test("the stored device document verifies in its zone", () => {
    const verified = verifyDeviceDocument(deviceDocument.jws, zoneId);
    expect(verified.id).toBe(deviceIdFromPublicKey(device.publicKey));
    expect(verified.name).toBe(deviceDocument.name as DeviceName);
    expect(verified.issuedAt).toBe(deviceDocument.issuedAt);
  });
});

describe("golden vectors: changesets", () => {
  const authorKey = verifyKeyFromPublicKey(device.publicKey);
  const [genesis, second] = vectors.changesets;
  if (genesis === undefined || second === undefined)
    throw new Error("vectors.json lost a changeset");

  function bodyOf(vector: ChangesetVector): ChangesetBody {
    return {
      zone: zoneId,
      author: deviceIdFromPublicKey(device.publicKey),
      seq: vector.seq,
      prev: vector.prevHex === null ? null : bytes(vector.prevHex),
      hlc: vector.hlc,
      ops: vector.ops,
    };
  }

  test.each([
    ["genesis", genesis],
    ["second", second],
  ])("signing the %s changeset gives exactly the stored entry and body hash", (_name, vector) => {
    const signed = signChangeset(bodyOf(vector), device);
    expect(toHex(signed.bytes)).toBe(vector.entryHex);
    expect(toHex(signed.hash)).toBe(vector.bodyHashHex);
  });

  test.each([
    ["genesis", genesis],
    ["second", second],
  ])("the stored %s entry decodes to its body and verifies", (_name, vector) => {
    const decoded = decodeChangeset(bytes(vector.entryHex));
    const body = bodyOf(vector);
    expect(decoded.zone).toBe(body.zone);
    expect(decoded.author).toBe(body.author);
    expect(decoded.seq).toBe(body.seq);
    expect(decoded.prev).toEqual(body.prev);
    expect(decoded.hlc).toEqual(body.hlc);
    expect(decoded.ops).toEqual(body.ops);
    expect(toHex(decoded.hash)).toBe(vector.bodyHashHex);
    const hash = new Bun.CryptoHasher("sha256").update(decoded.bodyBytes).digest("hex");
    expect(hash).toBe(vector.bodyHashHex);
    expect(() => verifyChangeset(decoded, authorKey)).not.toThrow();
  });

  test("the genesis changeset holds the two documents as JSON strings", () => {
    expect(genesis.seq).toBe(1);
    expect(genesis.prevHex).toBeNull();
    expect(genesis.ops).toEqual([
      { key: "boot/config", value: JSON.stringify(vectors.zoneDocument.jws) },
      {
        key: `devices/${vectors.deviceDocument.name}/doc`,
        value: JSON.stringify(vectors.deviceDocument.jws),
      },
    ]);
  });

  test("the stored signatures verify under @noble/curves, an independent Ed25519", () => {
    for (const jws of [vectors.zoneDocument.jws, vectors.deviceDocument.jws]) {
      const [header, payload, signature] = jws.split(".");
      const signatureBytes = new Uint8Array(Buffer.from(signature ?? "", "base64url"));
      const input = utf8(`${header}.${payload}`);
      expect(ed25519.verify(signatureBytes, input, owner.publicKey, { zip215: false })).toBe(true);
    }
    for (const vector of vectors.changesets) {
      const [body, signature] = decodeCbor(bytes(vector.entryHex), 1 << 20, "entry") as [
        Uint8Array,
        Uint8Array,
      ];
      const input = new Uint8Array([...utf8("bucky changeset v1\n"), ...body]);
      expect(ed25519.verify(signature, input, device.publicKey, { zip215: false })).toBe(true);
    }
  });

  test("the second changeset is chained to the genesis body hash", () => {
    expect(second.seq).toBe(2);
    expect(second.prevHex).toBe(genesis.bodyHashHex);
    expect(second.ops.some((op) => op.value === null)).toBe(true);
  });
});
