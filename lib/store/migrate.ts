/**
 * A tiny migrator: SQL files ship inside the binary as text and are applied in order,
 * each in its own transaction, with `PRAGMA user_version` counting how many ran.
 * (drizzle's folder migrator cannot find its folder inside a compiled binary.)
 */
import type { Database } from "bun:sqlite";
import { BuckyError } from "../errors.ts";
import initial from "./migrations/0001-initial.sql" with { type: "text" };
import gateway from "./migrations/0002-gateway.sql" with { type: "text" };
import agents from "./migrations/0003-agents.sql" with { type: "text" };
import presence from "./migrations/0004-presence.sql" with { type: "text" };
import deviceFacts from "./migrations/0005-device-facts.sql" with { type: "text" };
import stateSeal from "./migrations/0006-state-seal.sql" with { type: "text" };
import inviteBackupKey from "./migrations/0007-invite-backup-key.sql" with { type: "text" };
import checkpoints from "./migrations/0008-checkpoints.sql" with { type: "text" };
import namedData from "./migrations/0009-named-data.sql" with { type: "text" };
import stateRules from "./migrations/0010-state-rules.sql" with { type: "text" };

/** In order; never edit or reorder one that has shipped, only append. */
export const MIGRATIONS: readonly string[] = [
  initial,
  gateway,
  agents,
  presence,
  deviceFacts,
  stateSeal,
  inviteBackupKey,
  checkpoints,
  namedData,
  stateRules,
];

export function migrate(
  sqlite: Database,
  path: string,
  /** The version as read before (a test reads it stale, as a racing process does). */
  current = userVersion(sqlite),
): void {
  if (current > MIGRATIONS.length) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${path} was written by a newer bucky (schema ${current}, this one knows ${MIGRATIONS.length})`,
      "Run the newer bucky, or upgrade this one.",
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    // Each step writes first and looks again: another process opening the same database
    // (the daemon and a command, after an upgrade) may have applied it meanwhile, and
    // applied twice it failed (a table that exists), the daemon's start with it.
    sqlite
      .transaction(() => {
        if (userVersion(sqlite) > version) return;
        sqlite.run(MIGRATIONS[version] as string);
        sqlite.run(`PRAGMA user_version = ${version + 1}`);
      })
      .immediate();
  }
}

export function userVersion(sqlite: Database): number {
  const row = sqlite.query<{ user_version: number }, []>("PRAGMA user_version").get();
  return row?.user_version ?? 0;
}
