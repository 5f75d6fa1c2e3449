/**
 * The few DER (X.690) encodings the zone's certificate authority writes: sequences,
 * sets, integers, object identifiers, strings, times and context tags. Encoding only: what
 * is read back is read with node:crypto's X509Certificate.
 */
import { concatBytes, utf8 } from "./encoding.ts";

/** A tag and its contents, length in between (definite form). */
export function tlv(tag: number, contents: Uint8Array): Uint8Array {
  const n = contents.length;
  let length: Uint8Array;
  if (n < 0x80) length = Uint8Array.of(n);
  else {
    const bytes: number[] = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
    length = Uint8Array.of(0x80 | bytes.length, ...bytes);
  }
  return concatBytes(concatBytes(Uint8Array.of(tag), length), contents);
}

export function join(...parts: readonly Uint8Array[]): Uint8Array {
  return parts.reduce((all, part) => concatBytes(all, part), new Uint8Array(0));
}

export const sequence = (...parts: readonly Uint8Array[]) => tlv(0x30, join(...parts));
export const set = (...parts: readonly Uint8Array[]) => tlv(0x31, join(...parts));
export const octetString = (bytes: Uint8Array) => tlv(0x04, bytes);
export const utf8String = (text: string) => tlv(0x0c, utf8(text));
export const boolean = (value: boolean) => tlv(0x01, Uint8Array.of(value ? 0xff : 0));
/** A BIT STRING of whole bytes (no unused bits). */
export const bitString = (bytes: Uint8Array) => tlv(0x03, concatBytes(Uint8Array.of(0), bytes));
/** `[n]` EXPLICIT: a constructed context tag around one encoded value. */
export const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner);
/** `[n]` IMPLICIT on a primitive value (such as a GeneralName's dNSName or iPAddress). */
export const implicitPrimitive = (n: number, contents: Uint8Array) => tlv(0x80 | n, contents);

/** A non-negative INTEGER from its big-endian magnitude. */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return tlv(
    0x02,
    (trimmed[0] ?? 0) & 0x80 ? concatBytes(Uint8Array.of(0), trimmed) : trimmed.slice(),
  );
}

export const smallInteger = (value: number) => unsignedInteger(Uint8Array.of(value));

export function objectIdentifier(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [40 * (arcs[0] as number) + (arcs[1] as number)];
  for (const arc of arcs.slice(2)) {
    const base128: number[] = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128))
      base128.unshift(0x80 | (rest & 0x7f));
    bytes.push(...base128);
  }
  return tlv(0x06, Uint8Array.from(bytes));
}

/** UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), to the second. */
export function time(ms: number): Uint8Array {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString(); // 2026-11-28T23:00:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ""); // 20261128230000
  const year = Number(digits.slice(0, 4));
  return year < 2050 ? tlv(0x17, utf8(`${digits.slice(2)}Z`)) : tlv(0x18, utf8(`${digits}Z`));
}
