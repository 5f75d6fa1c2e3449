/**
 * The envelope of a small record a device signs about itself (presence, device facts):
 *
 *   record = CBOR [body: bstr, signature: bstr]
 *
 * The signature is Ed25519 by the device's key over a context label (one per kind of
 * record, so one kind can never pass for another) and the body bytes exactly as carried.
 */
import { decodeCbor, encodeCbor } from "./cbor.ts";
import { SIGNATURE_BYTES, type SigningKey, type VerifyKey } from "./ed25519.ts";
import { bytesEqual, concatBytes, fromBase64url } from "./encoding.ts";
import { check } from "./errors.ts";
import { requireBytes, requireRecord } from "./shape.ts";

export interface OpenedRecord {
  readonly body: Record<string, unknown>;
  readonly bodyBytes: Uint8Array;
  readonly signature: Uint8Array;
}

export function sealRecord(
  body: Record<string, unknown>,
  key: SigningKey,
  context: Uint8Array,
): Uint8Array {
  const bodyBytes = encodeCbor(body);
  return encodeCbor([bodyBytes, key.sign(concatBytes(context, bodyBytes))]);
}

/** Parses the envelope and its body map, within `maxBytes`. Does not verify the signature. */
export function openRecord(bytes: Uint8Array, maxBytes: number, what: string): OpenedRecord {
  check(bytes.length <= maxBytes, `a ${what} record is at most ${maxBytes} bytes`);
  const record = decodeCbor(bytes, maxBytes, what);
  check(
    Array.isArray(record) && record.length === 2,
    `a ${what} record is a [body, signature] pair`,
  );
  const bodyBytes = record[0];
  check(bodyBytes instanceof Uint8Array, `${what} body must be a byte string`);
  const signature = requireBytes(record[1], `${what} signature`, SIGNATURE_BYTES);
  check(bytesEqual(encodeCbor([bodyBytes, signature]), bytes), `${what} is not in canonical CBOR`);
  const body = requireRecord(decodeCbor(bodyBytes, maxBytes, `${what} body`), `${what} body`);
  return { body, bodyBytes, signature };
}

export function signatureHolds(
  record: Pick<OpenedRecord, "bodyBytes" | "signature">,
  key: VerifyKey,
  context: Uint8Array,
): boolean {
  return key.verify(concatBytes(context, record.bodyBytes), record.signature);
}

/** What a record carried in a text field (`signed`: base64url) must be to be judged here. */
export interface FieldRecordForm {
  readonly what: string;
  readonly maxBytes: number;
  readonly version: number;
  readonly fields: readonly string[];
}

/**
 * The record a file carries in a text field (a backup snapshot's or index file's
 * `signed`), or undefined when it is of a form this bucky does not know: another version,
 * or fields it does not know, a newer bucky's record it cannot judge (read as unsigned,
 * never as forged). Throws ProtocolError when it is no record at all. Does not verify it.
 */
export function openFieldRecord(signed: unknown, form: FieldRecordForm): OpenedRecord | undefined {
  check(
    typeof signed === "string" && signed.length <= form.maxBytes * 2,
    "its signature is not a record",
  );
  const bytes = fromBase64url(signed);
  check(bytes !== undefined, "its signature is not base64url");
  const record = openRecord(bytes, form.maxBytes, form.what);
  if (record.body.v !== form.version) return undefined;
  if (Object.keys(record.body).some((field) => !form.fields.includes(field))) return undefined;
  return record;
}
