/**
 * The one configured CBOR codec (RFC 8949) for everything bucky puts on the wire or
 * signs. Plain maps and arrays only: no record extension, no shared structures, so any
 * CBOR decoder reads our bytes. Callers sign the exact bytes this returns and verify the
 * exact bytes they receive; nothing is ever re-encoded to be verified.
 */
// cbor-x without its native addon: the main entry tries to load one, which we do not
// ship, which costs every command a search of the file system at start.
import { Encoder, type Options, setSizeLimits } from "cbor-x/index-no-eval";
import { check } from "./errors.ts";

// No message of ours is over a few MiB, so no array or map in one can have more items than
// that: a 9-byte header claiming 100 million items must not allocate them.
setSizeLimits({ maxArraySize: 4 * 1024 * 1024, maxMapSize: 64 * 1024, maxObjectSize: 64 * 1024 });

const codec = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  tagUint8Array: false,
  // Refuse JavaScript-specific extensions on decode (structured clone, records).
  structuredClone: false,
  // A uint64 decodes as a number (unsafe ones are refused by the field checks), not a bigint.
  int64AsNumber: true,
} as Options);

/**
 * cbor-x writes a JavaScript number of 2^32 or more as a float64. Pass such whole numbers
 * through this, so they travel as CBOR unsigned integers like any other encoder's.
 */
export function cborUint(value: number): number | bigint {
  return value >= 2 ** 32 ? BigInt(value) : value;
}

export function encodeCbor(value: unknown): Uint8Array {
  // cbor-x hands out a Node Buffer viewing its shared output pool, and Buffer's slice() is
  // a view where Uint8Array's is a copy: return plain bytes of our own, as the type says.
  return new Uint8Array(codec.encode(value));
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
