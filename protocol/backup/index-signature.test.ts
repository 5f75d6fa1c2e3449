import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { signDeviceDocument, signZoneDocument } from "../documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../ed25519.ts";
import { fromBase64url, toBase64url, utf8 } from "../encoding.ts";
import { deviceIdFromPublicKey } from "../ids.ts";
import type { DeviceName, ZoneName } from "../names.ts";
import { sealRecord } from "../signed-record.ts";
import {
  type BlobLocation,
  decodeIndex,
  encodeIndex,
  indexDigest,
  inIndexOrder,
} from "./formats.ts";
import { checkIndexSignature, type IndexFacts, signIndex } from "./index-signature.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(6));
const zone = signZoneDocument({ name: "home" as ZoneName, issuedAt: 1 }, owner).id;
const stranger = signingKeyFromSeed(new Uint8Array(32).fill(9));
const otherZone = signZoneDocument({ name: "home" as ZoneName, issuedAt: 1 }, stranger).id;
const nas = signingKeyFromSeed(new Uint8Array(32).fill(7));

function documentOf(key: SigningKey, name: string, by = owner): string {
  return signDeviceDocument(
    { name: name as DeviceName, devicePublicKey: key.publicKey, issuedAt: 1 },
    by,
  ).jws;
}

const blobs: BlobLocation[] = [
  { id: "a".repeat(64), type: "data", pack: "1".repeat(64), offset: 0, length: 100, size: 90 },
  { id: "c".repeat(64), type: "data", pack: "2".repeat(64), offset: 0, length: 10, size: 1 },
  { id: "b".repeat(64), type: "tree", pack: "1".repeat(64), offset: 100, length: 50, size: 40 },
];
const facts = (of: readonly BlobLocation[] = blobs, name = "ab".repeat(16)): IndexFacts => {
  const ordered = inIndexOrder(of);
  return { name, repository: "cd".repeat(16), blobs: ordered.length, digest: indexDigest(ordered) };
};
const signed = (by = nas, document = documentOf(nas, "nas")) =>
  signIndex(facts(), zone, by, document);

describe("an index file's signature", () => {
  test("names the key that signed it, and holds for the blobs as the file holds them", () => {
    const record = signed();
    const file = decodeIndex("i", encodeIndex(inIndexOrder(blobs), record));
    expect(file.signed).toBe(record);
    expect(
      checkIndexSignature(
        {
          ...facts(),
          blobs: file.blobs.length,
          digest: indexDigest(file.blobs),
        },
        file.signed,
        zone,
      ),
    ).toEqual({ kind: "signed", by: deviceIdFromPublicKey(nas.publicKey) });
  });

  test("an index file without one is unsigned; an older bucky's decoder reads only packs", () => {
    expect(checkIndexSignature(facts(), undefined, zone)).toEqual({ kind: "unsigned" });
    expect(decodeIndex("i", encodeIndex(inIndexOrder(blobs))).signed).toBeUndefined();
  });

  test("is forged for other blobs, another file, another repository, another zone", () => {
    const record = signed();
    const moved = blobs.map((b, i) => (i === 0 ? { ...b, offset: 7 } : b));
    expect(checkIndexSignature(facts(moved), record, zone)).toMatchObject({
      kind: "forged",
      why: "the blobs it names are not those that were signed",
    });
    expect(checkIndexSignature(facts(blobs.slice(1)), record, zone).kind).toBe("forged");
    expect(checkIndexSignature(facts(blobs, "ef".repeat(16)), record, zone)).toMatchObject({
      kind: "forged",
      why: "its signature was made for another index file",
    });
    expect(
      checkIndexSignature({ ...facts(), repository: "00".repeat(16) }, record, zone).kind,
    ).toBe("forged");
    expect(checkIndexSignature(facts(), record, otherZone)).toMatchObject({ kind: "forged" });
  });

  test("is forged when its key is no device the owner admitted, or another's document", () => {
    const own = signIndex(facts(), zone, stranger, documentOf(stranger, "nas", stranger));
    expect(checkIndexSignature(facts(), own, zone)).toMatchObject({
      kind: "forged",
      why: expect.stringContaining("not the owner's"),
    });
    // Without the zone, only that the signature holds is known.
    expect(checkIndexSignature(facts(), own).kind).toBe("signed");
    const borrowed = signIndex(facts(), zone, stranger, documentOf(nas, "nas"));
    expect(checkIndexSignature(facts(), borrowed, zone)).toMatchObject({
      kind: "forged",
      why: "its device document is not of the key that signed it",
    });
  });

  test("a record with any byte changed is not signed", () => {
    const bytes = fromBase64url(signed()) as Uint8Array;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: bytes.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, flip) => {
          const changed = bytes.slice();
          changed[at] = (changed[at] as number) ^ flip;
          // Forged; or, where the flip made it another version's or gave it another
          // field, a newer bucky's that this one cannot judge: unsigned. Never signed.
          const check = checkIndexSignature(facts(), toBase64url(changed), zone);
          return check.kind !== "signed";
        },
      ),
    );
  });

  test("junk in its place is forged, never an error", () => {
    for (const junk of [42, "", "!!", "a".repeat(20_000), toBase64url(new Uint8Array(64)), null])
      expect(checkIndexSignature(facts(), junk, zone).kind).toBe("forged");
  });

  test("a newer bucky's (another version, or a field this one does not know) is unsigned, not forged", () => {
    const body = {
      v: 1,
      ...facts(),
      zone,
      device: deviceIdFromPublicKey(nas.publicKey),
      document: documentOf(nas, "nas"),
    };
    const context = utf8("bucky backup index v1\n");
    const record = (of: Record<string, unknown>) => toBase64url(sealRecord(of, nas, context));
    // The record as this bucky makes it is signed: the two below differ only as said.
    expect(checkIndexSignature(facts(), record(body), zone).kind).toBe("signed");
    expect(checkIndexSignature(facts(), record({ ...body, v: 2 }), zone)).toEqual({
      kind: "unsigned",
    });
    expect(checkIndexSignature(facts(), record({ ...body, epoch: 7 }), zone)).toEqual({
      kind: "unsigned",
    });
  });

  test("an index entry with more fields than this bucky knows is read (a newer bucky's)", () => {
    const json = JSON.stringify({
      packs: { ["1".repeat(64)]: [["a".repeat(64), "data", 0, 100, 90, "later"]] },
    });
    expect(decodeIndex("i", utf8(json)).blobs).toEqual([
      { id: "a".repeat(64), type: "data", pack: "1".repeat(64), offset: 0, length: 100, size: 90 },
    ]);
  });
});
