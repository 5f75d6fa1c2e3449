/**
 * What devices exchange to sync (CBOR, version 1):
 *
 *   pull request  {v: 1, have: {deviceId: highest seq held}}
 *   entries       {v: 1, entries: [changeset entry bytes, ...], more: bool}
 *
 * A pull answers with the entries the asker lacks, in the order the answering device
 * applied them (so members arrive before their writes), a page at a time; a push sends
 * new entries unasked. Entries are verified one by one when applied, not here.
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

export function encodePullRequest(have: VersionVector): Uint8Array {
  return encodeCbor({ v: SYNC_VERSION, have: Object.fromEntries(have) });
}

export function decodePullRequest(bytes: Uint8Array): VersionVector {
  const message = requireRecord(
    decodeCbor(bytes, MAX_SYNC_MESSAGE_BYTES, "pull request"),
    "pull request",
  );
  requireOnlyFields(message, ["v", "have"], "pull request");
  check(message.v === SYNC_VERSION, `sync version ${String(message.v)} is not supported`);
  const have = requireRecord(message.have, "pull request have");
  const entries = Object.entries(have);
  check(
    entries.length <= MAX_VECTOR_DEVICES,
    `a version vector names at most ${MAX_VECTOR_DEVICES} devices`,
  );
  return new Map(
    entries.map(([device, seq]) => {
      const id = parseDeviceId(device);
      check(id !== undefined, "pull request names something that is not a device id");
      return [id, requireUint(seq, "pull request seq")];
    }),
  );
}

export interface EntriesMessage {
  readonly entries: readonly Uint8Array[];
  /** The sender had more to send than fit in this message. */
  readonly more: boolean;
}

export function encodeEntries(message: EntriesMessage): Uint8Array {
  return encodeCbor({ v: SYNC_VERSION, entries: message.entries, more: message.more });
}

export function decodeEntries(bytes: Uint8Array): EntriesMessage {
  const message = requireRecord(
    decodeCbor(bytes, MAX_SYNC_MESSAGE_BYTES, "sync entries"),
    "sync entries",
  );
  requireOnlyFields(message, ["v", "entries", "more"], "sync entries");
  check(message.v === SYNC_VERSION, `sync version ${String(message.v)} is not supported`);
  check(Array.isArray(message.entries), "sync entries must be an array");
  check(typeof message.more === "boolean", "sync entries more must be a boolean");
  for (const entry of message.entries) {
    check(entry instanceof Uint8Array, "a sync entry must be a byte string");
    check(
      entry.length <= MAX_CHANGESET_BYTES,
      `a sync entry is at most ${MAX_CHANGESET_BYTES} bytes`,
    );
  }
  return { entries: message.entries as Uint8Array[], more: message.more };
}
