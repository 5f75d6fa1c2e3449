import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getTableConfig } from "drizzle-orm/sqlite-core";
import { BuckyError } from "../errors.ts";
import { openStateDb } from "./db.ts";
import { MIGRATIONS } from "./migrate.ts";
import * as schema from "./schema.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-store-"));
afterAll(() => rmSync(dir, { recursive: true }));

describe("state database", () => {
  test("opens in WAL mode with synchronous=NORMAL, migrated to the latest schema", () => {
    const db = openStateDb(join(dir, "fresh.db"), { create: true });
    const pragma = (name: string) =>
      Object.values(db.$client.query(`PRAGMA ${name}`).get() as object)[0];
    expect([pragma("journal_mode"), pragma("synchronous"), pragma("user_version")]).toEqual([
      "wal",
      1, // NORMAL
      MIGRATIONS.length,
    ]);
    db.$client.close();
  });

  test("reopening applies no migration twice", () => {
    const path = join(dir, "twice.db");
    openStateDb(path, { create: true }).$client.close();
    const db = openStateDb(path, { create: false });
    const tables = db.$client
      .query<{ name: string }, []>(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
      )
      .all();
    expect(tables.map((table) => table.name)).toEqual([
      "agent_audit",
      "changesets",
      "checkpoint",
      "checkpoint_base",
      "device_facts",
      "invites",
      "ndn_collection",
      "ndn_pins",
      "ndn_unreferenced",
      "node",
      "peers",
      "presence",
      "quarantine",
      "sqlite_sequence",
      "state",
      "state_rules",
      "state_seal",
      "traffic",
      "used_logins",
    ]);
    db.$client.close();
  });

  test("a database from a newer bucky is refused, untouched", () => {
    const path = join(dir, "newer.db");
    const raw = new Database(path);
    raw.run(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    expect(() => openStateDb(path, { create: false })).toThrow(
      new BuckyError(
        "E_INVALID_INPUT",
        `${path} was written by a newer bucky (schema ${MIGRATIONS.length + 1}, this one knows ${MIGRATIONS.length})`,
      ),
    );
  });

  test("a new database gives freed pages back (incremental vacuum); an old one is left as it was", () => {
    const fresh = openStateDb(join(dir, "vacuum.db"), { create: true });
    const mode = (db: Database) =>
      (db.query("PRAGMA auto_vacuum").get() as { auto_vacuum: number }).auto_vacuum;
    expect(mode(fresh.$client)).toBe(2);
    fresh.$client.close();
    // A home made by bucky 0.1.0: migrated, its pages as they were until a compaction.
    const path = join(dir, "v0.1.0.db");
    copyFileSync(join(import.meta.dir, "../../fixtures/homes/v0.1.0/nas/state.db"), path);
    const old = openStateDb(path, { create: false });
    const version = old.$client.query("PRAGMA user_version").get() as { user_version: number };
    expect([mode(old.$client), version.user_version]).toEqual([0, MIGRATIONS.length]);
    old.$client.close();
  });

  test("a missing database is not created when create is false", () => {
    expect(() => openStateDb(join(dir, "absent.db"), { create: false })).toThrow(BuckyError);
  });

  test("the drizzle schema describes exactly the tables the migrations create", () => {
    const db = openStateDb(join(dir, "schema.db"), { create: true });
    for (const table of [
      schema.traffic,
      schema.usedLogins,
      schema.node,
      schema.changesets,
      schema.state,
      schema.peers,
      schema.invites,
      schema.quarantine,
      schema.stateSeal,
      schema.checkpoint,
      schema.checkpointBase,
      schema.ndnPins,
      schema.ndnUnreferenced,
      schema.ndnCollection,
    ]) {
      const config = getTableConfig(table);
      const primaryKeyColumns = new Set([
        ...config.columns.filter((column) => column.primary).map((column) => column.name),
        ...config.primaryKeys.flatMap((key) => key.columns.map((column) => column.name)),
      ]);
      const declared = config.columns
        .map((column) => ({
          name: column.name,
          notNull: column.notNull || primaryKeyColumns.has(column.name),
          pk: primaryKeyColumns.has(column.name),
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
      const actual = db.$client
        .query<{ name: string; notnull: number; pk: number }, []>(
          `PRAGMA table_info(${config.name})`,
        )
        .all()
        .map((column) => ({
          name: column.name,
          notNull: column.notnull === 1 || column.pk > 0,
          pk: column.pk > 0,
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
      expect({ table: config.name, columns: declared }).toEqual({
        table: config.name,
        columns: actual,
      });
    }
    db.$client.close();
  });
});
