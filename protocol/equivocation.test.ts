import { describe, expect, test } from "bun:test";
import { encodeCbor } from "./cbor.ts";
import { type Changeset, signChangeset } from "./changeset.ts";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { decodeProof, makeProof, verifyProof } from "./equivocation.ts";
import { deviceIdFromPublicKey, type ZoneId } from "./ids.ts";

const key = signingKeyFromSeed(new Uint8Array(32).fill(5));
const other = signingKeyFromSeed(new Uint8Array(32).fill(6));
const zone = "zrkeohxlubhyzl7ks3mwtzos5olfgocn7dwkbeg7toseadnapn5oa" as ZoneId;

function signed(value: string, seq = 1, signer = key, prevByte = 0): Changeset {
  return signChangeset(
    {
      zone,
      author: deviceIdFromPublicKey(signer.publicKey),
      seq,
      prev: seq === 1 ? null : new Uint8Array(32).fill(prevByte),
      hlc: { ms: 1000, counter: 0 },
      ops: [{ key: "apps/x", value: value }],
    },
    signer,
  );
}

describe("equivocation proofs", () => {
  test("two changesets of one seq make one proof, whichever way round, checkable with the key", () => {
    const [a, b] = [signed('"a"'), signed('"b"')];
    const proof = makeProof(a.bytes, b.bytes);
    expect(makeProof(b.bytes, a.bytes).bytes).toEqual(proof.bytes);
    const read = decodeProof(proof.bytes);
    expect([read.zone, read.device, read.seq]).toEqual([zone, a.author, 1]);
    verifyProof(read, verifyKeyFromPublicKey(key.publicKey));
  });

  test("is refused when its halves are no fork point: they follow different changesets", () => {
    // Two of seq 3 after different #2s: the histories parted below, not here.
    expect(() => makeProof(signed('"a"', 3, key, 1).bytes, signed('"b"', 3, key, 2).bytes)).toThrow(
      "follow the same changeset (a fork point)",
    );
    const proof = makeProof(signed('"a"', 3, key, 1).bytes, signed('"b"', 3, key, 1).bytes);
    expect(proof.seq).toBe(3);
  });

  test("is refused when its halves are one changeset, of two seqs, of two authors, or out of order", () => {
    const a = signed('"a"');
    expect(() => makeProof(a.bytes, a.bytes)).toThrow("halves are in byte order");
    expect(() => makeProof(a.bytes, signed('"a"', 2).bytes)).toThrow("of one zone, author and seq");
    expect(() => makeProof(a.bytes, signed('"b"', 1, other).bytes)).toThrow(
      "of one zone, author and seq",
    );
    const [low, high] = makeProof(a.bytes, signed('"b"').bytes).halves;
    expect(() => decodeProof(encodeCbor({ v: 1, a: high.bytes, b: low.bytes }))).toThrow(
      "halves are in byte order",
    );
  });

  test("a half whose signature does not hold is found out", () => {
    const a = signed('"a"');
    const forged = signed('"b"').bytes.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    const proof = makeProof(a.bytes, forged);
    expect(() => verifyProof(proof, verifyKeyFromPublicKey(key.publicKey))).toThrow(
      "bad signature",
    );
    expect(() => decodeProof(encodeCbor({ v: 1, a: a.bytes, b: forged, c: 1 }))).toThrow(
      'unknown field "c"',
    );
    expect(() => decodeProof(encodeCbor({ v: 2, a: a.bytes, b: forged }))).toThrow(
      "version 2 is not supported",
    );
  });
});
