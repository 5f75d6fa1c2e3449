/**
 * The one configured CBOR codec (RFC 8949) for everything bucky puts on the wire or
 * signs. Plain maps and arrays only: no record extension, no shared structures, so any
 * CBOR decoder reads our bytes. Callers sign the exact bytes this returns and verify the
 * exact bytes they receive; nothing is ever re-encoded to be verified.
 */
import { Encoder } from "cbor-x";
import { check } from "./errors.ts";

const codec = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  tagUint8Array: false,
  // Refuse JavaScript-specific extensions on decode (structured clone, records).
  structuredClone: false,
});

export function encodeCbor(value: unknown): Uint8Array {
  return codec.encode(value);
}

/** Decodes one CBOR item no larger than `maxBytes`. Throws ProtocolError when malformed. */
export function decodeCbor(bytes: Uint8Array, maxBytes: number, what: string): unknown {
  check(bytes.length <= maxBytes, `${what} is ${bytes.length} bytes; the limit is ${maxBytes}`);
  try {
    return codec.decode(bytes);
  } catch (error) {
    check(false, `${what} is not valid CBOR: ${(error as Error).message}`);
  }
}
