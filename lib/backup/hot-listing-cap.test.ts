/**
 * Found by an attacker review (round 5); these tests failed before
 * its fix.
 *
 * Round 4 capped every listing at MAX_DIRECTORY_NAMES (2^19), refusing a directory past it
 * (6975041). hot/ is one flat directory of small files: each device holding the backup key
 * writes one every 2 s while the zone state changes (hot.ts SHIP_EVERY_MS), and only a
 * prune removes them, and only those older than their own device's newest signed snapshot.
 * A device whose backups do not finish (a first backup of terabytes over a slow link, one
 * failing each hour) or a prune that refuses to run (an unreadable index file) leaves them
 * piling up: 2^19 is 12 days of one device's changes every 2 s. Past it:
 *
 * - hotChangesets throws, and with it every zone restore (restore.ts: the snapshot itself
 *   is fine; hot.ts says a hot file that does not open "must not stop every restore");
 * - prune.ts removeOldHotFiles lists hot/ too, so every prune fails at that step from then
 *   on, and no bucky run ever lists the directory again to clean it: it takes a person
 *   deleting files by hand.
 *
 * Before round 4 the listing was read whole and the restore went on.
 */
import { afterAll, expect, test } from "bun:test";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_DIRECTORY_NAMES } from "../../protocol/backup/formats.ts";
import { HOT_DIR, hotChangesets, hotFileName } from "./hot.ts";
import { LocalBackend } from "./local-backend.ts";
import type { Repository } from "./repository.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-hot-cap-test-"));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * The cap here, in place of MAX_DIRECTORY_NAMES: what is cut or refused past it is the
 * same, and reaching 2^19 took 2^19 files (50 s of a CI run).
 */
const MAX_NAMES = 64;

test("a hot/ directory past the listing cap does not stop the restore of the snapshots", async () => {
  const hot = join(scratch, HOT_DIR);
  mkdirSync(hot, { recursive: true });
  // One more hot file than a listing takes, named as the shipper names them (empty: each
  // is then one that does not open, which hotChangesets leaves out and says).
  const start = Date.parse("2026-11-01T00:00:00Z");
  for (let i = 0; i <= MAX_NAMES; i++) {
    const name = hotFileName(new Date(start + i * 2000).toISOString(), "laptop");
    closeSync(openSync(join(hot, name), "w"));
  }
  const backend = new LocalBackend(scratch, scratch, MAX_NAMES);
  // hotChangesets reaches only the backend before it opens a file; the listing is what fails.
  const repository = { backend } as unknown as Repository;
  const outcome = await hotChangesets(repository).then(
    (shipped) => `went on (${shipped.changesets.length} changesets, cut: ${shipped.cut})`,
    (error: Error) => `restore stopped: ${error.message}`,
  );
  // On main: "restore stopped: <dir>/hot lists more than 524288 names, ...".
  expect(outcome).toStartWith("went on");
  expect(outcome).toEndWith("cut: true)");
  // The cut is hot/'s alone: the memory bound holds, and every other listing still refuses.
  expect((await backend.listCut(HOT_DIR)).names.length).toBe(MAX_NAMES);
  const refused = await backend.list(HOT_DIR).catch((error: { code?: string }) => error.code);
  expect(refused).toBe("E_INTEGRITY");
});

test("a listing takes MAX_DIRECTORY_NAMES names unless a test says fewer", () => {
  expect(new LocalBackend(scratch).maxNames).toBe(MAX_DIRECTORY_NAMES);
});
