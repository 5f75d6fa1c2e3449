/**
 * The record of what agents did through this device: one row per tool call, with its
 * arguments and how it went, kept in the node's database for `bucky agent log`.
 */
import { desc, eq } from "drizzle-orm";
import type { StateDb } from "../store/db.ts";
import { agentAudit } from "../store/schema.ts";

export interface AuditEntry {
  readonly at: string;
  readonly agent: string;
  readonly tool: string;
  readonly arguments: Record<string, unknown>;
  readonly dryRun: boolean;
  readonly ok: boolean;
  readonly outcome: string;
}

export function recordCall(db: StateDb, entry: Omit<AuditEntry, "at">, nowMs: number): void {
  db.insert(agentAudit)
    .values({
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

/** The newest entries first, for one agent or all. */
export function readAudit(db: StateDb, options: { agent?: string; limit: number }): AuditEntry[] {
  return db
    .select()
    .from(agentAudit)
    .where(options.agent ? eq(agentAudit.agent, options.agent) : undefined)
    .orderBy(desc(agentAudit.id))
    .limit(options.limit)
    .all()
    .map((row) => ({
      at: new Date(row.at).toISOString(),
      agent: row.agent,
      tool: row.tool,
      arguments: JSON.parse(row.arguments) as Record<string, unknown>,
      dryRun: row.dryRun,
      ok: row.ok,
      outcome: row.outcome,
    }));
}
