import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { signDeviceDocument, signZoneDocument } from "../documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../ed25519.ts";
import { fromBase64url, toBase64url, utf8 } from "../encoding.ts";
import { deviceIdFromPublicKey } from "../ids.ts";
import type { DeviceName, ZoneName } from "../names.ts";
import { openRecord, sealRecord } from "../signed-record.ts";
import type { Snapshot } from "./formats.ts";
import { checkSnapshotSignature, signSnapshot } from "./snapshot-signature.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(6));
const zone = signZoneDocument({ name: "home" as ZoneName, issuedAt: 1 }, owner).id;
const stranger = signingKeyFromSeed(new Uint8Array(32).fill(9));
const otherZone = signZoneDocument({ name: "home" as ZoneName, issuedAt: 1 }, stranger).id;
const nas = signingKeyFromSeed(new Uint8Array(32).fill(7));
const laptop = signingKeyFromSeed(new Uint8Array(32).fill(8));
const NAME = "0123456789abcdef0123456789abcdef";

/** The owner-signed document of a device, by the owner of `by` (the zone's by default). */
function documentOf(key: SigningKey, name: string, by = owner): string {
  return signDeviceDocument(
    { name: name as DeviceName, devicePublicKey: key.publicKey, issuedAt: 1 },
    by,
  ).jws;
}
const documents = new Map([
  [nas, documentOf(nas, "nas")],
  [laptop, documentOf(laptop, "laptop")],
]);

const snapshot: Snapshot = {
  version: 1,
  time: "2026-11-29T16:00:00.000Z",
  zone: "zexample",
  device: "nas",
  hostname: "box",
  tree: "ab".repeat(32),
  parent: null,
  stats: { files: 3, bytes: 100, addedBytes: 40, durationMs: 12 },
};

function signed(
  by = nas,
  name = NAME,
  what: Snapshot = snapshot,
  document = documents.get(by) as string,
): Snapshot {
  return { ...what, signed: signSnapshot(name, what, by, document) };
}

describe("a snapshot's signature", () => {
  test("names the device whose key signed it", () => {
    expect(checkSnapshotSignature(NAME, signed())).toEqual({
      kind: "signed",
      by: deviceIdFromPublicKey(nas.publicKey),
    });
    expect(checkSnapshotSignature(NAME, signed(laptop))).toEqual({
      kind: "signed",
      by: deviceIdFromPublicKey(laptop.publicKey),
    });
  });

  test("with the zone's id: by the device the owner admitted under the name it is filed under", () => {
    expect(checkSnapshotSignature(NAME, signed(), zone)).toEqual({
      kind: "signed",
      by: deviceIdFromPublicKey(nas.publicKey),
    });
    // The laptop signs as itself, with its own document: not the NAS's word.
    expect(checkSnapshotSignature(NAME, signed(laptop), zone)).toEqual({
      kind: "forged",
      why: "it is signed by laptop, not by nas",
      by: deviceIdFromPublicKey(laptop.publicKey),
    });
    // With the NAS's document copied from the zone state: not the laptop's key's.
    expect(
      checkSnapshotSignature(NAME, signed(laptop, NAME, snapshot, documents.get(nas)), zone),
    ).toEqual({
      kind: "forged",
      why: "its device document is not of the key that signed it",
      by: deviceIdFromPublicKey(laptop.publicKey),
    });
    // A document the laptop made itself, as owner of a zone of its own.
    const own = documentOf(laptop, "nas", stranger);
    expect(checkSnapshotSignature(NAME, signed(laptop, NAME, snapshot, own), zone)).toMatchObject({
      kind: "forged",
      why: expect.stringContaining("its device document is not the owner's"),
    });
    expect(checkSnapshotSignature(NAME, signed(), otherZone).kind).toBe("forged");
  });

  test("an older bucky's snapshot is unsigned", () => {
    expect(checkSnapshotSignature(NAME, snapshot)).toEqual({ kind: "unsigned" });
  });

  test("is for one snapshot: filed under another name, it is forged", () => {
    expect(checkSnapshotSignature(`${NAME.slice(1)}0`, signed())).toEqual({
      kind: "forged",
      why: "its signature was made for another snapshot",
    });
  });

  test("any field changed after signing makes it forged", () => {
    const good = signed();
    const changes: Partial<Snapshot>[] = [
      { tree: "cd".repeat(32) },
      { time: "2026-11-30T16:00:00.000Z" },
      { device: "laptop" },
      { zone: "zother" },
      { parent: "f".repeat(32) },
      { hostname: "other" },
      { stats: { ...snapshot.stats, files: 4 } },
    ];
    for (const change of changes)
      expect(checkSnapshotSignature(NAME, { ...good, ...change }).kind).toBe("forged");
  });

  test("a record of one snapshot put on another is forged", () => {
    const other = { ...snapshot, tree: "cd".repeat(32) };
    expect(
      checkSnapshotSignature(NAME, { ...other, signed: signed().signed as string }),
    ).toMatchObject({ kind: "forged", why: "its tree is not what was signed" });
  });

  test("every flipped bit of the record makes it never signed: forged, or a newer bucky's form", () => {
    const bytes = fromBase64url(signed().signed as string) as Uint8Array;
    fc.assert(
      fc.property(fc.nat(bytes.length * 8 - 1), (bit) => {
        const flipped = Uint8Array.from(bytes);
        flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
        const verdict = checkSnapshotSignature(NAME, { ...snapshot, signed: toBase64url(flipped) });
        // A flip in the version or a field's name reads as a newer bucky's record: unsigned.
        expect(verdict.kind).not.toBe("signed");
      }),
      { numRuns: 300 },
    );
  });

  test("a newer bucky's (another version, or a field this one does not know) is unsigned, not forged", () => {
    const document = documents.get(nas) as string;
    const record = fromBase64url(signSnapshot(NAME, snapshot, nas, document)) as Uint8Array;
    const { body } = openRecord(record, 4096, "test");
    const context = utf8("bucky backup snapshot v1\n");
    const resealed = (of: Record<string, unknown>) => ({
      ...snapshot,
      signed: toBase64url(sealRecord(of, nas, context)),
    });
    // The record as this bucky makes it is signed: the two below differ only as said.
    expect(checkSnapshotSignature(NAME, resealed(body), zone).kind).toBe("signed");
    expect(checkSnapshotSignature(NAME, resealed({ ...body, v: 2 }), zone)).toEqual({
      kind: "unsigned",
    });
    expect(checkSnapshotSignature(NAME, resealed({ ...body, epoch: 7 }), zone)).toEqual({
      kind: "unsigned",
    });
  });

  test("garbage in the field is forged, not an error", () => {
    for (const junk of ["", "!!", toBase64url(new Uint8Array(5000)), 42 as unknown as string])
      expect(checkSnapshotSignature(NAME, { ...snapshot, signed: junk }).kind).toBe("forged");
  });
});
