/**
 * What devices exchange to sync (CBOR, version 1). Every message carries its sender's
 * version vector (`have`: the highest seq it holds of each device), so either side of any
 * exchange learns what the other lacks and can send it: a device that cannot be called
 * (behind NAT) still delivers everything through the calls it makes.
 *
 *   pull request  {v: 1, have, presence?, presenceAgesMs?, factsHave?, incomplete?, proofsHave?, heads?}
 *   entries       {v: 1, have, entries: [changeset entry bytes, ...], more: bool, presence?, presenceAgesMs?, facts?, factsHave?, checkpoint?, proofs?, proofsHave?}
 *   ack           {v: 1, have, applied: n, rejected: n, presence?, presenceAgesMs?}
 *   earlier       {v: 1, author, below}      (answered with entries: author's changesets < below)
 *
 * `presence`, when there, is the newest presence record (protocol/presence.ts) the
 * sender holds of each device: liveness travels with every exchange, outside the log.
 * `presenceAgesMs`, in the same order, says how long before sending the sender heard each
 * (a duration, so no two clocks need agree): a record passed on late is counted from when
 * it was first heard, by a device that joined late too.
 * `factsHave` is the `at` of the newest device facts (protocol/device-facts.ts) the
 * sender holds of each device, and `facts` the records it holds that are newer than the
 * other side said it has: each record crosses once per change, not in every message.
 * `proofsHave` names the devices the sender holds an equivocation proof of (with its seq),
 * and `proofs` are the proofs (protocol/equivocation.ts) it holds that the other side
 * did not name: a device caught equivocating anywhere is quarantined everywhere.
 * `heads`, in a pull request, is the hash of the asker's last changeset of each author (the
 * seq its `have` names): an answerer holding a different changeset of that author at that
 * seq sends it with the entries, so two histories of one length (a device that signed two
 * different changesets after the same one, one to each peer, and stopped) are found too,
 * where comparing seqs alone never sends anything (lib/sync/exchange.ts differingHeads).
 * `earlier` asks for an author's changesets below a seq, the highest first, a bounded few:
 * what a device that met a broken chain asks, to find where the two histories part and
 * form the proof (lib/sync/fork-search.ts); an older device does not know the route.
 * `checkpoint` (protocol/checkpoint.ts) is the answering device's agreed checkpoint, offered
 * instead of entries when the asker lacks changesets it has compacted away (it is behind
 * the checkpoint's frontier), or says with `incomplete: true` that it holds changesets
 * without the checkpoint that explains their gaps: the asker fetches the checkpoint, then
 * pulls again. Fields a version does not know are passed over, so devices of different
 * versions sync (one that predates checkpoints cannot follow a zone past its first one).
 * A pull is answered with entries the asker lacks, in the order the answering device
 * applied them (so members arrive before their writes), a page at a time; a push sends
 * entries unasked and is answered with an ack. Entries are verified when applied.
 */

import { decodeCbor, encodeCbor } from "./cbor.ts";
import { HASH_BYTES, MAX_CHANGESET_BYTES } from "./changeset.ts";
import { MAX_OFFER_BYTES } from "./checkpoint.ts";
import { MAX_FACTS_BYTES } from "./device-facts.ts";
import { MAX_PROOF_BYTES } from "./equivocation.ts";
import { check } from "./errors.ts";
import { type DeviceId, parseDeviceId } from "./ids.ts";
import { MAX_PRESENCE_BYTES } from "./presence.ts";
import { requireRecord, requireUint } from "./shape.ts";

export const SYNC_VERSION = 1;
export const MAX_SYNC_MESSAGE_BYTES = 16 * 1024 * 1024;
/** A page of entries stops growing past this size (one entry may take it over). */
export const PAGE_BYTES = 4 * 1024 * 1024;
export const MAX_VECTOR_DEVICES = 10_000;

export type VersionVector = ReadonlyMap<DeviceId, number>;

/** What every message may carry besides its own content: presence records. */
interface WithPresence {
  readonly presence?: readonly Uint8Array[];
  /** How long before sending the sender heard each record (ms), in the same order. */
  readonly presenceAgesMs?: readonly number[];
}

/** What exchanges carry to pass device facts on: what the sender holds, and what the other lacks. */
interface WithFacts {
  readonly facts?: readonly Uint8Array[];
  /** The `at` of the newest facts the sender holds of each device. */
  readonly factsHave?: VersionVector;
}

/** What exchanges carry to pass equivocation proofs on: whose the sender holds, and those the other lacks. */
interface WithProofs {
  readonly proofs?: readonly Uint8Array[];
  /** The devices the sender holds a proof of, each with the proof's seq. */
  readonly proofsHave?: VersionVector;
}

export interface PullRequest
  extends WithPresence,
    Pick<WithFacts, "factsHave">,
    Pick<WithProofs, "proofsHave"> {
  readonly have: VersionVector;
  /** The asker holds changesets past gaps it has no checkpoint for: offer it one. */
  readonly incomplete?: boolean;
  /** The hash of the asker's last changeset of each author (at the seq `have` names). */
  readonly heads?: ReadonlyMap<DeviceId, Uint8Array>;
}

export interface EntriesMessage extends WithPresence, WithFacts, WithProofs {
  readonly have: VersionVector;
  readonly entries: readonly Uint8Array[];
  /** The sender had more to send than fit in this message. */
  readonly more: boolean;
  /** A checkpoint offer (protocol/checkpoint.ts), when the asker must fetch one first. */
  readonly checkpoint?: Uint8Array;
}

export interface Ack extends WithPresence {
  readonly have: VersionVector;
  readonly applied: number;
  readonly rejected: number;
}

export function encodePullRequest(request: PullRequest): Uint8Array {
  return encodeCbor({
    v: SYNC_VERSION,
    have: Object.fromEntries(request.have),
    ...presenceField(request),
    ...factsFields(request),
    ...(request.incomplete ? { incomplete: true } : {}),
    ...proofsFields(request),
    ...(request.heads && request.heads.size > 0
      ? { heads: Object.fromEntries(request.heads) }
      : {}),
  });
}

export function decodePullRequest(bytes: Uint8Array): PullRequest {
  const message = decodeMessage(bytes, "pull request");
  const { factsHave } = decodeFactsFields(message);
  return {
    have: decodeVector(message.have),
    ...decodePresenceField(message),
    ...(factsHave ? { factsHave } : {}),
    ...(message.incomplete === true ? { incomplete: true } : {}),
    ...decodeProofsHave(message),
    ...(message.heads === undefined ? {} : { heads: decodeHeads(message.heads) }),
  };
}

function decodeHeads(value: unknown): Map<DeviceId, Uint8Array> {
  const heads = Object.entries(requireRecord(value, "heads"));
  check(heads.length <= MAX_VECTOR_DEVICES, `heads name at most ${MAX_VECTOR_DEVICES} devices`);
  return new Map(
    heads.map(([device, hash]) => {
      const id = parseDeviceId(device);
      check(id !== undefined, "heads name something that is not a device id");
      check(
        hash instanceof Uint8Array && hash.length === HASH_BYTES,
        `a head is a hash of ${HASH_BYTES} bytes`,
      );
      return [id, hash];
    }),
  );
}

export function encodeEntries(message: EntriesMessage): Uint8Array {
  return encodeCbor({
    v: SYNC_VERSION,
    have: Object.fromEntries(message.have),
    entries: message.entries,
    more: message.more,
    ...presenceField(message),
    ...factsFields(message),
    ...(message.checkpoint ? { checkpoint: message.checkpoint } : {}),
    ...proofsFields(message),
  });
}

export function decodeEntries(bytes: Uint8Array): EntriesMessage {
  const message = decodeMessage(bytes, "sync entries");
  check(Array.isArray(message.entries), "sync entries must be an array");
  check(typeof message.more === "boolean", "sync entries more must be a boolean");
  for (const entry of message.entries) {
    check(entry instanceof Uint8Array, "a sync entry must be a byte string");
    check(
      entry.length <= MAX_CHANGESET_BYTES,
      `a sync entry is at most ${MAX_CHANGESET_BYTES} bytes`,
    );
  }
  if (message.checkpoint !== undefined) {
    check(message.checkpoint instanceof Uint8Array, "a checkpoint offer must be a byte string");
    check(
      message.checkpoint.length <= MAX_OFFER_BYTES,
      `a checkpoint offer is at most ${MAX_OFFER_BYTES} bytes`,
    );
  }
  return {
    have: decodeVector(message.have),
    entries: message.entries as Uint8Array[],
    more: message.more,
    ...decodePresenceField(message),
    ...decodeFactsFields(message),
    ...(message.checkpoint instanceof Uint8Array ? { checkpoint: message.checkpoint } : {}),
    ...decodeProofsHave(message),
    ...decodeProofs(message),
  };
}

export function encodeAck(ack: Ack): Uint8Array {
  return encodeCbor({
    v: SYNC_VERSION,
    have: Object.fromEntries(ack.have),
    applied: ack.applied,
    rejected: ack.rejected,
    ...presenceField(ack),
  });
}

export function decodeAck(bytes: Uint8Array): Ack {
  const message = decodeMessage(bytes, "sync ack");
  return {
    have: decodeVector(message.have),
    applied: requireUint(message.applied, "sync ack applied"),
    rejected: requireUint(message.rejected, "sync ack rejected"),
    ...decodePresenceField(message),
  };
}

/**
 * A message's fields. Those this version does not know are passed over, not refused: a
 * zone's devices are upgraded one at a time, and must keep syncing meanwhile (what a
 * newer device adds is lost on an older one, never an error). The changesets inside
 * stay as strict as ever: they are signed.
 */
function decodeMessage(bytes: Uint8Array, what: string): Record<string, unknown> {
  const message = requireRecord(decodeCbor(bytes, MAX_SYNC_MESSAGE_BYTES, what), what);
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

/** Present only when there is some: a message without presence is what it always was. */
function presenceField(message: WithPresence): WithPresence {
  if (!message.presence || message.presence.length === 0) return {};
  const ages = message.presenceAgesMs;
  return {
    presence: message.presence,
    ...(ages && ages.length === message.presence.length ? { presenceAgesMs: ages } : {}),
  };
}

function decodePresenceField(message: Record<string, unknown>): WithPresence {
  if (message.presence === undefined) return {};
  const records = deviceRecords(
    message.presence,
    "presence",
    "a presence record",
    MAX_PRESENCE_BYTES,
  );
  if (message.presenceAgesMs === undefined) return { presence: records };
  const ages = message.presenceAgesMs;
  check(
    Array.isArray(ages) && ages.length === records.length,
    "sync presenceAgesMs must be an array as long as presence",
  );
  return {
    presence: records,
    presenceAgesMs: ages.map((age) => requireUint(age, "a presence age")),
  };
}

function factsFields(message: WithFacts): {
  facts?: readonly Uint8Array[];
  factsHave?: Record<string, number>;
} {
  return {
    ...(message.facts && message.facts.length > 0 ? { facts: message.facts } : {}),
    ...(message.factsHave ? { factsHave: Object.fromEntries(message.factsHave) } : {}),
  };
}

function decodeFactsFields(message: Record<string, unknown>): WithFacts {
  const fields: { facts?: Uint8Array[]; factsHave?: VersionVector } = {};
  if (message.factsHave !== undefined) fields.factsHave = decodeVector(message.factsHave);
  if (message.facts !== undefined)
    fields.facts = deviceRecords(message.facts, "facts", "a facts record", MAX_FACTS_BYTES);
  return fields;
}

/** Present only when there is some: a message without proofs is what it always was. */
function proofsFields(message: WithProofs): {
  proofs?: readonly Uint8Array[];
  proofsHave?: Record<string, number>;
} {
  return {
    ...(message.proofs && message.proofs.length > 0 ? { proofs: message.proofs } : {}),
    ...(message.proofsHave ? { proofsHave: Object.fromEntries(message.proofsHave) } : {}),
  };
}

function decodeProofsHave(message: Record<string, unknown>): { proofsHave?: VersionVector } {
  return message.proofsHave === undefined ? {} : { proofsHave: decodeVector(message.proofsHave) };
}

function decodeProofs(message: Record<string, unknown>): { proofs?: readonly Uint8Array[] } {
  if (message.proofs === undefined) return {};
  return {
    proofs: deviceRecords(message.proofs, "proofs", "an equivocation proof", MAX_PROOF_BYTES),
  };
}

/**
 * A field of signed records, one a device at most (presence, facts, proofs): an array of
 * byte strings, each at most `maxBytes`, checked before any is read.
 */
function deviceRecords(
  value: unknown,
  field: "presence" | "facts" | "proofs",
  aRecord: string,
  maxBytes: number,
): Uint8Array[] {
  check(Array.isArray(value), `sync ${field} must be an array`);
  check(
    value.length <= MAX_VECTOR_DEVICES,
    `sync ${field} ${field === "presence" ? "names" : "name"} at most ${MAX_VECTOR_DEVICES} devices`,
  );
  for (const record of value) {
    check(record instanceof Uint8Array, `${aRecord} must be a byte string`);
    check(record.length <= maxBytes, `${aRecord} is at most ${maxBytes} bytes`);
  }
  return value as Uint8Array[];
}

/** What a device asks to find where its history of `author` and the other's part. */
export interface EarlierRequest {
  readonly author: DeviceId;
  /** Changesets with a lower seq than this. */
  readonly below: number;
}

export function encodeEarlierRequest(request: EarlierRequest): Uint8Array {
  return encodeCbor({ v: SYNC_VERSION, author: request.author, below: request.below });
}

export function decodeEarlierRequest(bytes: Uint8Array): EarlierRequest {
  const message = decodeMessage(bytes, "earlier request");
  const author = typeof message.author === "string" ? parseDeviceId(message.author) : undefined;
  check(author !== undefined, "an earlier request names a device id");
  const below = message.below;
  check(
    typeof below === "number" && Number.isSafeInteger(below) && below >= 1,
    "an earlier request's seq is a positive integer",
  );
  return { author, below };
}
