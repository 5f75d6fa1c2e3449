/**
 * Loaded before every test file (bunfig.toml). Its hook runs once, after the last file:
 * whatever a file left (daemons, scratch directories, test databases) goes then.
 */
import { afterAll } from "bun:test";
import { removeTestDatabases } from "../lib/state/test-db.ts";

afterAll(async () => {
  removeTestDatabases();
  // The harness needs dist/bucky; only a run that loaded it has anything of its to clean.
  const harness = await import("./harness.ts").catch(() => undefined);
  await harness?.cleanUp();
});
