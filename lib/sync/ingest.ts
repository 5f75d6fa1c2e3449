/**
 * Applying changesets that came from other devices. Nothing is trusted for where it came
 * from: each entry must decode within its limits, belong to this zone, be signed by a
 * current member, continue that member's hash chain, carry a sane clock and write only
 * keys its author may write. A rejected entry changes nothing and is logged once.
 */
import {
  type Changeset,
  type DecodedChangeset,
  decodeChangeset,
  verifyChangeset,
} from "../../protocol/changeset.ts";
import { verifyDeviceDocument } from "../../protocol/documents.ts";
import { type VerifyKey, verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { bytesEqual } from "../../protocol/encoding.ts";
import { type EquivocationProof, makeProof } from "../../protocol/equivocation.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { compareHlc, type Hlc, MAX_CLOCK_AHEAD_MS, observeHlc } from "../../protocol/hlc.ts";
import { type DeviceId, publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { writeProblem } from "../../protocol/write-rules.ts";
import type { Log } from "../log.ts";
import { stateAltered } from "../state/altered.ts";
import { insertChangeset, PendingWrites } from "../state/apply.ts";
import { dependsOnHeld, heldStateProblem } from "../state/held-rules.ts";
import type { SealTally, StateSeal } from "../state/seal.ts";
import { IMMEDIATE, type StateDb } from "../store/db.ts";
import { stateValue } from "../store/reads.ts";
import { CheckedEntries } from "./checked-entries.ts";
import { type CutContext, dropPastCut } from "./cut.ts";
import { keepProof } from "./equivocation.ts";
import { loadMembership, type Member, type Membership } from "./membership.ts";

export interface IngestContext {
  readonly zone: ZoneId;
  readonly nowMs: number;
  readonly log: Log;
  /** Where the entries came from, for the log. */
  readonly source: string;
  /** The seal over this device's state, which every change keeps up to date. */
  readonly seal: StateSeal;
  /** The level of write rules applied (WRITE_RULES_LEVEL; lower only in a test). */
  readonly level?: number;
}

export interface Rejection {
  readonly author?: string;
  readonly seq?: number;
  readonly reason: string;
  /**
   * The author's history here and the sender's part below this seq (a broken chain): the
   * sender is asked for its changesets below to find the fork point (lib/sync/fork-search.ts).
   */
  readonly forkBelow?: number;
  /**
   * Refused by a write rule (protocol/write-rules.ts): the author's later changesets wait
   * here behind it, until a bucky that takes it applies it.
   */
  readonly byRule?: true;
}

export interface IngestResult {
  readonly applied: readonly Changeset[];
  readonly duplicates: number;
  readonly rejected: readonly Rejection[];
  /** Entries that must wait for an earlier changeset of their author: pull to fill the gap. */
  readonly deferred: number;
  /** A device joined, was revoked or was quarantined: who may talk and write changed. */
  readonly membershipChanged: boolean;
}

type Outcome =
  | { kind: "applied" }
  | { kind: "duplicate" }
  | { kind: "deferred" }
  | { kind: "rejected"; reason: string; forkBelow?: number; byRule?: true }
  | { kind: "quarantined"; reason: string };

/**
 * Verifies and applies `entries` in one transaction. Entries as bytes have their
 * signatures checked one by one inside it; pass `CheckedEntries.verify(entries)` instead
 * to check a batch's on every core before the write lock is taken.
 */
export function ingestEntries(
  db: StateDb,
  entries: readonly Uint8Array[] | CheckedEntries,
  context: IngestContext,
): IngestResult {
  const checked =
    entries instanceof CheckedEntries ? entries : CheckedEntries.decode(entries, context.zone);
  const merged = new Merged(checked);
  applyBatch(db, checked.changesets, checked, context, merged, true);
  return merged.report(context);
}

/**
 * A page's changesets in batches of this many, each applied in a transaction of its own
 * while the signatures of the batches after it are checked on the runtime's crypto
 * threads (on the other cores).
 */
export const BATCH_CHANGESETS = 1000;

export interface PageOptions {
  /** Changesets a batch (BATCH_CHANGESETS unless given: tests try small ones). */
  readonly batchChangesets?: number;
  /**
   * Told after each batch commits, before anything else runs: what it applied, and
   * whether it changed who may write.
   */
  readonly batchApplied?: (batch: {
    readonly applied: readonly Changeset[];
    readonly membershipChanged: boolean;
  }) => void;
  /** Told how many signature checks the page started off the main thread (for tests). */
  readonly checksStarted?: (count: number) => void;
}

/**
 * Verifies and applies a page of entries as a peer sent them: decoded, the signature of
 * every changeset not held already started on the worker threads, then applied a batch
 * at a time, each batch once its own signatures are checked, so that applying one
 * overlaps checking the next. Each batch is one transaction. A changeset that waits for
 * one in a later batch (its author's document, an earlier seq) waits in the next batch,
 * so the page leaves the state as one transaction would have
 * (lib/sync/ingest-page.prop.test.ts).
 */
export async function ingestPage(
  db: StateDb,
  entries: readonly Uint8Array[],
  context: IngestContext,
  options: PageOptions = {},
): Promise<IngestResult> {
  // Changesets at or below an author's last seq held here are held already (or twins of
  // one held): their signatures are not checked ahead.
  const heads = new FeedHeads(db);
  const checked = CheckedEntries.start(entries, context.zone, (author) => heads.head(author).seq);
  options.checksStarted?.(checked.started);
  const merged = new Merged(checked);
  const all = checked.changesets;
  const size = appliedWhole(db, all) ? all.length : (options.batchChangesets ?? BATCH_CHANGESETS);
  let waiting: readonly DecodedChangeset[] = [];
  for (let start = 0; ; start += size) {
    const end = Math.min(start + size, all.length);
    await checked.checkedUpTo(end);
    const last = end === all.length;
    const batch =
      waiting.length > 0 ? [...waiting, ...all.slice(start, end)] : all.slice(start, end);
    const appliedBefore = merged.applied.length;
    const done = applyBatch(db, batch, checked, context, merged, last);
    waiting = done.waiting;
    options.batchApplied?.({
      applied: merged.applied.slice(appliedBefore),
      membershipChanged: done.membershipChanged,
    });
    if (last) break;
  }
  return merged.report(context);
}

/**
 * Whether a page must be applied in one transaction, as it was before batches: when what
 * it does depends on which of its changesets a transaction has seen. That is so of two
 * changesets signed with one seq (which is applied, and which of the author's later ones
 * get in before it is caught) and of anything that takes away a device's right to write:
 * a revocation (which of its changesets are kept depends on which revocation they meet)
 * or a device document that replaces another under the same name (whose changesets are
 * still a member's). A page that only adds devices is batched: a changeset that waits
 * for its author's document waits in the next batch.
 */
function appliedWhole(db: StateDb, changesets: readonly DecodedChangeset[]): boolean {
  const hashes = new Map<string, Map<number, Uint8Array>>();
  const documents = new Map<string, string | null>();
  for (const { author, seq, hash, ops } of changesets) {
    let feed = hashes.get(author);
    if (!feed) {
      feed = new Map();
      hashes.set(author, feed);
    }
    const seen = feed.get(seq);
    if (seen === undefined) feed.set(seq, hash);
    else if (!bytesEqual(seen, hash)) return true;
    for (const op of ops) {
      if (!op.key.startsWith("devices/")) continue;
      if (op.key.endsWith("/revoked")) return true;
      if (!op.key.endsWith("/doc")) continue;
      const other = documents.get(op.key);
      if (other !== undefined && other !== op.value) return true;
      documents.set(op.key, op.value);
    }
  }
  for (const [key, value] of documents) {
    const held = stateValue(db, key);
    if (held !== undefined && held !== value) return true;
  }
  return false;
}

/** What the batches of one page did, added up. */
class Merged {
  readonly applied: Changeset[] = [];
  readonly rejected: Rejection[];
  duplicates = 0;
  deferred = 0;
  membershipChanged = false;

  constructor(checked: CheckedEntries) {
    this.rejected = [...checked.rejected];
  }

  /** Logs what was done (once for the page) and returns it. */
  report(context: IngestContext): IngestResult {
    const { applied, duplicates, rejected, deferred, membershipChanged } = this;
    // One line per author's run of changesets: a page of a join is thousands of them.
    for (const run of appliedRuns(applied))
      context.log.info("applied changesets", { ...run, from: context.source });
    for (const rejection of rejected) {
      context.log.warn("rejected changeset", { ...rejection, from: context.source });
    }
    if (deferred > 0)
      context.log.debug("changesets wait for earlier ones", {
        count: deferred,
        from: context.source,
      });
    return { applied, duplicates, rejected, deferred, membershipChanged };
  }
}

/**
 * Applies `changesets` in one transaction (IMMEDIATE), adding what it did to `merged`.
 * Returns what still waits when this is not the `last` batch of a page (the next takes
 * it up; after the last, what waits is refused, an author not a member, or deferred), and
 * whether this batch changed who may write.
 */
function applyBatch(
  db: StateDb,
  changesets: readonly DecodedChangeset[],
  checked: CheckedEntries,
  context: IngestContext,
  merged: Merged,
  last: boolean,
): { waiting: DecodedChangeset[]; membershipChanged: boolean } {
  let pending = inFeedOrder(changesets);
  const { applied, rejected } = merged;
  let waitingOn: DecodedChangeset[] = [];
  let membershipChanged = false;
  // Everything inside runs on the same connection, in this one transaction (IMMEDIATE).
  db.transaction(() => {
    const tally = context.seal.tally(db.$client);
    const feeds = new FeedHeads(db);
    const keys = new Map<DeviceId, VerifyKey>();
    let membership = loadMembership(db, context.zone);
    // Applied changesets' ops, written to the state once per key (the winner of the batch).
    const writes = new PendingWrites();
    let latest: Hlc | undefined;
    // Entries may depend on each other (a device's document, then its writes): apply in
    // passes until a pass makes no progress.
    for (let progress = true; progress && pending.length > 0; ) {
      progress = false;
      const waiting: DecodedChangeset[] = [];
      for (const changeset of pending) {
        const outcome = consider(
          db,
          tally,
          changeset,
          membership,
          feeds,
          keys,
          checked,
          context,
          () => writes.flush(db.$client, tally),
        );
        if (outcome.kind === "applied") {
          progress = true;
          applied.push(changeset);
          writes.add(changeset);
          feeds.advance(changeset);
          if (latest === undefined || compareHlc(changeset.hlc, latest) > 0) latest = changeset.hlc;
          if (changeset.ops.some((op) => op.key.startsWith("devices/"))) {
            membershipChanged = true;
            writes.flush(db.$client, tally);
            membership = loadMembership(db, context.zone);
            const dropped = dropRevokedChangesets(db, tally, changeset, membership, context);
            if (dropped.length > 0) {
              // What went may have admitted devices: who is a member is read again.
              for (const author of dropped) feeds.forget(author);
              membership = loadMembership(db, context.zone);
            }
          }
        } else if (outcome.kind === "duplicate") {
          merged.duplicates++;
        } else if (outcome.kind === "deferred") {
          waiting.push(changeset);
        } else {
          rejected.push({
            author: changeset.author,
            seq: changeset.seq,
            reason: outcome.reason,
            ...(outcome.kind === "rejected" && outcome.forkBelow !== undefined
              ? { forkBelow: outcome.forkBelow }
              : {}),
            ...(outcome.kind === "rejected" && outcome.byRule ? { byRule: true as const } : {}),
          });
          if (outcome.kind === "quarantined") {
            membershipChanged = true;
            writes.flush(db.$client, tally);
            // Its changesets from the fork on are refused from now on (of a revoked device,
            // past its cut still: the owner's word alone decides what is kept); none held is
            // dropped.
            membership = loadMembership(db, context.zone);
          }
        }
      }
      pending = waiting;
    }
    if (last) {
      // What still waits has an unknown author (refused) or a gap before it (kept waiting).
      for (const changeset of pending) {
        if (membership.byId.has(changeset.author)) {
          merged.deferred++;
        } else {
          rejected.push({
            author: changeset.author,
            seq: changeset.seq,
            reason: "its author is not a member of the zone",
          });
        }
      }
    } else {
      waitingOn = pending;
    }
    writes.flush(db.$client, tally);
    if (latest !== undefined) advanceClock(db, latest, context.nowMs);
    tally.save();
  }, IMMEDIATE);
  if (membershipChanged) merged.membershipChanged = true;
  return { waiting: waitingOn, membershipChanged };
}

/**
 * The changesets by author (in the order of their ids), each author's by seq. Sorted per
 * author: a page holds thousands of changesets of a few authors, and comparing ids as
 * text is the costly part of a sort of them all.
 */
function inFeedOrder(changesets: readonly DecodedChangeset[]): DecodedChangeset[] {
  const byAuthor = new Map<string, DecodedChangeset[]>();
  for (const changeset of changesets) {
    const feed = byAuthor.get(changeset.author);
    if (feed) feed.push(changeset);
    else byAuthor.set(changeset.author, [changeset]);
  }
  const ordered: DecodedChangeset[] = [];
  for (const author of [...byAuthor.keys()].sort(compareCodeUnits)) {
    const feed = byAuthor.get(author) as DecodedChangeset[];
    for (let i = 1; i < feed.length; i++) {
      // Pages come in the order their sender applied them: most feeds are in order already.
      if ((feed[i] as DecodedChangeset).seq < (feed[i - 1] as DecodedChangeset).seq) {
        feed.sort((a, b) => a.seq - b.seq);
        break;
      }
    }
    for (const changeset of feed) ordered.push(changeset);
  }
  return ordered;
}

/** What was applied, per author: the first and last seq, how many, and their ops. */
function appliedRuns(applied: readonly Changeset[]) {
  const runs = new Map<
    string,
    { author: string; firstSeq: number; lastSeq: number; count: number; ops: number }
  >();
  for (const { author, seq, ops } of applied) {
    const run = runs.get(author);
    if (!run) {
      runs.set(author, { author, firstSeq: seq, lastSeq: seq, count: 1, ops: ops.length });
      continue;
    }
    run.firstSeq = Math.min(run.firstSeq, seq);
    run.lastSeq = Math.max(run.lastSeq, seq);
    run.count++;
    run.ops += ops.length;
  }
  return runs.values();
}

function consider(
  db: StateDb,
  tally: SealTally,
  changeset: DecodedChangeset,
  membership: Membership,
  feeds: FeedHeads,
  keys: Map<DeviceId, VerifyKey>,
  checked: CheckedEntries,
  context: IngestContext,
  /** Writes what the batch applied so far to the state, for a rule on what it holds. */
  flushWrites: () => void,
): Outcome {
  const member =
    membership.byId.get(changeset.author) ?? selfIntroduction(changeset, context.zone, membership);
  if (!member) return { kind: "deferred" };
  // From a quarantine's fork or past a revocation's cut nothing is taken; below, anything
  // is, in any order: a proof that came first does not refuse what the author signed before.
  if (member.refusedFromSeq !== undefined && changeset.seq >= member.refusedFromSeq) {
    return member.revokedAfterSeq === undefined || changeset.seq <= member.revokedAfterSeq
      ? {
          kind: "rejected",
          reason: `its author is quarantined for equivocation (from #${member.forkSeq})`,
        }
      : { kind: "rejected", reason: "its author was revoked" };
  }
  const head = feeds.head(changeset.author);
  const held = changeset.seq <= head.seq ? feeds.held(changeset.author, changeset.seq) : undefined;
  // The very changeset held already: nothing is written, so its signature need not be checked.
  if (changeset.seq <= head.seq && (!held || bytesEqual(held.hash, changeset.hash)))
    return { kind: "duplicate" };
  if (!checked.signatureVerified(changeset)) {
    try {
      verifyChangeset(changeset, keyOf(keys, changeset.author));
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return { kind: "rejected", reason: error.message };
    }
  }
  if (held) {
    // Two different changesets signed with one seq: a proof when they follow the same one
    // (a fork point), signatures checked; else the histories parted below.
    let proof: EquivocationProof;
    try {
      proof = makeProof(new Uint8Array(held.bytes), changeset.bytes);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return {
        kind: "rejected",
        reason: `broken chain: a different changeset #${changeset.seq} is held, after a different #${changeset.seq - 1}`,
        forkBelow: changeset.seq,
      };
    }
    keepProof(db, proof, context.nowMs);
    context.log.error("device quarantined: it signed two different changesets with the same seq", {
      device: member.name,
      seq: changeset.seq,
    });
    return {
      kind: "quarantined",
      reason: `equivocation: a different changeset #${changeset.seq} is already held`,
    };
  }
  if (changeset.seq > head.seq + 1) return { kind: "deferred" };
  if (head.hash !== undefined && !bytesEqual(changeset.prev as Uint8Array, head.hash)) {
    return {
      kind: "rejected",
      reason: "broken chain: prev is not the hash of the previous changeset",
      forkBelow: changeset.seq,
    };
  }
  if (changeset.hlc.ms > context.nowMs + MAX_CLOCK_AHEAD_MS) {
    return { kind: "rejected", reason: "its clock is too far ahead of this device's" };
  }
  // A device's clock only moves on (protocol/hlc.ts nextHlc): a changeset dated at or
  // before its author's previous one chose its own date, to pass a rule that reads it (a
  // credential within its link's life, a budget within its signing's).
  if (head.hlc && compareHlc(changeset.hlc, head.hlc) <= 0) {
    return {
      kind: "rejected",
      reason: `its clock is not past that of its author's changeset #${head.seq}: a device's clock only moves on`,
      byRule: true,
    };
  }
  for (const op of changeset.ops) {
    let problem = writeProblem(op, member, context.zone, changeset.hlc.ms, context.level);
    if (!problem && dependsOnHeld(op)) {
      flushWrites();
      problem = heldStateProblem(db.$client, op);
    }
    if (problem) return { kind: "rejected", reason: problem, byRule: true };
  }
  // Stored now; its ops are the caller's to write (PendingWrites).
  insertChangeset(db, tally, changeset, context.nowMs);
  return { kind: "applied" };
}

/**
 * A changeset that carries its own author's owner-signed device document proves its
 * author is a member: that is how the zone's first changeset, written by the device that
 * created the zone, is accepted by everyone else. Not for a name another device holds
 * (a member, or one revoked or quarantined under it): a device revoked or displaced under
 * that name, carrying its old document, would take the name back and write as a member.
 */
function selfIntroduction(
  changeset: Changeset,
  zone: ZoneId,
  membership: Membership,
): Member | undefined {
  for (const op of changeset.ops) {
    // Every changeset of an author not known yet is asked (the first pass over a page
    // that introduces them): keys elsewhere are passed over before any splitting.
    if (!op.key.startsWith("devices/")) continue;
    const [top, name, field, ...rest] = op.key.split("/");
    if (
      top !== "devices" ||
      field !== "doc" ||
      rest.length > 0 ||
      name === undefined ||
      op.value === null
    )
      continue;
    if (writeProblem(op, { name, id: changeset.author }, zone) !== undefined) continue;
    const doc = verifyDeviceDocument(JSON.parse(op.value), zone);
    const holder = membership.byName.get(doc.name);
    if (doc.id === changeset.author && (!holder || holder.id === doc.id))
      return { id: doc.id, name: doc.name, admittedAtMs: doc.issuedAt * 1000, quarantined: false };
  }
  return undefined;
}

/**
 * After this device wrote `changeset` itself (a revocation), drops what the revoked
 * device wrote past what the revocation keeps, here as every other device does when the
 * revocation reaches it: a quarantined device's is revoked from before the seq it signed
 * twice, which this device may hold past (lib/zone/zone-head.ts).
 */
export function dropRevokedByOwnWrite(
  db: StateDb,
  changeset: Changeset,
  context: Pick<IngestContext, "zone" | "log" | "seal">,
): void {
  db.transaction(() => {
    const tally = context.seal.tally(db.$client);
    const membership = loadMembership(db, context.zone);
    dropRevokedChangesets(db, tally, changeset, membership, context);
    tally.save();
  }, IMMEDIATE);
}

/**
 * A revocation keeps a device's changesets up to its `lastSeq`. Any later ones this node
 * already applied are dropped and the keys they wrote recomputed, so every device ends
 * with the same state whatever order it heard things in.
 */
function dropRevokedChangesets(
  db: StateDb,
  tally: SealTally,
  changeset: Changeset,
  membership: Membership,
  context: Pick<IngestContext, "zone" | "log">,
): DeviceId[] {
  const dropped: DeviceId[] = [];
  for (const op of changeset.ops) {
    const [, name, field] = op.key.split("/");
    if (field !== "revoked" || name === undefined) continue;
    const member = membership.byName.get(name);
    if (member) dropped.push(...dropPastCut(db, tally, member, cutContext(db, context)));
  }
  return dropped;
}

function cutContext(db: StateDb, context: Pick<IngestContext, "zone" | "log">): CutContext {
  return { log: context.log, membership: () => loadMembership(db, context.zone) };
}

/** The last changeset of an author's feed held here: its seq, hash and clock (none: seq 0). */
interface FeedHead {
  readonly seq: number;
  readonly hash?: Uint8Array;
  readonly hlc?: Hlc;
}

/**
 * The last seq, hash and clock of each author's feed held here, read once and then
 * tracked. Its queries, and advanceClock's, are SQL compiled once per connection
 * (bun:sqlite's query cache): built through drizzle, each was compiled again at every
 * call, 0.1-0.4 ms, and a page of small changesets asks them at every batch.
 */
class FeedHeads {
  private readonly heads = new Map<string, FeedHead>();

  constructor(private readonly db: StateDb) {}

  head(author: string): FeedHead {
    let head = this.heads.get(author);
    if (!head) {
      const row = this.db.$client
        .query<{ seq: number; hash: Uint8Array; bytes: Uint8Array }, [string]>(
          "SELECT seq, hash, bytes FROM changesets WHERE author = ?1 ORDER BY seq DESC LIMIT 1",
        )
        .get(author);
      head = row
        ? { seq: row.seq, hash: new Uint8Array(row.hash), hlc: this.clockOf(author, row) }
        : { seq: 0 };
      this.heads.set(author, head);
    }
    return head;
  }

  /** The clock of a changeset held here; one whose bytes do not decode was altered here. */
  private clockOf(author: string, row: { seq: number; bytes: Uint8Array }): Hlc {
    try {
      return decodeChangeset(new Uint8Array(row.bytes)).hlc;
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      throw stateAltered(
        this.db.$client.filename,
        `the changeset #${row.seq} of ${author} held here does not decode`,
      );
    }
  }

  /** The changeset `seq` of `author` as held here, if it still is (a checkpoint prunes). */
  held(author: string, seq: number): { hash: Uint8Array; bytes: Uint8Array } | undefined {
    return (
      this.db.$client
        .query<{ hash: Uint8Array; bytes: Uint8Array }, [string, number]>(
          "SELECT hash, bytes FROM changesets WHERE author = ?1 AND seq = ?2",
        )
        .get(author, seq) ?? undefined
    );
  }

  /** Reads `author`'s head again when next asked (its changesets past a cut were dropped). */
  forget(author: string): void {
    this.heads.delete(author);
  }

  advance(changeset: Changeset): void {
    this.heads.set(changeset.author, {
      seq: changeset.seq,
      hash: changeset.hash,
      hlc: changeset.hlc,
    });
  }
}

function keyOf(keys: Map<DeviceId, VerifyKey>, author: DeviceId): VerifyKey {
  let key = keys.get(author);
  if (!key) {
    key = verifyKeyFromPublicKey(publicKeyOfId(author, "device") as Uint8Array);
    keys.set(author, key);
  }
  return key;
}

function advanceClock(db: StateDb, remote: Hlc, nowMs: number): void {
  const sqlite = db.$client;
  const self = sqlite.query<Hlc, []>("SELECT hlc_ms AS ms, hlc_counter AS counter FROM node").get();
  const next = observeHlc(self ?? undefined, remote, nowMs, MAX_CLOCK_AHEAD_MS);
  if (next)
    sqlite.query("UPDATE node SET hlc_ms = ?1, hlc_counter = ?2").run(next.ms, next.counter);
}
