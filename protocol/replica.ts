/**
 * What a standby and the device holding an app's data exchange (over the peer API, so
 * both ends are members and the link is pinned TLS):
 *
 *   GET  /v1/replicas/<app>/head?epoch=E&seq=S&waitMs=W   the holder's newest snapshot once
 *                                                       newer than (E, S): JSON head, or 204
 *   POST /v1/replicas/<app>/blobs   CBOR [id, …]          CBOR [bytes | null, …], same order
 *   POST /v1/replicas/<app>/ack     JSON {epoch, seq, at}  which snapshot the standby has whole
 *
 * (E, S) is the snapshot of this holder's the standby has whole (0, 0: none): when it is the
 * holder's newest, the request acknowledges it too.
 *
 * Blob ids are the SHA-256 of the bytes, in hex: the receiver checks every one.
 */
import { decodeCbor, encodeCbor } from "./cbor.ts";
import { check } from "./errors.ts";
import { checkDeviceName } from "./names.ts";
import { isRecord } from "./shape.ts";

/** Ids asked for in one request. */
export const MAX_BLOBS_PER_REQUEST = 512;
/** An answer stops adding blobs past this size (one blob may take it over). */
export const BLOB_ANSWER_BYTES = 8 * 1024 * 1024;
const BLOB_ID = /^[0-9a-f]{64}$/;
/** A blob is at most the chunker's largest chunk, or a tree. */
export const MAX_BLOB_BYTES = 16 * 1024 * 1024;

/** A whole snapshot of an app's data, as its holder took it. */
export interface HeadOnWire {
  readonly app: string;
  /** The holder's epoch (its claim in the zone state) the snapshot belongs to. */
  readonly epoch: number;
  /** Counts the holder's snapshots within the epoch, from 1. */
  readonly seq: number;
  /** The device that took it. */
  readonly holder: string;
  /** The root tree's blob id. */
  readonly root: string;
  /** What the snapshot holds, times and modes left out: equal for equal data. */
  readonly content: string;
  /** When it was taken (the holder's clock, ms since the epoch). */
  readonly at: number;
  readonly files: number;
  readonly bytes: number;
  /** Bytes of the blobs that were new with it. */
  readonly addedBytes: number;
  /** The last snapshot before a planned move: the app was stopped, nothing comes after it. */
  readonly final: boolean;
}

export function encodeBlobRequest(ids: readonly string[]): Uint8Array {
  return encodeCbor(ids);
}

export function decodeBlobRequest(bytes: Uint8Array): string[] {
  const ids = decodeCbor(bytes, 80 * MAX_BLOBS_PER_REQUEST, "blob request");
  check(Array.isArray(ids), "a blob request is a list of ids");
  check(
    ids.length <= MAX_BLOBS_PER_REQUEST,
    `a blob request names at most ${MAX_BLOBS_PER_REQUEST} ids`,
  );
  for (const id of ids)
    check(typeof id === "string" && BLOB_ID.test(id), "a blob id is 64 hex digits");
  return ids as string[];
}

export function encodeBlobAnswer(blobs: readonly (Uint8Array | null)[]): Uint8Array {
  return encodeCbor(blobs);
}

export function decodeBlobAnswer(bytes: Uint8Array, asked: number): (Uint8Array | null)[] {
  const blobs = decodeCbor(bytes, BLOB_ANSWER_BYTES + MAX_BLOB_BYTES + 64 * 1024, "blob answer");
  check(
    Array.isArray(blobs) && blobs.length <= asked,
    "a blob answer is a list no longer than asked",
  );
  for (const blob of blobs)
    check(
      blob === null || (blob instanceof Uint8Array && blob.length <= MAX_BLOB_BYTES),
      "a blob answer holds blobs or nulls",
    );
  return blobs as (Uint8Array | null)[];
}

/** Checks the shape of a head a holder sent. */
export function decodeHead(value: unknown, app: string): HeadOnWire {
  check(isRecord(value), "a replica head is an object");
  const count = (field: string) => {
    const n = value[field];
    check(
      typeof n === "number" && Number.isSafeInteger(n) && n >= 0,
      `replica head ${field} must be a whole number`,
    );
    return n as number;
  };
  check(value.app === app, "the replica head is for another app");
  check(
    typeof value.holder === "string" && value.holder.length <= 63,
    "replica head holder must be a device name",
  );
  check(
    typeof value.root === "string" && BLOB_ID.test(value.root),
    "replica head root must be a blob id",
  );
  check(
    typeof value.content === "string" && BLOB_ID.test(value.content),
    "replica head content must be a digest",
  );
  check(typeof value.final === "boolean", "replica head final must be a boolean");
  return {
    app,
    epoch: count("epoch"),
    seq: count("seq"),
    holder: value.holder as string,
    root: value.root as string,
    content: value.content as string,
    at: count("at"),
    files: count("files"),
    bytes: count("bytes"),
    addedBytes: count("addedBytes"),
    final: value.final as boolean,
  };
}

export interface ReplicaAck {
  readonly epoch: number;
  readonly seq: number;
  /** When the snapshot was taken (the holder's clock). */
  readonly at: number;
}

export function encodeReplicaAck(ack: ReplicaAck): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(ack));
}

export function decodeReplicaAck(bytes: Uint8Array): ReplicaAck {
  check(bytes.length <= 256, "a replica ack is at most 256 bytes");
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    check(false, "a replica ack is not JSON");
  }
  check(isRecord(value), "a replica ack is an object");
  for (const field of ["epoch", "seq", "at"])
    check(
      typeof value[field] === "number" &&
        Number.isSafeInteger(value[field]) &&
        (value[field] as number) >= 0,
      `replica ack ${field} must be a whole number`,
    );
  return { epoch: value.epoch as number, seq: value.seq as number, at: value.at as number };
}

/**
 * A conflict copy's name: when it was kept (an RFC 3339 time, `:` and `.` as `-`), the device
 * that kept it and the epoch its writes were made in, like
 * `2026-11-29T09-35-13-000Z-laptop-epoch3`.
 */
export function conflictCopyName(atMs: number, device: string, epoch: number): string {
  return `${new Date(atMs).toISOString().replace(/[:.]/g, "-")}-${device}-epoch${epoch}`;
}

const CONFLICT_COPY_NAME =
  /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-([a-z](?:[a-z0-9-]{0,61}[a-z0-9])?)-epoch\d{1,16}$/;

/** Whether `text` is a conflict copy's name (conflictCopyName): never a sentence or a path. */
export function isConflictCopyName(text: string): boolean {
  const device = CONFLICT_COPY_NAME.exec(text)?.[1];
  return device !== undefined && checkDeviceName(device).ok;
}
