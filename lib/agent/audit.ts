/**
 * The record of what agents did, for the whole zone. Each device records the calls made
 * through it in its own database (one row per call, with its arguments and how it went)
 * and publishes them to the zone state in batches (protocol/agent-audit.ts): within a
 * second of each call, at most one changeset a second (audit-publisher.ts), only when
 * there were calls, under keys only it may write. So
 * `bucky agent log` on any device shows every device's calls, merged by time, and keeps
 * showing a device's calls once it is switched off. Entries are kept 90 days: older
 * rows are dropped here, and a device deletes its older batches from the state.
 */
import { and, asc, desc, eq, gt, gte, inArray, isNotNull } from "drizzle-orm";
import {
  type AuditRecord,
  auditKeyBefore,
  decodeAuditBatch,
  packAuditBatches,
  parseAuditBatchKey,
  trimAuditRecord,
} from "../../protocol/agent-audit.ts";
import type { Changeset, Op } from "../../protocol/changeset.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import type { Log } from "../log.ts";
import type { StateDb } from "../store/db.ts";
import { keyGlob } from "../store/key-glob.ts";
import { sqliteOf } from "../store/reads.ts";
import { agentAudit, state } from "../store/schema.ts";
import { AuditProgress } from "./audit-progress.ts";

/** How long the zone keeps what agents did. */
export const AUDIT_RETENTION_MS = 90 * 24 * 3600_000;
/** Batches one publication writes at most (one changeset, well under its size limit). */
const MAX_BATCHES_PER_CHANGESET = 8;
/** Old batches one publication deletes at most. */
const MAX_EXPIRED_PER_CHANGESET = 200;

export interface AuditEntry {
  readonly at: string;
  /** The device the call was made through. */
  readonly device: string;
  readonly agent: string;
  readonly tool: string;
  readonly arguments: Record<string, unknown>;
  readonly dryRun: boolean;
  readonly ok: boolean;
  readonly outcome: string;
}

/** This device, as its audit rows and batches name it, and how far it has published. */
export type AuditDevice = Pick<AuditWriter, "db" | "auditProgress">;

export function recordCall(
  device: AuditDevice,
  entry: Omit<AuditEntry, "at" | "device">,
  nowMs: number,
): void {
  const { db } = device;
  // Past every id this device published, not only past the rows it keeps: with its rows
  // aged out (or its home restored from an older backup) SQLite would hand out ids its
  // batches already name, and rows at or below publishedUpTo are never published or shown.
  const lastRow =
    sqliteOf(db).query<{ id: number | null }, []>("SELECT max(id) AS id FROM agent_audit").get()
      ?.id ?? 0;
  db.insert(agentAudit)
    .values({
      id: Math.max(lastRow, device.auditProgress.publishedUpTo()) + 1,
      at: nowMs,
      agent: entry.agent,
      tool: entry.tool,
      arguments: JSON.stringify(entry.arguments),
      dryRun: entry.dryRun,
      ok: entry.ok,
      outcome: entry.outcome.slice(0, 2000),
    })
    .run();
}

/**
 * The zone's entries, newest first, for one agent or all: every device's as published in
 * the zone state (this device's too), and this device's not published yet from its own
 * database, cut as they will be published. So every device gives the same answer, and this
 * one its latest calls as well: not its own calls in full and the others' cut, nor without
 * the calls of an earlier device of its name (revoked, the name taken again).
 */
export function readAudit(
  db: StateDb,
  options: {
    self: string;
    selfId: DeviceId;
    agent?: string;
    limit: number;
    nowMs: number;
    log: Log;
  },
): AuditEntry[] {
  const { self, agent, limit } = options;
  const cutoff = options.nowMs - AUDIT_RETENTION_MS;
  const own = db
    .select()
    .from(agentAudit)
    .where(
      and(
        // A person's request, not a timer's: the walk is made for it.
        gt(
          agentAudit.id,
          new AuditProgress({ db, deviceName: self, deviceId: options.selfId }).publishedUpTo(),
        ),
        agent ? eq(agentAudit.agent, agent) : undefined,
        gte(agentAudit.at, cutoff),
      ),
    )
    .orderBy(desc(agentAudit.id))
    .limit(limit)
    .all()
    .map((row) => ({ ...trimAuditRecord(recordOfRow(row)), device: self }));
  // Newest batch first (by its last entry); stop once `limit` entries are at least as
  // new as anything the next batch holds.
  const batches = db
    .select({ key: state.key })
    .from(state)
    .where(and(keyGlob("nodes/*/agent-log/*"), isNotNull(state.value)))
    .all()
    .flatMap((row) => {
      const batch = parseAuditBatchKey(row.key);
      return batch && batch.lastAtMs >= cutoff ? [{ ...batch, key: row.key }] : [];
    })
    .sort((a, b) => b.lastAtMs - a.lastAtMs || b.lastId - a.lastId);
  let published: (AuditRecord & { device: string })[] = [];
  for (const batch of batches) {
    const newest = published[limit - 1];
    if (newest && newest.at >= batch.lastAtMs) break;
    for (const record of batchEntries(db, batch.key, options.log).reverse())
      if ((!agent || record.agent === agent) && record.at >= cutoff)
        published.push({ ...record, device: batch.device });
    published = published.sort((a, b) => b.at - a.at).slice(0, limit);
  }
  return [...own, ...published]
    .sort((a, b) => b.at - a.at)
    .slice(0, limit)
    .map((entry) => ({ ...entry, at: new Date(entry.at).toISOString() }));
}

function batchEntries(db: StateDb, key: string, log: Log): AuditRecord[] {
  const value = db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, key))
    .get()?.value;
  if (!value) return [];
  try {
    return decodeAuditBatch(value);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    // Only its device can write it: a device that published a bad batch, not a forgery.
    log.warn("an agent audit batch does not decode", { key, error: error.message });
    return [];
  }
}

/** What publishing needs from the node. */
export interface AuditWriter {
  readonly db: StateDb;
  readonly deviceName: string;
  readonly deviceId: DeviceId;
  readonly auditProgress: AuditProgress;
  now(): number;
  write(ops: readonly Op[]): Changeset;
}

/**
 * Publishes this device's entries not published yet, and deletes its batches and rows
 * past the retention, in one changeset; none when there is nothing to do. Returns how
 * many entries it published.
 */
export function publishAudit(zone: AuditWriter): number {
  const { db } = zone;
  const rows = unpublishedRows(zone);
  const batches = packAuditBatches(
    zone.deviceName,
    rows.map((row) => ({ id: row.id, ...recordOfRow(row) })),
    MAX_BATCHES_PER_CHANGESET,
  );
  const cutoff = zone.now() - AUDIT_RETENTION_MS;
  const expiredBefore = auditKeyBefore(zone.deviceName, cutoff);
  // The reads made at every publication are statements SQLite keeps compiled: built
  // through drizzle, they cost an idle daemon 2 ms each time, every 10 s. From where the
  // deletes reached, not the prefix: the tombstones of every batch deleted stay.
  const from = zone.auditProgress.deletableFrom();
  const expired = sqliteOf(db)
    .query<{ key: string }, [string, string, number]>(
      "SELECT key FROM state WHERE key >= ? AND key < ? AND value IS NOT NULL ORDER BY key LIMIT ?",
    )
    .all(from, expiredBefore, MAX_EXPIRED_PER_CHANGESET);
  const ops: Op[] = [
    ...batches.map((batch) => ({ key: batch.key, value: batch.value })),
    ...expired.map((row) => ({ key: row.key, value: null })),
  ];
  if (ops.length > 0) zone.write(ops);
  // All of them deleted below the cutoff; else below the last deleted, and on from there.
  zone.auditProgress.deletedUpTo(
    expired.length < MAX_EXPIRED_PER_CHANGESET ? expiredBefore : (expired.at(-1)?.key ?? from),
  );
  zone.auditProgress.published(batches);
  // Rows come in time order: the oldest says whether any are past the retention.
  const oldest = sqliteOf(db)
    .query<{ at: number }, []>("SELECT at FROM agent_audit ORDER BY id LIMIT 1")
    .get();
  if (oldest && oldest.at < cutoff) {
    const old = db
      .select({ id: agentAudit.id, at: agentAudit.at })
      .from(agentAudit)
      .orderBy(asc(agentAudit.id))
      .limit(1_000)
      .all()
      .filter((row) => row.at < cutoff);
    db.delete(agentAudit)
      .where(
        inArray(
          agentAudit.id,
          old.map((row) => row.id),
        ),
      )
      .run();
  }
  return batches.reduce((sum, batch) => sum + batch.count, 0);
}

/** An audit row of this device's table as the record it is published as. */
function recordOfRow(row: typeof agentAudit.$inferSelect): AuditRecord {
  return {
    at: row.at,
    agent: row.agent,
    tool: row.tool,
    arguments: JSON.parse(row.arguments) as Record<string, unknown>,
    dryRun: row.dryRun,
    ok: row.ok,
    outcome: row.outcome,
  };
}

/**
 * This device's audit rows not yet published. With no row at all (no agent called through
 * it, or all published and aged out) how far it published is not asked: this runs every
 * few seconds on every device.
 */
function unpublishedRows(zone: AuditWriter) {
  const { db } = zone;
  if (!sqliteOf(db).query("SELECT 1 FROM agent_audit LIMIT 1").get()) return [];
  return db
    .select()
    .from(agentAudit)
    .where(gt(agentAudit.id, zone.auditProgress.publishedUpTo()))
    .orderBy(asc(agentAudit.id))
    .limit(MAX_BATCHES_PER_CHANGESET * 1_000)
    .all();
}
