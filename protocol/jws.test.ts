import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, fromUtf8, toBase64url, utf8 } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { decodeJws, type JwsHeader, MAX_JWS_LENGTH, signJws, verifyJws } from "./jws.ts";

const key = signingKeyFromSeed(new Uint8Array(32).fill(1));
const otherKey = signingKeyFromSeed(new Uint8Array(32).fill(2));
const HEADER: JwsHeader = { alg: "EdDSA", typ: "test/1", kid: "k1" };

function encodePart(value: unknown): string {
  return toBase64url(utf8(JSON.stringify(value)));
}

/** A compact JWS with parts exactly as given, signed by `signer` over them. */
function craft(headerPart: string, payloadPart: string, signer = key): string {
  const input = `${headerPart}.${payloadPart}`;
  return `${input}.${toBase64url(signer.sign(utf8(input)))}`;
}

function decodedPart(part: string | undefined): string | undefined {
  const bytes = fromBase64url(part ?? "");
  return bytes === undefined ? undefined : fromUtf8(bytes);
}

describe("signing and verifying", () => {
  test("signs base64url JSON of the header and payload, and verifies as received", () => {
    const compact = signJws(HEADER, { a: 1, b: "two" }, key);
    const parts = compact.split(".");
    expect(parts).toHaveLength(3);
    expect(decodedPart(parts[0])).toBe('{"alg":"EdDSA","typ":"test/1","kid":"k1"}');
    expect(decodedPart(parts[1])).toBe('{"a":1,"b":"two"}');

    const decoded = decodeJws(compact);
    expect(decoded.compact).toBe(compact);
    expect(decoded.header).toEqual(HEADER);
    expect(decoded.payload).toEqual({ a: 1, b: "two" });
    expect(decoded.signingInput).toEqual(utf8(`${parts[0]}.${parts[1]}`));
    expect(decoded.signature).toEqual(key.sign(decoded.signingInput));
    expect(decoded.signature).toHaveLength(64);
    expect(() => verifyJws(decoded, verifyKeyFromPublicKey(key.publicKey))).not.toThrow();
  });

  test("refuses the signature under another key", () => {
    const decoded = decodeJws(signJws(HEADER, { a: 1 }, key));
    expect(() => verifyJws(decoded, verifyKeyFromPublicKey(otherKey.publicKey))).toThrow(
      new ProtocolError("JWS signature does not verify"),
    );
  });

  test("verifies the payload bytes as received, not a re-serialization", () => {
    // Same JSON value, different spelling: valid only because the signature covers it.
    const compact = craft(encodePart(HEADER), toBase64url(utf8('{ "a" : 1 }')));
    const decoded = decodeJws(compact);
    expect(decoded.payload).toEqual({ a: 1 });
    expect(() => verifyJws(decoded, verifyKeyFromPublicKey(key.publicKey))).not.toThrow();
  });

  test("refuses a payload swapped in from another signed JWS", () => {
    const first = signJws(HEADER, { a: 1 }, key).split(".");
    const second = signJws(HEADER, { a: 2 }, key).split(".");
    const spliced = decodeJws(`${first[0]}.${second[1]}.${first[2]}`);
    expect(() => verifyJws(spliced, verifyKeyFromPublicKey(key.publicKey))).toThrow(ProtocolError);
  });
});

describe("decoding refuses malformed JWS", () => {
  const payloadPart = encodePart({ a: 1 });
  const headerPart = encodePart(HEADER);

  test.each([
    ["no dots", "abc", "JWS must have three dot-separated parts"],
    ["two parts", `${headerPart}.${payloadPart}`, "JWS must have three dot-separated parts"],
    [
      "four parts",
      `${craft(headerPart, payloadPart)}.${payloadPart}`,
      "JWS must have three dot-separated parts",
    ],
    ["an empty string", "", "JWS must have three dot-separated parts"],
    ["a padded header", craft(`${headerPart}=`, payloadPart), "JWS header is not base64url"],
    [
      "a header in the standard base64 alphabet",
      craft(Buffer.from(JSON.stringify(HEADER)).toString("base64"), payloadPart),
      "JWS header is not base64url",
    ],
    [
      "a header that is not UTF-8",
      craft(toBase64url(new Uint8Array([0xff, 0xfe])), payloadPart),
      "JWS header is not UTF-8",
    ],
    ["a header that is not JSON", craft(toBase64url(utf8("{alg")), payloadPart), "not JSON"],
    [
      "a header that is an array",
      craft(encodePart([HEADER]), payloadPart),
      "JWS header must be a JSON object",
    ],
    ["a header that is null", craft(encodePart(null), payloadPart), "must be a JSON object"],
    [
      "alg none",
      craft(encodePart({ ...HEADER, alg: "none" }), payloadPart),
      'JWS alg must be EdDSA, got "none"',
    ],
    [
      "alg HS256",
      craft(encodePart({ ...HEADER, alg: "HS256" }), payloadPart),
      'JWS alg must be EdDSA, got "HS256"',
    ],
    [
      "alg Ed25519 (the fully specified name, not the one we sign with)",
      craft(encodePart({ ...HEADER, alg: "Ed25519" }), payloadPart),
      'JWS alg must be EdDSA, got "Ed25519"',
    ],
    [
      "no alg",
      craft(encodePart({ typ: "test/1", kid: "k1" }), payloadPart),
      "JWS alg must be EdDSA, got undefined",
    ],
    [
      "no typ",
      craft(encodePart({ alg: "EdDSA", kid: "k1" }), payloadPart),
      "JWS header has no typ",
    ],
    [
      "a typ that is not a string",
      craft(encodePart({ ...HEADER, typ: 1 }), payloadPart),
      "JWS header has no typ",
    ],
    [
      "no kid",
      craft(encodePart({ alg: "EdDSA", typ: "test/1" }), payloadPart),
      "JWS header has no kid",
    ],
    [
      "a crit header",
      craft(encodePart({ ...HEADER, crit: ["exp"], exp: 1 }), payloadPart),
      "JWS header has critical extensions",
    ],
    [
      "an empty crit header",
      craft(encodePart({ ...HEADER, crit: [] }), payloadPart),
      "JWS header has critical extensions",
    ],
    [
      "a payload that is not base64url",
      craft(headerPart, `${payloadPart}=`),
      "JWS payload is not base64url",
    ],
    [
      "a payload that is not UTF-8",
      craft(headerPart, toBase64url(new Uint8Array([0x7b, 0xc0, 0x80, 0x7d]))),
      "JWS payload is not UTF-8",
    ],
    [
      "a payload that is not JSON",
      craft(headerPart, toBase64url(utf8("{a:1}"))),
      "JWS payload is not JSON",
    ],
    [
      "a signature that is not base64url",
      `${headerPart}.${payloadPart}.${toBase64url(key.sign(utf8("x")))}=`,
      "JWS signature is not base64url",
    ],
    [
      "a signature with non-zero trailing bits",
      `${headerPart}.${payloadPart}.${`${toBase64url(new Uint8Array(64)).slice(0, -1)}B`}`,
      "JWS signature is not base64url",
    ],
  ])("refuses %s", (_what, compact, message) => {
    expect(() => decodeJws(compact)).toThrow(ProtocolError);
    expect(() => decodeJws(compact)).toThrow(message);
  });

  test("decodes a signature of the wrong length, which then does not verify", () => {
    const decoded = decodeJws(`${headerPart}.${payloadPart}.${toBase64url(new Uint8Array(63))}`);
    expect(decoded.signature).toHaveLength(63);
    expect(() => verifyJws(decoded, verifyKeyFromPublicKey(key.publicKey))).toThrow(
      "JWS signature does not verify",
    );
  });

  test(`accepts ${MAX_JWS_LENGTH} characters and refuses one more`, () => {
    const atLimit = jwsOfLength(MAX_JWS_LENGTH);
    expect(atLimit).toHaveLength(MAX_JWS_LENGTH);
    expect(() =>
      verifyJws(decodeJws(atLimit), verifyKeyFromPublicKey(key.publicKey)),
    ).not.toThrow();

    const overLimit = jwsOfLength(MAX_JWS_LENGTH + 1);
    expect(overLimit).toHaveLength(MAX_JWS_LENGTH + 1);
    expect(() => decodeJws(overLimit)).toThrow(
      new ProtocolError(`JWS is longer than ${MAX_JWS_LENGTH} characters`),
    );
  });
});

/** A validly signed JWS exactly `length` characters long (padding the payload and kid). */
function jwsOfLength(length: number): string {
  const shortest = signJws(HEADER, { pad: "" }, key).length;
  // Each 3 payload bytes are 4 characters: start just below the answer.
  const start = Math.max(0, Math.floor(((length - shortest) * 3) / 4) - 8);
  for (let kid = 1; kid <= 3; kid++) {
    for (let pad = start; pad < length; pad++) {
      const compact = signJws({ ...HEADER, kid: "k".repeat(kid) }, { pad: "x".repeat(pad) }, key);
      if (compact.length === length) return compact;
      if (compact.length > length) break;
    }
  }
  throw new Error(`no JWS of length ${length}`);
}
