/**
 * Compact JWS with EdDSA (RFC 7515, RFC 8037): `base64url(header).base64url(payload).
 * base64url(signature)`. The signature covers the first two parts exactly as they appear
 * in the string, so a document is verified as received and never re-serialized.
 */
import type { SigningKey, VerifyKey } from "./ed25519.ts";
import { fromBase64url, fromUtf8, toBase64url, utf8 } from "./encoding.ts";
import { check } from "./errors.ts";
import { isRecord } from "./shape.ts";

export const MAX_JWS_LENGTH = 16 * 1024;

export interface JwsHeader {
  alg: "EdDSA";
  typ: string;
  kid: string;
}

export interface DecodedJws {
  readonly compact: string;
  readonly header: JwsHeader;
  readonly payload: unknown;
  /** The ASCII bytes of `header.payload`: what the signature covers. */
  readonly signingInput: Uint8Array;
  readonly signature: Uint8Array;
}

export function signJws(header: JwsHeader, payload: object, key: SigningKey): string {
  const signingInput = `${encodeJson(header)}.${encodeJson(payload)}`;
  return `${signingInput}.${toBase64url(key.sign(utf8(signingInput)))}`;
}

/**
 * Parses a compact JWS without verifying it. Throws ProtocolError when malformed. A
 * document that may be larger than MAX_JWS_LENGTH (an app catalog) names its own limit.
 */
export function decodeJws(compact: string, maxLength = MAX_JWS_LENGTH): DecodedJws {
  check(compact.length <= maxLength, `JWS is longer than ${maxLength} characters`);
  const parts = compact.split(".");
  check(parts.length === 3, "JWS must have three dot-separated parts");
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart, "header");
  check(isRecord(header), "JWS header must be a JSON object");
  check(header.alg === "EdDSA", `JWS alg must be EdDSA, got ${JSON.stringify(header.alg)}`);
  check(typeof header.typ === "string", "JWS header has no typ");
  check(typeof header.kid === "string", "JWS header has no kid");
  // A critical extension we do not understand must not be ignored (RFC 7515 §4.1.11).
  check(!("crit" in header), "JWS header has critical extensions");
  const signature = fromBase64url(signaturePart);
  check(signature !== undefined, "JWS signature is not base64url");
  return {
    compact,
    header: header as unknown as JwsHeader,
    payload: decodeJson(payloadPart, "payload"),
    signingInput: utf8(`${headerPart}.${payloadPart}`),
    signature,
  };
}

/** Throws ProtocolError unless `key` made the signature. */
export function verifyJws(jws: DecodedJws, key: VerifyKey): void {
  check(key.verify(jws.signingInput, jws.signature), "JWS signature does not verify");
}

function encodeJson(value: object): string {
  return toBase64url(utf8(JSON.stringify(value)));
}

function decodeJson(part: string, what: string): unknown {
  const bytes = fromBase64url(part);
  check(bytes !== undefined, `JWS ${what} is not base64url`);
  const text = fromUtf8(bytes);
  check(text !== undefined, `JWS ${what} is not UTF-8`);
  try {
    return JSON.parse(text);
  } catch {
    check(false, `JWS ${what} is not JSON`);
  }
}
