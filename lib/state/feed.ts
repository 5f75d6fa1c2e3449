/**
 * This device's own feed: every local transaction becomes one signed changeset, chained
 * to the previous one, stored, applied and sealed, all in one SQLite transaction.
 */
import {
  type Changeset,
  decodeChangeset,
  type Op,
  signChangeset,
} from "../../protocol/changeset.ts";
import type { SigningKey } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { compareHlc, type Hlc, nextHlc } from "../../protocol/hlc.ts";
import { type DeviceId, deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import { WRITE_RULES_LEVEL, writeProblem } from "../../protocol/write-rules.ts";
import { BuckyError } from "../errors.ts";
import { IMMEDIATE, type StateDb } from "../store/db.ts";
import { node } from "../store/schema.ts";
import { STATE_SYNCHRONOUS } from "../store/sqlite.ts";
import { loadMembership } from "../sync/membership.ts";
import { ownRefusal } from "../sync/own-refusal.ts";
import { heldBackError, refusingReaders } from "../zone/readers.ts";
import { stateAltered } from "./altered.ts";
import { storeChangeset } from "./apply.ts";
import { heldStateProblem } from "./held-rules.ts";
import type { StateSeal } from "./seal.ts";

export interface Author {
  readonly zone: ZoneId;
  /** This device's name: what the write rules know it by. */
  readonly name: string;
  readonly key: SigningKey;
  /** The seal over this device's state, which every write keeps up to date. */
  readonly seal: StateSeal;
}

/**
 * Signs `ops` as this device's next changeset, stores and applies it. The write rules
 * every peer applies are checked first, at the clock it will carry (nextClock): a device
 * never writes what others would refuse, a member of an older bucky included
 * (lib/zone/readers.ts), nor anything once it is proven to have signed two histories
 * (quarantined).
 * Its commit is durable when this returns (see durably). `alongside` runs in the same
 * transaction once the changeset is stored (what the write entails here, such as a
 * revocation's drop): both are committed, or neither.
 */
export function appendLocalChangeset(
  db: StateDb,
  author: Author,
  ops: readonly Op[],
  nowMs: number,
  alongside?: (changeset: Changeset) => void,
): Changeset {
  const authorId = deviceIdFromPublicKey(author.key.publicKey);
  const refusal = ownRefusal(db, author.zone, { id: authorId, name: author.name });
  // Every peer holding the proof refuses what it signs: a write here would hold only here,
  // and be lost when it joins again.
  if (refusal?.kind === "quarantined") {
    throw new BuckyError(
      "E_QUARANTINED",
      `this device is quarantined: it signed two different histories from changeset #${refusal.fromSeq} on, and no device takes its changes any more`,
      `Most often its home was put back from an older copy. On another device holding the owner key, revoke it (\`bucky devices revoke ${author.name}\`; where this device alone held it, any other device takes it from the recovery phrase first: \`bucky zone owner-key < phrase.txt\` there, then restart its daemon), then join this one again from a fresh home (\`bucky status\` says the same).`,
    );
  }
  if (refusal?.kind === "revoked") {
    throw new BuckyError(
      "E_QUARANTINED",
      `this device was revoked, and it signed two different histories: no device takes its changes any more (its changes up to #${refusal.keptSeq} are kept)`,
      "Join it again from a fresh home (`bucky invite` on a device of the zone, then `bucky join <token>` here).",
    );
  }
  return durably(db, () => signAndStore(db, author, authorId, ops, nowMs, alongside));
}

/**
 * Runs a write whose commit survives a power cut. A changeset is sent to the peers as soon
 * as it is committed, and under the database's synchronous=NORMAL the last commits in the
 * write-ahead log can be lost to a power cut: the device would then sign the same seq
 * again, which every peer holding the first takes for equivocation, a quarantine of an
 * honest device. FULL syncs the log at this commit alone: sync's writes keep NORMAL (what
 * they hold comes back from the peers). SQLite refuses the change inside a transaction,
 * where the outer commit's setting holds.
 */
function durably<T>(db: StateDb, write: () => T): T {
  const sqlite = db.$client;
  if (sqlite.inTransaction) return write();
  sqlite.run("PRAGMA synchronous = FULL");
  try {
    return write();
  } finally {
    sqlite.run(`PRAGMA synchronous = ${STATE_SYNCHRONOUS}`);
  }
}

function signAndStore(
  db: StateDb,
  author: Author,
  authorId: DeviceId,
  ops: readonly Op[],
  nowMs: number,
  alongside: ((changeset: Changeset) => void) | undefined,
): Changeset {
  return db.transaction((tx) => {
    const tally = author.seal.tally(db.$client);
    tally.requireOwnHead();
    const last = ownLast(db, authorId);
    const hlc = nextClock(db, last, nowMs);
    // Checked as every peer will check it: at the clock it carries, against what the state
    // holds.
    for (const op of ops) {
      refuseByRule(op, writeProblem(op, { name: author.name, id: authorId }, author.zone, hlc.ms));
      refuseByRule(op, heldStateProblem(db.$client, op));
    }
    // A member of an older bucky would refuse it, and every later change of this device
    // would wait at that member behind it: the zone would stall there, unsaid.
    const refused = refusingReaders(db, () => loadMembership(db, author.zone), ops, {
      name: author.name,
      level: WRITE_RULES_LEVEL,
    });
    if (refused) throw heldBackError(refused.op, refused.readers);
    const changeset = signChangeset(
      {
        zone: author.zone,
        author: authorId,
        seq: (last?.seq ?? 0) + 1,
        prev: last?.hash ?? null,
        hlc,
        ops: lastOpPerKey(ops),
      },
      author.key,
    );
    storeChangeset(db, tally, changeset, nowMs);
    tally.save();
    tx.update(node).set({ hlcMs: hlc.ms, hlcCounter: hlc.counter }).run();
    alongside?.(changeset);
    return changeset;
    // The write lock taken as it begins: read first and written later, it could not wait
    // for another process's write, and would fail as "locked".
  }, IMMEDIATE);
}

/** This device's own last changeset: its seq, hash and clock. */
function ownLast(
  db: StateDb,
  authorId: DeviceId,
): { seq: number; hash: Uint8Array; hlc: Hlc } | undefined {
  const row = db.$client
    .query<{ seq: number; hash: Uint8Array; bytes: Uint8Array }, [string]>(
      "SELECT seq, hash, bytes FROM changesets WHERE author = ?1 ORDER BY seq DESC LIMIT 1",
    )
    .get(authorId);
  if (!row) return undefined;
  let hlc: Hlc;
  try {
    hlc = decodeChangeset(new Uint8Array(row.bytes)).hlc;
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw stateAltered(db.$client.filename, `this device's changeset #${row.seq} does not decode`);
  }
  return { seq: row.seq, hash: new Uint8Array(row.hash), hlc };
}

/**
 * The clock of the next changeset this device signs, at wall time `nowMs`: past its clock
 * row (the latest it wrote or took) and past its own last changeset whatever that row says,
 * since every peer refuses a changeset dated at or before its author's previous one.
 */
function nextClock(db: StateDb, last: { hlc: Hlc } | undefined, nowMs: number): Hlc {
  const self = db.$client
    .query<Hlc, []>("SELECT hlc_ms AS ms, hlc_counter AS counter FROM node")
    .get();
  if (!self) throw new Error("the node row is missing: the database was not initialized");
  const latest = last && compareHlc(last.hlc, self) > 0 ? last.hlc : self;
  return nextHlc(latest, nowMs);
}

/**
 * The milliseconds of the clock the next changeset this device signs will carry, at wall
 * time `nowMs`: what every peer checks a write's rules against (a budget's signing, a
 * credential's link), which runs ahead of the wall clock once that was set back.
 */
export function nextStampMs(db: StateDb, authorId: DeviceId, nowMs: number): number {
  return nextClock(db, ownLast(db, authorId), nowMs).ms;
}

function refuseByRule(op: Op, problem: string | undefined): void {
  if (problem === undefined) return;
  throw new BuckyError(
    "E_PERMISSION",
    `cannot write ${op.key}: ${problem}`,
    "Every device of the zone would refuse it, so it was not written. Keys under boot/, devices/ and nodes/, and people's accounts and credentials, are written by bucky itself.",
  );
}

/** Within one transaction a later write to a key replaces an earlier one. */
function lastOpPerKey(ops: readonly Op[]): Op[] {
  return [...new Map(ops.map((op) => [op.key, op])).values()];
}
