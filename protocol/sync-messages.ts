/**
 * What devices exchange to sync (CBOR, version 1). Every message carries its sender's
 * version vector (`have`: the highest seq it holds of each device), so either side of any
 * exchange learns what the other lacks and can send it: a device that cannot be called
 * (behind NAT) still delivers everything through the calls it makes.
 *
 *   pull request  {v: 1, have}
 *   entries       {v: 1, have, entries: [changeset entry bytes, ...], more: bool}
 *   ack           {v: 1, have, applied: n, rejected: n}
 *
 * A pull is answered with entries the asker lacks, in the order the answering device
 * applied them (so members arrive before their writes), a page at a time; a push sends
 * entries unasked and is answered with an ack. Entries are verified when applied.
 */

import { decodeCbor, encodeCbor } from "./cbor.ts";
import { MAX_CHANGESET_BYTES } from "./changeset.ts";
import { check } from "./errors.ts";
import { type DeviceId, parseDeviceId } from "./ids.ts";
import { requireOnlyFields, requireRecord, requireUint } from "./shape.ts";

export const SYNC_VERSION = 1;
export const MAX_SYNC_MESSAGE_BYTES = 16 * 1024 * 1024;
/** A page of entries stops growing past this size (one entry may take it over). */
export const PAGE_BYTES = 4 * 1024 * 1024;
export const MAX_VECTOR_DEVICES = 10_000;

export type VersionVector = ReadonlyMap<DeviceId, number>;

export interface EntriesMessage {
  readonly have: VersionVector;
  readonly entries: readonly Uint8Array[];
  /** The sender had more to send than fit in this message. */
  readonly more: boolean;
}

export interface Ack {
  readonly have: VersionVector;
  readonly applied: number;
  readonly rejected: number;
}

export function encodePullRequest(have: VersionVector): Uint8Array {
  return encodeCbor({ v: SYNC_VERSION, have: Object.fromEntries(have) });
}

export function decodePullRequest(bytes: Uint8Array): VersionVector {
  const message = decodeMessage(bytes, "pull request", ["v", "have"]);
  return decodeVector(message.have);
}

export function encodeEntries(message: EntriesMessage): Uint8Array {
  return encodeCbor({
    v: SYNC_VERSION,
    have: Object.fromEntries(message.have),
    entries: message.entries,
    more: message.more,
  });
}

export function decodeEntries(bytes: Uint8Array): EntriesMessage {
  const message = decodeMessage(bytes, "sync entries", ["v", "have", "entries", "more"]);
  check(Array.isArray(message.entries), "sync entries must be an array");
  check(typeof message.more === "boolean", "sync entries more must be a boolean");
  for (const entry of message.entries) {
    check(entry instanceof Uint8Array, "a sync entry must be a byte string");
    check(
      entry.length <= MAX_CHANGESET_BYTES,
      `a sync entry is at most ${MAX_CHANGESET_BYTES} bytes`,
    );
  }
  return {
    have: decodeVector(message.have),
    entries: message.entries as Uint8Array[],
    more: message.more,
  };
}

export function encodeAck(ack: Ack): Uint8Array {
  return encodeCbor({
    v: SYNC_VERSION,
    have: Object.fromEntries(ack.have),
    applied: ack.applied,
    rejected: ack.rejected,
  });
}

export function decodeAck(bytes: Uint8Array): Ack {
  const message = decodeMessage(bytes, "sync ack", ["v", "have", "applied", "rejected"]);
  return {
    have: decodeVector(message.have),
    applied: requireUint(message.applied, "sync ack applied"),
    rejected: requireUint(message.rejected, "sync ack rejected"),
  };
}

function decodeMessage(
  bytes: Uint8Array,
  what: string,
  fields: readonly string[],
): Record<string, unknown> {
  const message = requireRecord(decodeCbor(bytes, MAX_SYNC_MESSAGE_BYTES, what), what);
  requireOnlyFields(message, fields, what);
  check(message.v === SYNC_VERSION, `sync version ${String(message.v)} is not supported`);
  return message;
}

function decodeVector(value: unknown): VersionVector {
  const have = Object.entries(requireRecord(value, "version vector"));
  check(
    have.length <= MAX_VECTOR_DEVICES,
    `a version vector names at most ${MAX_VECTOR_DEVICES} devices`,
  );
  return new Map(
    have.map(([device, seq]) => {
      const id = parseDeviceId(device);
      check(id !== undefined, "a version vector names something that is not a device id");
      return [id, requireUint(seq, "version vector seq")];
    }),
  );
}
