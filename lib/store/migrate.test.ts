import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MIGRATIONS, migrate, userVersion } from "./migrate.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-migrate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("two processes opening a database of an older schema: the one that read its version before the other migrated skips what is done", () => {
  const path = join(dir, "state.db");
  // An older bucky's database: every step but the last two.
  const older = new Database(path, { create: true });
  older.run("PRAGMA journal_mode = WAL");
  for (const [version, sql] of MIGRATIONS.slice(0, -2).entries()) {
    older.run(sql);
    older.run(`PRAGMA user_version = ${version + 1}`);
  }
  older.close();

  // The daemon and a command open it at once, after an upgrade; the command read its
  // version just before the daemon migrated.
  const daemon = new Database(path);
  const command = new Database(path);
  const readByCommand = userVersion(command);
  migrate(daemon, path);
  expect(() => migrate(command, path, readByCommand)).not.toThrow();
  expect([userVersion(daemon), userVersion(command)]).toEqual([
    MIGRATIONS.length,
    MIGRATIONS.length,
  ]);
  daemon.close();
  command.close();
});
