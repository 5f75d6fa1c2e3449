/**
 * Verifying the zone state in full, trusting nothing the database says: every changeset
 * held is decoded from its exact stored bytes and its signature checked against its
 * author's key; its row must say what its bytes say; each author's feed must be a hash
 * chain from #1 (or, past the checkpoint held, from the changeset its frontier names),
 * written by a member of the zone (and not past its revocation); the checkpoint's rows
 * must hash to its digest, and those holding membership must be backed by the changesets
 * kept as evidence; the state must be exactly what the checkpoint and the changesets
 * after it give, last writer wins; and every table must match its seal. A signature check
 * per changeset makes it slow for a large zone, so it runs as steps: the daemon yields
 * between them, a command runs them straight through.
 */
import type { Database } from "bun:sqlite";
import {
  type DecodedChangeset,
  decodeChangeset,
  verifyChangeset,
} from "../../protocol/changeset.ts";
import { type CheckpointRow, RowsDigest, rowWins } from "../../protocol/checkpoint.ts";
import { verifyDeviceDocument, verifyRevocation } from "../../protocol/documents.ts";
import { type VerifyKey, verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { bytesEqual } from "../../protocol/encoding.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import { isRevocationKey, revocationPrecedence } from "../../protocol/revocation-order.ts";
import { DIGEST_BYTES, type SealFields, xorInto } from "../../protocol/state-seal.ts";
import { BuckyError } from "../errors.ts";
import {
  type CheckpointRecord,
  peekCheckpointRecord,
  readCheckpointRecord,
} from "./checkpoint-record.ts";
import { statesWithBase } from "./checkpoint-rows.ts";
import { isEvidence } from "./evidence.ts";
import {
  CHANGESET_COLUMNS,
  type ChangesetRecord,
  changesetRowOf,
  rowsDigestSteps,
  STATE_COLUMNS,
  type StateRecord,
  type StateSeal,
  stateRowOf,
} from "./seal.ts";

/** Work between two steps: a few milliseconds each. */
const CHANGESETS_PER_STEP = 200;
const STATE_ROWS_PER_STEP = 2000;
/** Problems described in full; the rest are counted. */
const MAX_PROBLEMS = 20;

/** A changeset that cannot be kept: damaged, or after a damaged one in its author's feed. */
export interface BadChangeset {
  readonly localOrder: number;
  readonly author: string;
  readonly seq: number;
}

export interface Verdict {
  /** What is wrong, first things first (at most MAX_PROBLEMS of them). */
  readonly problems: readonly string[];
  readonly problemCount: number;
  /** What a repair must drop. */
  readonly bad: readonly BadChangeset[];
  /** The seal of the tables as they are now. */
  readonly tables: Omit<SealFields, "device" | "verifiedAt" | "damage">;
  /** The digest of checkpoint_base as it is now, and its rows. */
  readonly base: { readonly digest: Uint8Array; readonly rows: number };
  /** Whether the checkpoint's rows (those the state covers, and checkpoint_base) are whole. */
  readonly checkpointWhole: boolean;
}

interface Winner {
  /** Where its changeset stands in the order this node applied them: the first of equals wins. */
  readonly localOrder: number;
  readonly value: string | null;
  readonly ms: number;
  readonly counter: number;
  readonly author: string;
  readonly seq: number;
}

type Problem = (who: (id: string) => string) => string;

export interface VerifyOptions {
  /** Compare the tables with their seal too (not while a repair rebuilds them). */
  readonly againstSeal?: boolean;
}

/** The steps of a full verification; the last returns the verdict. */
export function* verifySteps(
  sqlite: Database,
  seal: StateSeal,
  zone: ZoneId,
  options: VerifyOptions = {},
): Generator<void, Verdict, void> {
  const problems: Problem[] = [];
  let sealed: SealFields | undefined;
  if (options.againstSeal ?? true) {
    try {
      sealed = seal.read(sqlite);
    } catch (error) {
      if (!(error instanceof BuckyError)) throw error;
      problems.push(() => "its seal does not verify");
    }
  }
  let record: CheckpointRecord | undefined;
  try {
    record = readCheckpointRecord(sqlite, seal);
  } catch (error) {
    if (!(error instanceof BuckyError)) throw error;
    problems.push(() => "its checkpoint record does not verify");
    record = peekRecord(sqlite);
  }
  const frontier = record?.frontier ?? new Map<string, number>();
  const frontierHashes = new Map(
    (record?.checkpoint.frontier ?? []).map((entry) => [entry.author as string, entry.hash]),
  );

  // The changesets, author by author in seq order.
  const changesetDigest = new Uint8Array(DIGEST_BYTES);
  let changesetRows = 0;
  let ownHead: { seq: number; mac: Uint8Array } | undefined;
  const bad: BadChangeset[] = [];
  const winners = new Map<string, Winner>();
  const documents = new Set<string>();
  const feeds = new Map<string, number>();
  const keys = new Map<string, VerifyKey>();
  /** What the changesets kept as evidence wrote: `author#seq key` to its value. */
  const evidence = new Map<string, string | null>();
  const frontierHeld = new Set<string>();
  let feed: { author: string; seq: number; hash: Uint8Array | null; broken: boolean } | undefined;
  let changesetProblems = 0;
  for (const row of sqlite
    .query<ChangesetRecord, []>(`SELECT ${CHANGESET_COLUMNS} FROM changesets ORDER BY author, seq`)
    .iterate()) {
    const mac = seal.changesetRowMac(changesetRowOf(row));
    xorInto(changesetDigest, mac);
    changesetRows++;
    if (row.author === seal.device && (ownHead === undefined || row.seq > ownHead.seq))
      ownHead = { seq: row.seq, mac };
    if (feed?.author !== row.author) {
      // The author's feed continues from the changeset the checkpoint's frontier names.
      const from = frontier.get(row.author) ?? 0;
      feed = {
        author: row.author,
        seq: from,
        hash: frontierHashes.get(row.author) ?? null,
        broken: false,
      };
    }
    const covered = row.seq <= (frontier.get(row.author) ?? 0);
    if (feed.broken) {
      bad.push({ localOrder: row.local_order, author: row.author, seq: row.seq });
    } else {
      const checked = checkChangeset(row, covered ? undefined : feed, zone, keys);
      if ("problem" in checked) {
        problems.push(checked.problem);
        changesetProblems++;
        feed.broken = true;
        bad.push({ localOrder: row.local_order, author: row.author, seq: row.seq });
      } else if (covered) {
        // Kept from before the checkpoint: evidence, or the changeset its frontier names.
        const changeset = checked.changeset;
        feeds.set(changeset.author, Math.max(feeds.get(changeset.author) ?? 0, changeset.seq));
        if (changeset.seq === frontier.get(changeset.author)) {
          frontierHeld.add(changeset.author);
          const named = frontierHashes.get(changeset.author) as Uint8Array;
          if (!bytesEqual(named, changeset.hash)) {
            const { author, seq } = changeset;
            problems.push(
              (who) => `changeset ${who(author)}#${seq} is not the one the checkpoint names`,
            );
            changesetProblems++;
          }
        }
        for (const op of changeset.ops) {
          evidence.set(`${changeset.author}#${changeset.seq} ${op.key}`, op.value);
          if (op.value !== null && /^devices\/[^/]+\/doc$/.test(op.key)) documents.add(op.value);
        }
      } else {
        const changeset = checked.changeset;
        feed.seq = changeset.seq;
        feed.hash = changeset.hash;
        feeds.set(changeset.author, changeset.seq);
        for (const op of changeset.ops) {
          const held = winners.get(op.key);
          if (held === undefined || newer(changeset, op, row.local_order, held))
            winners.set(op.key, {
              localOrder: row.local_order,
              value: op.value,
              ms: changeset.hlc.ms,
              counter: changeset.hlc.counter,
              author: changeset.author,
              seq: changeset.seq,
            });
          if (op.value !== null && /^devices\/[^/]+\/doc$/.test(op.key)) documents.add(op.value);
        }
      }
    }
    if (changesetRows % CHANGESETS_PER_STEP === 0) yield;
  }
  // A repair drops a damaged changeset kept from before the checkpoint, with the rest of its
  // author's feed: this device then lacks changesets the checkpoint covers, as one away
  // past it does, and takes the checkpoint again, with what it keeps, from the next peer
  // it syncs with (lib/checkpoint/transfer.ts). Until then, what that author's kept
  // changesets held is awaited, not missing: nothing else leaves a feed short of the
  // frontier (an adopted checkpoint brings every changeset it keeps).
  const awaited = (author: string, seq: number) =>
    seq > (feeds.get(author) ?? 0) && (feeds.get(author) ?? 0) < (frontier.get(author) ?? 0);
  for (const [author, seq] of frontier)
    if (!frontierHeld.has(author) && !awaited(author, seq)) {
      problems.push(
        (who) => `the changeset of ${who(author)} the checkpoint ends at (#${seq}) is missing`,
      );
      changesetProblems++;
    }

  // The state, beside the checkpoint's row for each key. The checkpoint's rows must hash
  // to its digest; the state must be them and the changesets after them, last writer wins.
  // Compared only with what sound changesets give: once one is damaged, the state differs
  // from them by its ops (a repair drops them and rebuilds it anyway).
  const stateDigest = new Uint8Array(DIGEST_BYTES);
  let stateRows = 0;
  const compare = changesetProblems === 0;
  const rowsDigest = new RowsDigest();
  const unbacked: string[] = [];
  /** What the revocation keys hold, by the checkpoint and the changesets after it. */
  const revocations = new Map<string, string | null>();
  for (const { state: row, checkpoint: base } of statesWithBase(sqlite, frontier)) {
    xorInto(stateDigest, seal.stateRowMac(row));
    stateRows++;
    const key = row[0];
    if (base) {
      rowsDigest.add(base);
      if (base[1] !== null && /^devices\/[^/]+\/doc$/.test(key)) documents.add(base[1]);
      if (
        isEvidence(key) &&
        evidence.get(`${base[4]}#${base[5]} ${key}`) !== base[1] &&
        !awaited(base[4], base[5])
      )
        unbacked.push(key);
    }
    const winner = winners.get(key);
    const tail: CheckpointRow | undefined = winner && [
      key,
      winner.value,
      winner.ms,
      winner.counter,
      winner.author,
      winner.seq,
    ];
    const expected = tail && (!base || rowWins(tail, base)) ? tail : base;
    if (/^devices\/[^/]+\/revoked$/.test(key)) revocations.set(key, expected?.[1] ?? null);
    if (compare) {
      winners.delete(key);
      if (expected === undefined) {
        problems.push(() => `state key ${key} is held, but no changeset wrote it`);
      } else if (!sameRow(row, expected)) {
        problems.push(() => `state key ${key} differs from what its changesets give`);
      }
    }
    if (stateRows % STATE_ROWS_PER_STEP === 0) yield;
  }
  for (const [key, winner] of winners)
    if (/^devices\/[^/]+\/revoked$/.test(key) && !revocations.has(key))
      revocations.set(key, winner.value);
  if (compare)
    for (const key of [...winners.keys()].sort())
      problems.push(() => `state key ${key} is missing`);
  let checkpointWhole = true;
  if (record) {
    const digest = rowsDigest.finish();
    if (
      rowsDigest.keys !== record.checkpoint.keys ||
      !bytesEqual(digest, record.checkpoint.digest)
    ) {
      checkpointWhole = false;
      problems.push(
        () =>
          "the checkpoint's state differs from its digest (a row it covers, in the state or kept in checkpoint_base, was altered)",
      );
    }
    for (const key of unbacked.slice(0, MAX_PROBLEMS))
      problems.push(() => `the checkpoint's ${key} is not backed by a changeset kept as evidence`);
  }

  // Every author must be a device the owner admitted, and not write past its revocation
  // (nor past what the checkpoint covers of it: that is settled).
  const members = new Map<string, string>();
  for (const value of documents) {
    try {
      const doc = verifyDeviceDocument(JSON.parse(value), zone);
      members.set(doc.id, doc.name);
    } catch {
      // A value the write rules let in is an owner-signed document; any other was damaged
      // along with its changeset, which is reported as such.
    }
  }
  for (const [author, lastSeq] of feeds) {
    let keepUpTo = lastSeq;
    if (!members.has(author)) {
      problems.push(
        (who) => `changesets of ${who(author)} come from a device that is not a member of the zone`,
      );
      keepUpTo = 0;
    } else {
      const revoked = revocations.get(`devices/${members.get(author)}/revoked`);
      const revocation = revoked ? revocationOf(revoked, zone) : undefined;
      const keeps = Math.max(revocation?.lastSeq ?? 0, frontier.get(author) ?? 0);
      if (revocation?.id === author && lastSeq > keeps) {
        problems.push(
          (who) => `${who(author)} was revoked after #${keeps}, but its #${lastSeq} is held`,
        );
        keepUpTo = keeps;
      }
    }
    if (keepUpTo === lastSeq) continue;
    changesetProblems++;
    for (const row of sqlite
      .query<{ local_order: number; seq: number }, [string, number]>(
        "SELECT local_order, seq FROM changesets WHERE author = ?1 AND seq > ?2",
      )
      .iterate(author, keepUpTo))
      bad.push({ localOrder: row.local_order, author, seq: row.seq });
  }

  // checkpoint_base, against the digest its record keeps.
  const base = yield* rowsDigestSteps(
    sqlite.query<StateRecord, []>(`SELECT ${STATE_COLUMNS} FROM checkpoint_base`).iterate(),
    (row) => seal.baseRowMac(stateRowOf(row)),
    STATE_ROWS_PER_STEP,
  );
  if (
    (options.againstSeal ?? true) &&
    (record
      ? record.baseRows !== base.rows || !bytesEqual(record.baseDigest, base.digest)
      : base.rows > 0)
  )
    problems.push(() => "a row kept in checkpoint_base was altered, added or removed");

  const tables = {
    stateDigest,
    stateRows,
    changesetDigest,
    changesetRows,
    ownHead: ownHead?.mac ?? null,
  };
  // Sound rows that do not match the seal: rows removed whole, or columns no check reads.
  if (problems.length === 0 && sealed) problems.push(...sealProblems(sealed, tables));

  const who = (id: string) => members.get(id) ?? id;
  return {
    // Keys and ids read from the rows are anyone's: nothing in them may steer a terminal.
    problems: problems.slice(0, MAX_PROBLEMS).map((problem) => printable(problem(who))),
    problemCount: problems.length,
    bad,
    tables,
    base,
    checkpointWhole,
  };
}

function sameRow(row: CheckpointRow, expected: CheckpointRow): boolean {
  return (
    row[1] === expected[1] &&
    row[2] === expected[2] &&
    row[3] === expected[3] &&
    row[4] === expected[4] &&
    row[5] === expected[5]
  );
}

/** The record as it stands, when its mac does not verify (to go on checking the rest). */
function peekRecord(sqlite: Database): CheckpointRecord | undefined {
  try {
    return peekCheckpointRecord(sqlite);
  } catch {
    return undefined;
  }
}

/** Runs a full verification straight through. */
export function verifyNow(
  sqlite: Database,
  seal: StateSeal,
  zone: ZoneId,
  options: VerifyOptions = {},
): Verdict {
  return runThrough(verifySteps(sqlite, seal, zone, options));
}

/** Runs steps straight through, for a command that has nothing else to do meanwhile. */
export function runThrough<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** What a verdict found, as one line. */
export function describeProblems(verdict: Verdict): string {
  const [first] = verdict.problems;
  const more = verdict.problemCount - 1;
  return `${first}${more > 0 ? ` (and ${more} more problem${more === 1 ? "" : "s"})` : ""}`;
}

/**
 * One changeset row, checked against its bytes and its author's feed so far (none for a
 * changeset kept from before the checkpoint: those are not a chain).
 */
export function checkChangeset(
  row: ChangesetRecord,
  feed: { seq: number; hash: Uint8Array | null } | undefined,
  zone: ZoneId,
  keys: Map<string, VerifyKey>,
): { changeset: DecodedChangeset } | { problem: Problem } {
  let changeset: DecodedChangeset;
  try {
    changeset = decodeChangeset(new Uint8Array(row.bytes));
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    const message = error.message;
    return { problem: () => `changeset row ${row.local_order} does not decode: ${message}` };
  }
  const { author, seq } = changeset;
  if (changeset.zone !== zone)
    return { problem: (who) => `changeset ${who(author)}#${seq} belongs to another zone` };
  try {
    verifyChangeset(changeset, keyOf(keys, author));
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return { problem: (who) => `changeset ${who(author)}#${seq} has a bad signature` };
  }
  if (author !== row.author)
    return {
      problem: (who) => `changeset ${who(author)}#${seq} is stored as one of ${who(row.author)}'s`,
    };
  if (seq !== row.seq)
    return { problem: (who) => `changeset ${who(author)}#${seq} is stored as #${row.seq}` };
  if (!(row.hash instanceof Uint8Array) || !bytesEqual(changeset.hash, row.hash))
    return { problem: (who) => `changeset ${who(author)}#${seq} is stored with another hash` };
  if (feed === undefined) return { changeset };
  if (seq !== feed.seq + 1) {
    const from = feed.seq;
    return {
      problem: (who) =>
        from === 0
          ? `changesets of ${who(author)} start at #${seq}, not #1`
          : `changesets of ${who(author)} jump from #${from} to #${seq}`,
    };
  }
  if (
    (feed.hash === null) !== (changeset.prev === null) ||
    (feed.hash !== null && !bytesEqual(feed.hash, changeset.prev as Uint8Array))
  )
    return { problem: (who) => `changeset ${who(author)}#${seq} does not chain to #${seq - 1}` };
  return { changeset };
}

/**
 * Whether `changeset` wins over the write `held` holds, as the state's upsert decides:
 * last writer wins, then the greater author id; between equals, the one applied first.
 */
function newer(
  changeset: DecodedChangeset,
  op: DecodedChangeset["ops"][number],
  localOrder: number,
  held: Winner,
): boolean {
  // Of a device's revocation, the one keeping less first (protocol/revocation-order.ts).
  if (isRevocationKey(op.key)) {
    const precedence = revocationPrecedence(op.value, held.value);
    if (precedence !== 0) return precedence > 0;
  }
  const { ms, counter } = changeset.hlc;
  if (ms !== held.ms) return ms > held.ms;
  if (counter !== held.counter) return counter > held.counter;
  if (changeset.author !== held.author) return changeset.author > held.author;
  return localOrder < held.localOrder;
}

function sealProblems(sealed: SealFields, tables: Verdict["tables"]): Problem[] {
  const found: Problem[] = [];
  const rows = (what: string, sealedRows: number, rows: number): Problem => {
    const difference = Math.abs(rows - sealedRows);
    const how = rows < sealedRows ? "removed" : "added";
    return () => (difference === 1 ? `1 ${what} was ${how}` : `${difference} ${what}s were ${how}`);
  };
  if (sealed.changesetRows !== tables.changesetRows)
    found.push(rows("changeset", sealed.changesetRows, tables.changesetRows));
  else if (!bytesEqual(sealed.changesetDigest, tables.changesetDigest))
    found.push(() => "a changeset row was edited");
  if (sealed.stateRows !== tables.stateRows)
    found.push(rows("state row", sealed.stateRows, tables.stateRows));
  else if (!bytesEqual(sealed.stateDigest, tables.stateDigest))
    found.push(() => "a state row was edited");
  if (!sameOrBothNull(sealed.ownHead, tables.ownHead))
    found.push(() => "this device's latest changeset is not the one it last wrote");
  return found;
}

function sameOrBothNull(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a === null || b === null ? a === b : bytesEqual(a, b);
}

function revocationOf(value: string, zone: ZoneId) {
  try {
    return verifyRevocation(JSON.parse(value), zone);
  } catch {
    return undefined;
  }
}

function keyOf(keys: Map<string, VerifyKey>, author: string): VerifyKey {
  let key = keys.get(author);
  if (!key) {
    const publicKey = publicKeyOfId(author, "device");
    if (!publicKey) throw new ProtocolError(`${author} is not a device id`);
    key = verifyKeyFromPublicKey(publicKey);
    keys.set(author, key);
  }
  return key;
}

/** `text` with control and direction-changing characters written as \u escapes. */
function printable(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    const hidden =
      code < 0x20 ||
      (code >= 0x7f && code < 0xa0) ||
      code === 0x200e ||
      code === 0x200f ||
      (code >= 0x2028 && code <= 0x202e) ||
      (code >= 0x2066 && code <= 0x2069);
    out += hidden ? `\\u${code.toString(16).padStart(4, "0")}` : char;
  }
  return out;
}
