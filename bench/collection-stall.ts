/**
 * How long the daemon's hourly collection holds its event loop on a big home: the longest
 * gap between ticks of a 1 ms timer while it runs (a synchronous step is one long gap).
 *
 *   named data   100,000 chunks: 50 packages of 1,000 chunks (kept), 50,000 loose ones;
 *                the first collection (pinning what came before), one that notes 50,000
 *                unreferenced, one that removes them after the grace period, and one
 *                with nothing to do
 *   packages     20 apps × 50 unpacked packages no version uses × 100 files, pruned
 *   state db     after a compaction, 400 MB of which 60% is freed: given back by a database
 *                made since checkpoints (incremental vacuum), and by an older one (its one
 *                VACUUM, a single statement: not cut)
 *
 * Beside it, the anchor: the longest gap of the same timer over an idle second.
 *
 *   bun bench/collection-stall.ts [chunks]
 */
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prunePackages } from "../lib/apps/package-dir.ts";
import type { AppSpec } from "../lib/apps/spec.ts";
import { giveBackPages } from "../lib/checkpoint/vacuum.ts";
import { createLog } from "../lib/log.ts";
import { collectGarbage } from "../lib/ndn/collect.ts";
import { builtInRoots, type RootKind } from "../lib/ndn/roots.ts";
import { ObjectStore } from "../lib/ndn/store.ts";
import { openTestNode } from "../lib/state/test-db.ts";
import { ndnPins } from "../lib/store/schema.ts";
import { type ChunkId, type ChunkListId, chunkIdOf, type ObjectId } from "../protocol/ndn.ts";

const CHUNKS = Number(process.argv[2] ?? 100_000);
const LISTS = 50;
const GRACE_MS = 24 * 3_600_000;
const log = createLog({ level: "silent" });
const scratch = mkdtempSync(join(tmpdir(), "bucky-collection-stall-"));

/** Runs `work`, returning its time and the longest the event loop waited meanwhile. */
async function stall(work: () => unknown): Promise<{ ms: number; longestStallMs: number }> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  await Bun.sleep(5);
  last = performance.now();
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  await Bun.sleep(5);
  clearInterval(timer);
  longest = Math.max(longest, performance.now() - last - 5);
  return { ms: Math.round(ms), longestStallMs: Math.round(longest) };
}

function row(what: string, figures: { ms: number; longestStallMs: number }): void {
  console.log(
    `${what.padEnd(58)} ${String(figures.ms).padStart(7)} ms   longest stall ${String(figures.longestStallMs).padStart(6)} ms`,
  );
}

const { db } = openTestNode(1);
const store = new ObjectStore(join(scratch, "ndn"));
// Chunks written straight to their paths: the store's own writes fsync each one.
const perList = Math.floor(CHUNKS / 2 / LISTS);
const lists: ChunkListId[] = [];
let n = 0;
const chunk = (): ChunkId => {
  const bytes = new TextEncoder().encode(`chunk ${n++}`);
  const id = chunkIdOf(bytes);
  const path = store.pathOf(id);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, bytes);
  return id;
};
for (let l = 0; l < LISTS; l++) {
  const chunks = Array.from({ length: perList }, chunk);
  lists.push(store.writeList({ size: chunks.length, chunkSize: 1, chunks }));
}
while (n < CHUNKS) chunk();
const packages: RootKind = { kind: "bench", ids: () => lists as ObjectId[] };
const roots = () => [...builtInRoots(db), packages];
const t0 = Date.now();
const collect = (nowMs: number) =>
  collectGarbage({ db, store, roots: roots(), nowMs, graceMs: GRACE_MS, log });

// The anchor: the same timer with nothing else to do, for this machine's noise.
row("idle for a second (the anchor)", await stall(() => Bun.sleep(1000)));
console.log(`named data: ${CHUNKS} chunks, ${LISTS} lists of ${perList} kept`);
row("first collection (pins what came before)", await stall(() => collect(t0)));
db.delete(ndnPins).run();
row("notes the loose chunks unreferenced", await stall(() => collect(t0 + 1)));
row("removes them after the grace period", await stall(() => collect(t0 + GRACE_MS + 2)));
row("nothing to do", await stall(() => collect(t0 + GRACE_MS + 3)));

const APPS = 20;
const STALE = 50;
const FILES = 100;
const appsDir = join(scratch, "apps");
const specs: AppSpec[] = [];
for (let a = 0; a < APPS; a++) {
  for (let p = 0; p < STALE; p++) {
    const dir = join(appsDir, `app${a}`, "packages", `${String(p).padStart(64, "0")}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < FILES; f++) writeFileSync(join(dir, `f${f}`), "x");
  }
  specs.push({
    app: `app${a}`,
    version: "1.0.0",
    desired: "running",
    package: `sha256:${"f".repeat(64)}`,
  } as unknown as AppSpec);
}
console.log(`packages: ${APPS} apps × ${STALE} stale unpacked packages × ${FILES} files`);
row("pruned", await stall(() => prunePackages(appsDir, () => specs)));
/** A state database of `mb` MB with 60% of it freed, made since checkpoints or before. */
function freedDatabase(mb: number, incremental: boolean): Database {
  const sqlite = new Database(join(scratch, `state-${incremental}.db`));
  if (incremental) sqlite.run("PRAGMA auto_vacuum = INCREMENTAL");
  sqlite.run("PRAGMA journal_mode = WAL");
  sqlite.run("PRAGMA synchronous = NORMAL");
  sqlite.run("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
  const insert = sqlite.prepare("INSERT INTO t (v) VALUES (?)");
  const bytes = new Uint8Array(1000);
  sqlite.transaction(() => {
    for (let i = 0; i < mb * 1000; i++) insert.run(bytes);
  })();
  sqlite.run(`DELETE FROM t WHERE k <= ${mb * 600}`);
  sqlite.run("PRAGMA wal_checkpoint(TRUNCATE)");
  return sqlite;
}
console.log("state database: 400 MB, 60% freed by a compaction");
for (const [what, incremental] of [
  ["given back step by step (made since checkpoints)", true],
  ["one VACUUM (an older database, once)", false],
] as const) {
  const sqlite = freedDatabase(400, incremental);
  row(what, await stall(() => giveBackPages(sqlite, log)));
  sqlite.close();
}
rmSync(scratch, { recursive: true, force: true });
