/**
 * Moving a checkpoint between devices, for one that lacks changesets the others let go of
 * (it joins, or comes back after a long absence):
 *
 * - the device asked offers its checkpoint instead of entries (offerFor), and serves its
 *   rows a page at a time, in key order, with the changesets it keeps (checkpointPage);
 * - the device asking stages the rows, checks them against the checkpoint's digest, the
 *   kept changesets against their signatures and the frontier, and the checkpoint against
 *   its endorsements (more than half of the devices either of them knows of), then makes
 *   it its state (lib/checkpoint/adopt.ts) and pulls what came after, as always.
 */
import type { Database } from "bun:sqlite";
import {
  type DecodedChangeset,
  decodeChangeset,
  verifyChangeset,
} from "../../protocol/changeset.ts";
import {
  CHECKPOINT_PAGE_BYTES,
  type CheckpointOffer,
  type CheckpointRow,
  decodeOffer,
  decodePage,
  encodeOffer,
  encodePage,
  encodePageRequest,
  frontierSeqs,
  type PageRequest,
  RowsDigest,
} from "../../protocol/checkpoint.ts";
import { verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { bytesEqual } from "../../protocol/encoding.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import type { VersionVector } from "../../protocol/sync-messages.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import { peekCheckpointRecord } from "../state/checkpoint-record.ts";
import { checkpointRows } from "../state/checkpoint-rows.ts";
import { isEvidence } from "../state/evidence.ts";
import type { StateSeal } from "../state/seal.ts";
import type { StateDb } from "../store/db.ts";
import { versionVector } from "../sync/exchange.ts";
import { loadMembership, membershipFromRows } from "../sync/membership.ts";
import { adoptFetched, pruneCovered } from "./adopt.ts";
import { isAgreed, offerEndorsers, unionOf } from "./agreement.ts";

const STAGING = "temp.incoming_checkpoint";
/** A checkpoint of more pages than this is not fetched (a device sending pages forever). */
const MAX_PAGES = 100_000;

/** Whether a device holding `theirs` lacks changesets the checkpoint held covers. */
export function behindCheckpoint(sqlite: Database, theirs: VersionVector): boolean {
  const record = peekCheckpointRecord(sqlite);
  return (
    record?.checkpoint.frontier.some((entry) => (theirs.get(entry.author) ?? 0) < entry.seq) ??
    false
  );
}

/** The offer of the checkpoint held, for a device holding `theirs` that must fetch it first. */
export function offerFor(sqlite: Database, theirs: VersionVector): Uint8Array | undefined {
  if (!behindCheckpoint(sqlite, theirs)) return undefined;
  const record = peekCheckpointRecord(sqlite);
  return record
    ? encodeOffer({ checkpoint: record.checkpoint, endorsements: record.endorsements })
    : undefined;
}

/**
 * Whether fetching a checkpoint's pages failed because the device asked no longer holds it
 * (checkpointPage's refusal: it holds only its newest, and the zone compacted again
 * meanwhile): asked again, it offers the new one.
 */
export function checkpointReplaced(error: unknown): boolean {
  return error instanceof BuckyError && error.code === "E_NOT_FOUND";
}

/** One page of the checkpoint held; the first carries the changesets it keeps. */
export function checkpointPage(
  sqlite: Database,
  request: PageRequest,
  pageBytes = CHECKPOINT_PAGE_BYTES,
): Uint8Array {
  const record = peekCheckpointRecord(sqlite);
  if (record?.checkpoint.id !== request.id)
    throw new BuckyError(
      "E_NOT_FOUND",
      "this device no longer holds that checkpoint",
      "Ask for the one it offers now.",
    );
  const rows: CheckpointRow[] = [];
  let size = 0;
  let more = false;
  for (const row of checkpointRows(sqlite, record.frontier, request.after)) {
    if (size > pageBytes) {
      more = true;
      break;
    }
    rows.push(row);
    size += row[0].length + (row[1]?.length ?? 0) + 80;
  }
  return encodePage({
    rows,
    changesets: request.after === "" ? keptChangesets(sqlite, record.frontier) : [],
    more,
  });
}

/** The changesets a checkpoint keeps from before its frontier: each author's last, and the evidence. */
function keptChangesets(sqlite: Database, frontier: ReadonlyMap<string, number>): Uint8Array[] {
  const kept: Uint8Array[] = [];
  for (const row of sqlite
    .query<{ author: string; seq: number; bytes: Uint8Array }, [string]>(
      `SELECT author, seq, bytes FROM changesets
       WHERE seq <= coalesce((SELECT value FROM json_each(?1) WHERE key = changesets.author), 0)
       ORDER BY local_order`,
    )
    .iterate(JSON.stringify(Object.fromEntries(frontier)))) {
    const bytes = new Uint8Array(row.bytes);
    if (row.seq === frontier.get(row.author)) kept.push(bytes);
    else {
      try {
        if (decodeChangeset(bytes).ops.some((op) => isEvidence(op.key))) kept.push(bytes);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
      }
    }
  }
  return kept;
}

export interface FetchContext {
  readonly db: StateDb;
  readonly seal: StateSeal;
  readonly zone: ZoneId;
  readonly now: () => number;
  readonly log: Log;
  /** Who offered it, for the log. */
  readonly source: string;
  /** Asks the offering device for a page (the encoded request), returning its answer. */
  readonly fetchPage: (request: Uint8Array) => Promise<Uint8Array>;
}

export type OfferOutcome = "adopted" | "not needed";

/**
 * Takes a checkpoint another device offered, if this device needs it (it lacks changesets
 * the checkpoint covers): fetches it, checks it and makes it its state. Throws a
 * BuckyError (E_INTEGRITY) when what came does not check out.
 */
export async function takeOffer(context: FetchContext, bytes: Uint8Array): Promise<OfferOutcome> {
  const { db, zone } = context;
  const sqlite = db.$client;
  const offer = refusedUnless(context, () => decodeOffer(bytes));
  const { checkpoint } = offer;
  if (checkpoint.zone !== zone) throw refused(context, "it is of another zone");
  const held = peekCheckpointRecord(sqlite);
  // One that covers less of some feed than the checkpoint held would lose what that covers.
  const offered = frontierSeqs(checkpoint);
  if (held?.checkpoint.frontier.some((entry) => (offered.get(entry.author) ?? 0) < entry.seq))
    return "not needed";
  if (!behindCheckpointOf(versionVector(db), offer)) return "not needed";

  sqlite.run(
    `CREATE TEMP TABLE IF NOT EXISTS incoming_checkpoint (
       key TEXT PRIMARY KEY, value TEXT, hlc_ms INTEGER NOT NULL, hlc_counter INTEGER NOT NULL,
       author TEXT NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID`,
  );
  sqlite.run(`DELETE FROM ${STAGING}`);
  try {
    const kept = await stage(context, offer);
    const frontier = frontierSeqs(checkpoint);
    const atCut = refusedUnless(context, () =>
      membershipFromRows(
        sqlite
          .query<{ key: string; value: string | null }, []>(
            `SELECT key, value FROM ${STAGING} WHERE key GLOB 'devices/*'`,
          )
          .all(),
        zone,
        new Map(),
        frontier,
      ),
    );
    const members = unionOf(loadMembership(db, zone), atCut);
    if (!isAgreed(offerEndorsers(offer, zone, members), members))
      throw refused(context, "more than half of the zone's devices have not endorsed it");
    const adopted = refusedUnless(context, () =>
      adoptFetched(
        db,
        context.seal,
        zone,
        { checkpoint, endorsements: offer.endorsements, rowsTable: STAGING, kept },
        context.now(),
        context.log,
      ),
    );
    if (!adopted) return "not needed";
    const pruned = pruneCovered(db, context.seal);
    context.log.info("checkpoint taken", {
      from: context.source,
      checkpoint: checkpoint.id.slice(0, 12),
      cut: new Date(checkpoint.cut).toISOString(),
      keys: checkpoint.keys,
      pruned,
    });
    return "adopted";
  } finally {
    sqlite.run(`DELETE FROM ${STAGING}`);
  }
}

function behindCheckpointOf(mine: VersionVector, offer: CheckpointOffer): boolean {
  return offer.checkpoint.frontier.some((entry) => (mine.get(entry.author) ?? 0) < entry.seq);
}

/**
 * Fetches the checkpoint's rows into the staging table, page by page, checking their order
 * and digest, and returns the changesets it keeps, each checked.
 */
async function stage(context: FetchContext, offer: CheckpointOffer): Promise<DecodedChangeset[]> {
  const { checkpoint } = offer;
  const sqlite = context.db.$client;
  const insert = sqlite.prepare(
    `INSERT INTO ${STAGING} (key, value, hlc_ms, hlc_counter, author, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)`,
  );
  const digest = new RowsDigest();
  let keptBytes: readonly Uint8Array[] = [];
  let after = "";
  for (let pageNumber = 0; ; pageNumber++) {
    if (pageNumber === MAX_PAGES) throw refused(context, "it has no end");
    const answer = await context.fetchPage(encodePageRequest({ id: checkpoint.id, after }));
    const page = refusedUnless(context, () => decodePage(answer));
    if (pageNumber === 0) keptBytes = page.changesets;
    sqlite.transaction(() => {
      for (const row of page.rows) {
        refusedUnless(context, () => digest.add(row));
        insert.run(...row);
      }
    })();
    if (digest.keys > checkpoint.keys) throw refused(context, "it has more rows than it says");
    if (!page.more) break;
    const last = page.rows.at(-1);
    if (!last) throw refused(context, "a page came empty");
    after = last[0];
  }
  if (digest.keys !== checkpoint.keys || !bytesEqual(digest.finish(), checkpoint.digest))
    throw refused(context, "its rows do not hash to its digest");
  return checkKept(context, offer, keptBytes);
}

/** The kept changesets, each of this zone, signed by its author, covered by the frontier. */
function checkKept(
  context: FetchContext,
  offer: CheckpointOffer,
  bytes: readonly Uint8Array[],
): DecodedChangeset[] {
  const frontier = new Map(
    offer.checkpoint.frontier.map((entry) => [entry.author as string, entry]),
  );
  const held = versionVector(context.db);
  const kept = bytes.map((entry) =>
    refusedUnless(context, () => {
      const changeset = decodeChangeset(entry);
      if (changeset.zone !== context.zone)
        throw new ProtocolError("a kept changeset is of another zone");
      const end = frontier.get(changeset.author);
      if (!end || changeset.seq > end.seq)
        throw new ProtocolError("a kept changeset is past the checkpoint");
      if (changeset.seq === end.seq && !bytesEqual(changeset.hash, end.hash))
        throw new ProtocolError("a kept changeset is not the one the frontier names");
      verifyChangeset(
        changeset,
        verifyKeyFromPublicKey(publicKeyOfId(changeset.author, "device") as Uint8Array),
      );
      return changeset;
    }),
  );
  for (const end of frontier.values()) {
    const came = kept.some((c) => c.author === end.author && c.seq === end.seq);
    if (!came && (held.get(end.author) ?? 0) < end.seq)
      throw refused(context, `it came without the changeset of ${end.author} it ends at`);
  }
  checkEvidence(context, kept);
  return kept;
}

/**
 * Every row of the staged checkpoint that is evidence (membership, revocations) must be
 * what a changeset wrote, kept with it or held here: the device offering it could leave
 * those changesets out, and this device would hold membership nothing signed backs (its
 * own checks would then fail for good, and so would those of devices taking it from it).
 */
function checkEvidence(context: FetchContext, kept: readonly DecodedChangeset[]): void {
  const sqlite = context.db.$client;
  const wrote = new Map<string, string | null>();
  const note = (changeset: DecodedChangeset) => {
    for (const op of changeset.ops)
      if (isEvidence(op.key)) wrote.set(`${changeset.author}#${changeset.seq} ${op.key}`, op.value);
  };
  for (const changeset of kept) note(changeset);
  const heldChangeset = sqlite.query<{ bytes: Uint8Array }, [string, number]>(
    "SELECT bytes FROM changesets WHERE author = ?1 AND seq = ?2",
  );
  for (const row of sqlite
    .query<{ key: string; value: string | null; author: string; seq: number }, []>(
      `SELECT key, value, author, seq FROM ${STAGING}
       WHERE key = 'boot/config' OR key GLOB 'devices/*' OR key GLOB 'revoked-agents/*'`,
    )
    .iterate()) {
    if (!isEvidence(row.key)) continue;
    const id = `${row.author}#${row.seq} ${row.key}`;
    if (!wrote.has(id)) {
      const held = heldChangeset.get(row.author, row.seq);
      if (held) refusedUnless(context, () => note(decodeChangeset(new Uint8Array(held.bytes))));
    }
    if (!wrote.has(id) || wrote.get(id) !== row.value)
      throw refused(context, `its ${row.key} is not backed by the changeset that wrote it`);
  }
}

function refusedUnless<T>(context: FetchContext, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof ProtocolError) throw refused(context, error.message);
    throw error;
  }
}

function refused(context: FetchContext, why: string): BuckyError {
  return new BuckyError(
    "E_INTEGRITY",
    `the checkpoint ${context.source} offered was refused: ${why}`,
    "Nothing was changed; it is asked of the other devices again at the next sync.",
  );
}
