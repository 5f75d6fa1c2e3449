import { describe, expect, test } from "bun:test";
import { decodeCbor, encodeCbor } from "./cbor.ts";
import {
  type ChangesetBody,
  decodeChangeset,
  MAX_CHANGESET_BYTES,
  MAX_OPS_PER_CHANGESET,
  MAX_VALUE_BYTES,
  signChangeset,
  verifyChangeset,
} from "./changeset.ts";
import { type SigningKey, signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromHex, toHex, utf8 } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { MAX_HLC_COUNTER, MAX_HLC_MS } from "./hlc.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const device = signingKeyFromSeed(new Uint8Array(32).fill(2));
const otherDevice = signingKeyFromSeed(new Uint8Array(32).fill(3));
const zone = zoneIdFromPublicKey(owner.publicKey);
const author = deviceIdFromPublicKey(device.publicKey);
const otherAuthor = deviceIdFromPublicKey(otherDevice.publicKey);
const deviceKey = verifyKeyFromPublicKey(device.publicKey);
const SIGNATURE_CONTEXT = utf8("bucky changeset v1\n");
const NOW_MS = 1_767_225_600_000;

const firstBody: ChangesetBody = {
  zone,
  author,
  seq: 1,
  prev: null,
  hlc: { ms: NOW_MS, counter: 0 },
  ops: [
    { key: "boot/config", value: '"a zone document"' },
    { key: "devices/laptop/info", value: '{"online":true}' },
    { key: "system/old", value: null },
  ],
};

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Bun.CryptoHasher("sha256").update(bytes).digest() as Uint8Array;
}

/** The wire body of a changeset, written out by hand as the format describes it. */
function wireBody(fields: Partial<Record<string, unknown>> = {}): Record<string, unknown> {
  return {
    v: 1,
    zone,
    author,
    seq: 1,
    prev: null,
    hlc: [NOW_MS, 0],
    ops: [["a/b", '"x"']],
    ...fields,
  };
}

/** An entry for `body`, signed the way the format describes, by `signer`. */
function entryOf(body: unknown, signer: SigningKey = device): Uint8Array {
  const bodyBytes = encodeCbor(body);
  return encodeCbor([bodyBytes, signer.sign(concat(SIGNATURE_CONTEXT, bodyBytes))]);
}

describe("signing a changeset", () => {
  const changeset = signChangeset(firstBody, device);

  test("gives back the body it was given", () => {
    expect(changeset.zone).toBe(zone);
    expect(changeset.author).toBe(author);
    expect(changeset.seq).toBe(1);
    expect(changeset.prev).toBeNull();
    expect(changeset.hlc).toEqual({ ms: NOW_MS, counter: 0 });
    expect(changeset.ops).toEqual(firstBody.ops);
  });

  test("writes the entry as CBOR [body bytes, signature] with the body fields in order", () => {
    const entry = decodeCbor(changeset.bytes, MAX_CHANGESET_BYTES, "entry") as unknown[];
    expect(entry).toHaveLength(2);
    const [bodyBytes, signature] = entry as [Uint8Array, Uint8Array];
    expect(signature).toHaveLength(64);
    const body = decodeCbor(bodyBytes, MAX_CHANGESET_BYTES, "body") as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["v", "zone", "author", "seq", "prev", "hlc", "ops"]);
    expect(body).toEqual({
      v: 1,
      zone,
      author,
      seq: 1,
      prev: null,
      hlc: [NOW_MS, 0],
      ops: [
        ["boot/config", '"a zone document"'],
        ["devices/laptop/info", '{"online":true}'],
        ["system/old", null],
      ],
    });
    // Written by hand from the format (hlc ms as a CBOR uint64), the entry is the same bytes.
    expect(toHex(changeset.bytes)).toBe(toHex(entryOf({ ...body, hlc: [BigInt(NOW_MS), 0] })));
  });

  test("signs the context label followed by the body bytes", () => {
    const [bodyBytes, signature] = decodeCbor(changeset.bytes, MAX_CHANGESET_BYTES, "entry") as [
      Uint8Array,
      Uint8Array,
    ];
    expect(deviceKey.verify(concat(SIGNATURE_CONTEXT, bodyBytes), signature)).toBe(true);
    expect(deviceKey.verify(bodyBytes, signature)).toBe(false);
  });

  test("hashes the body bytes with SHA-256", () => {
    const [bodyBytes] = decodeCbor(changeset.bytes, MAX_CHANGESET_BYTES, "entry") as [Uint8Array];
    expect(toHex(changeset.hash)).toBe(toHex(sha256(bodyBytes)));
    expect(changeset.hash).toHaveLength(32);
  });

  test("chains the next changeset to this one's hash", () => {
    const second = signChangeset(
      {
        ...firstBody,
        seq: 2,
        prev: changeset.hash,
        hlc: { ms: NOW_MS, counter: 1 },
        ops: [{ key: "a", value: "1" }],
      },
      device,
    );
    const decoded = decodeChangeset(second.bytes);
    expect(decoded.prev).toEqual(changeset.hash);
    expect(decoded.seq).toBe(2);
    expect(() => verifyChangeset(decoded, deviceKey)).not.toThrow();
  });

  test("refuses a key other than the author's", () => {
    expect(() => signChangeset(firstBody, otherDevice)).toThrow(
      new ProtocolError("a changeset must be signed by its author"),
    );
  });

  test("holds a local write to the limits a peer enforces", () => {
    expect(() => signChangeset({ ...firstBody, prev: new Uint8Array(32) }, device)).toThrow(
      new ProtocolError("only the first changeset of a feed has no prev"),
    );
    expect(() => signChangeset({ ...firstBody, ops: [] }, device)).toThrow(
      new ProtocolError("a changeset has at least one op"),
    );
  });
});

describe("decoding and verifying a changeset", () => {
  const changeset = signChangeset(firstBody, device);

  test("decodes what was signed, and it verifies under the author's key", () => {
    const decoded = decodeChangeset(changeset.bytes);
    expect(decoded.bytes).toEqual(changeset.bytes);
    expect(decoded.hash).toEqual(changeset.hash);
    expect(decoded.ops).toEqual(firstBody.ops);
    expect(() => verifyChangeset(decoded, deviceKey)).not.toThrow();
  });

  test("refuses to verify under another device's key", () => {
    const decoded = decodeChangeset(changeset.bytes);
    expect(() => verifyChangeset(decoded, verifyKeyFromPublicKey(otherDevice.publicKey))).toThrow(
      new ProtocolError("changeset verified against the wrong key"),
    );
  });

  test("refuses an entry naming one author but signed by another", () => {
    const decoded = decodeChangeset(entryOf(wireBody(), otherDevice));
    expect(() => verifyChangeset(decoded, deviceKey)).toThrow(
      new ProtocolError(`changeset ${author}#1 has a bad signature`),
    );
    expect(() => verifyChangeset(decoded, verifyKeyFromPublicKey(otherDevice.publicKey))).toThrow(
      new ProtocolError("changeset verified against the wrong key"),
    );
  });

  test("refuses a signature over the body without the context label", () => {
    const bodyBytes = encodeCbor(wireBody());
    const decoded = decodeChangeset(encodeCbor([bodyBytes, device.sign(bodyBytes)]));
    expect(() => verifyChangeset(decoded, deviceKey)).toThrow(
      new ProtocolError(`changeset ${author}#1 has a bad signature`),
    );
  });

  test("accepts a hand-written entry for seq 2 with a 32-byte prev", () => {
    const decoded = decodeChangeset(entryOf(wireBody({ seq: 2, prev: new Uint8Array(32) })));
    expect(decoded.seq).toBe(2);
    expect(() => verifyChangeset(decoded, deviceKey)).not.toThrow();
  });

  test("accepts the largest hlc", () => {
    const decoded = decodeChangeset(entryOf(wireBody({ hlc: [MAX_HLC_MS, MAX_HLC_COUNTER] })));
    expect(decoded.hlc).toEqual({ ms: MAX_HLC_MS, counter: MAX_HLC_COUNTER });
  });
});

describe("decoding refuses a malformed body", () => {
  const big = (n: number) => `"${"x".repeat(n - 2)}"`;
  test.each([
    ["version 2", { v: 2 }, "changeset version 2 is not supported"],
    ["version 0", { v: 0 }, "changeset version 0 is not supported"],
    ["no version", { v: undefined }, "changeset version undefined is not supported"],
    ["an unknown field", { extra: 1 }, 'changeset body has an unknown field "extra"'],
    ["a signature field in the body", { sig: new Uint8Array(64) }, 'unknown field "sig"'],
    ["a device id as zone", { zone: author }, "changeset zone is not a zone id"],
    ["a zone that is not a string", { zone: 1 }, "changeset zone must be a string"],
    ["an over-long zone", { zone: `z${"a".repeat(64)}` }, "changeset zone is longer than 64"],
    ["a zone id as author", { author: zone }, "changeset author is not a device id"],
    ["no author", { author: undefined }, "changeset author must be a string"],
    ["seq 0", { seq: 0 }, "changeset seq starts at 1"],
    ["a negative seq", { seq: -1 }, "changeset seq must be a whole number"],
    ["a fractional seq", { seq: 1.5 }, "changeset seq must be a whole number"],
    ["a seq string", { seq: "1" }, "changeset seq must be a whole number"],
    ["an unsafe seq", { seq: 2 ** 53, prev: new Uint8Array(32) }, "seq must be a whole number"],
    ["seq 1 with a prev", { prev: new Uint8Array(32) }, "only the first changeset"],
    ["seq 2 without a prev", { seq: 2 }, "only the first changeset of a feed has no prev"],
    ["a 31-byte prev", { seq: 2, prev: new Uint8Array(31) }, "prev must be 32 bytes, got 31"],
    ["a 33-byte prev", { seq: 2, prev: new Uint8Array(33) }, "prev must be 32 bytes, got 33"],
    ["a hex prev", { seq: 2, prev: "00".repeat(32) }, "changeset prev must be a byte string"],
    ["no prev", { prev: undefined }, "changeset prev must be a byte string"],
    ["an hlc map", { hlc: { ms: 1, counter: 0 } }, "changeset hlc is a [ms, counter] pair"],
    ["an hlc of one number", { hlc: [1] }, "changeset hlc is a [ms, counter] pair"],
    ["an hlc past 48 bits", { hlc: [MAX_HLC_MS + 1, 0] }, "changeset hlc ms must be"],
    ["an hlc counter past 16 bits", { hlc: [1, 0x10000] }, "changeset hlc counter must be"],
    ["a negative hlc", { hlc: [-1, 0] }, "changeset hlc ms must be a whole number"],
    ["ops that are a map", { ops: { "a/b": "1" } }, "changeset ops must be an array"],
    ["no ops", { ops: [] }, "a changeset has at least one op"],
    ["an op that is a key alone", { ops: [["a/b"]] }, "op 0 is a [key, value] pair"],
    ["an op of three", { ops: [["a", "1", "2"]] }, "op 0 is a [key, value] pair"],
    ["an op that is a map", { ops: [{ key: "a", value: "1" }] }, "op 0 is a [key, value] pair"],
    ["a key that is not a string", { ops: [[1, "1"]] }, "op 0 key must be a string"],
    ["an empty key", { ops: [["", "1"]] }, "op 0 key: a key must not be empty"],
    ["a key with //", { ops: [["a//b", "1"]] }, "op 0 key: a key has no empty segments"],
    ["a .. segment", { ops: [["a/../b", "1"]] }, 'op 0 key: a key has no "." or ".." segments'],
    ["a key with a space", { ops: [["a b", "1"]] }, "op 0 key: a key segment uses only"],
    ["an over-long key", { ops: [["a".repeat(513), "1"]] }, "op 0 key is longer than 512"],
    [
      "a key written twice",
      {
        ops: [
          ["a/b", "1"],
          ["c", "2"],
          ["a/b", null],
        ],
      },
      'op 2 writes "a/b" a second time',
    ],
    [
      "a key written twice among many ops",
      { ops: [...Array.from({ length: 40 }, (_, i) => [`k${i}`, "1"]), ["k7", null]] },
      'op 40 writes "k7" a second time',
    ],
    ["a value that is not JSON", { ops: [["a", "{nope"]] }, "op 0 value is not JSON"],
    ["an empty value", { ops: [["a", ""]] }, "op 0 value is not JSON"],
    ["a value that is a number", { ops: [["a", 1]] }, "op 0 value must be a string"],
    ["a value that is bytes", { ops: [["a", new Uint8Array(1)]] }, "op 0 value must be a string"],
    [
      "a value over the character limit",
      { ops: [["a", big(MAX_VALUE_BYTES + 1)]] },
      `op 0 value is longer than ${MAX_VALUE_BYTES} characters`,
    ],
    [
      "a value under the character limit but over the byte limit",
      { ops: [["a", `"${"é".repeat(MAX_VALUE_BYTES / 2)}"`]] },
      `op 0 value is over ${MAX_VALUE_BYTES} bytes`,
    ],
  ])("refuses %s", (_what, fields, message) => {
    const entry = entryOf(wireBody(fields));
    expect(() => decodeChangeset(entry)).toThrow(ProtocolError);
    expect(() => decodeChangeset(entry)).toThrow(message);
  });

  test(`accepts values of exactly ${MAX_VALUE_BYTES} bytes`, () => {
    const ascii = `"${"x".repeat(MAX_VALUE_BYTES - 2)}"`;
    const twoByte = `"${"é".repeat(MAX_VALUE_BYTES / 2 - 1)}"`;
    expect(utf8(ascii)).toHaveLength(MAX_VALUE_BYTES);
    expect(utf8(twoByte)).toHaveLength(MAX_VALUE_BYTES);
    const decoded = decodeChangeset(
      entryOf(
        wireBody({
          ops: [
            ["a", ascii],
            ["b", twoByte],
          ],
        }),
      ),
    );
    expect(decoded.ops.map((op) => op.value)).toEqual([ascii, twoByte]);
  });

  test(`accepts ${MAX_OPS_PER_CHANGESET} ops and refuses one more`, () => {
    const ops = Array.from({ length: MAX_OPS_PER_CHANGESET }, (_, i) => [`k/${i}`, null]);
    expect(decodeChangeset(entryOf(wireBody({ ops }))).ops).toHaveLength(MAX_OPS_PER_CHANGESET);
    const tooMany = [...ops, ["k/last", null]];
    expect(() => decodeChangeset(entryOf(wireBody({ ops: tooMany })))).toThrow(
      new ProtocolError(`a changeset has at most ${MAX_OPS_PER_CHANGESET} ops`),
    );
  });
});

describe("decoding refuses a malformed entry", () => {
  const good = signChangeset(firstBody, device).bytes;
  const [bodyBytes, signature] = decodeCbor(good, MAX_CHANGESET_BYTES, "entry") as [
    Uint8Array,
    Uint8Array,
  ];
  const hex = (text: string) => fromHex(text) ?? new Uint8Array();

  test.each([
    ["no bytes", new Uint8Array(), "changeset is not valid CBOR"],
    ["a lone break code", hex("ff"), "changeset is not valid CBOR"],
    ["a truncated entry", good.subarray(0, good.length - 1), "changeset is not valid CBOR"],
    ["a trailing byte", concat(good, hex("00")), "changeset is not valid CBOR"],
    ["a second entry after the first", concat(good, good), "changeset is not valid CBOR"],
    ["a map", encodeCbor({ body: bodyBytes, signature }), "a changeset is a [body, signature]"],
    ["a one-item array", encodeCbor([bodyBytes]), "a changeset is a [body, signature] pair"],
    [
      "a three-item array",
      encodeCbor([bodyBytes, signature, signature]),
      "a changeset is a [body, signature] pair",
    ],
    [
      "a body that is a map, not bytes",
      encodeCbor([wireBody(), signature]),
      "changeset body must be a byte string",
    ],
    [
      "a body that is a text string",
      encodeCbor([Buffer.from(bodyBytes).toString("latin1"), signature]),
      "changeset body must be a byte string",
    ],
    [
      "a 63-byte signature",
      encodeCbor([bodyBytes, signature.subarray(0, 63)]),
      "changeset signature must be 64 bytes, got 63",
    ],
    [
      "a signature that is hex text",
      encodeCbor([bodyBytes, toHex(signature)]),
      "changeset signature must be a byte string",
    ],
    [
      "a body that is not CBOR",
      encodeCbor([hex("ff"), signature]),
      "changeset body is not valid CBOR",
    ],
    [
      "a body with trailing bytes",
      encodeCbor([concat(bodyBytes, hex("00")), signature]),
      "changeset body is not valid CBOR",
    ],
    ["a body that is an array", encodeCbor([encodeCbor([1]), signature]), "body must be a map"],
    ["a body that is null", encodeCbor([encodeCbor(null), signature]), "body must be a map"],
  ])("refuses %s", (_what, bytes, message) => {
    expect(() => decodeChangeset(bytes)).toThrow(ProtocolError);
    expect(() => decodeChangeset(bytes)).toThrow(message);
  });

  test(`refuses an entry over ${MAX_CHANGESET_BYTES} bytes before decoding it`, () => {
    const huge = new Uint8Array(MAX_CHANGESET_BYTES + 1);
    expect(() => decodeChangeset(huge)).toThrow(
      new ProtocolError(
        `changeset is ${MAX_CHANGESET_BYTES + 1} bytes; the limit is ${MAX_CHANGESET_BYTES}`,
      ),
    );
  });

  // One entry has one spelling. Each of these carries the same body and signature as
  // `good`, so without the check a relay could make a second entry for the same
  // (author, seq) out of an honest one.
  const body = encodeCbor(bodyBytes);
  const sig = encodeCbor(signature);
  const length32 = (bytes: Uint8Array) => bytes.length.toString(16).padStart(8, "0");
  test.each([
    ["an indefinite-length array", `9f${toHex(body)}${toHex(sig)}ff`],
    ["a long-form body length", `825a${length32(bodyBytes)}${toHex(bodyBytes)}${toHex(sig)}`],
    ["a long-form signature length", `82${toHex(body)}590040${toHex(signature)}`],
    ["a body tagged as a typed array (tag 64)", `82d840${toHex(body)}${toHex(sig)}`],
  ])("refuses a re-encoded entry: %s", (_what, text) => {
    const bytes = hex(text);
    expect(toHex(bytes)).not.toBe(toHex(good));
    expect(() => decodeChangeset(bytes)).toThrow(
      new ProtocolError("changeset entry is not in canonical CBOR"),
    );
  });

  test("refuses to verify an entry naming another device as author under this key", () => {
    const decoded = decodeChangeset(entryOf(wireBody({ author: otherAuthor })));
    expect(() => verifyChangeset(decoded, deviceKey)).toThrow(
      new ProtocolError("changeset verified against the wrong key"),
    );
  });
});
