/**
 * Merges of the same page by this checkout's code and by another's (the code before a
 * change: `git archive REV | tar -x -C DIR`, with a link to this node_modules), taking
 * turns in one process, so that the machine's swings fall on both alike: on a shared
 * 2-core machine others' load moves a merge's rate threefold from run to run. Per side,
 * minimum and median over the rounds: the main thread's CPU an op (the figure to compare),
 * its wait for a core, all threads' CPU an op, and the rate. This checkout against a copy
 * of itself gave 5.23 and 5.25 µs an op (medians of eight rounds of 10,000 × 10, load 7),
 * 5.97 and 5.76 (six, load 9.5): differences under about 4% are noise.
 *
 *   bun bench/merge-against.ts DIR [--page 10000x10] [--rounds 8]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createLog } from "../lib/log.ts";
import type { StateSeal } from "../lib/state/seal.ts";
import type { openStateDb } from "../lib/store/db.ts";
import type { node } from "../lib/store/schema.ts";
import type { ingestPage } from "../lib/sync/ingest.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../protocol/ids.ts";
import { seed, signedPage } from "./merge-page.ts";

const { values: flags, positionals } = parseArgs({
  options: {
    page: { type: "string", default: "10000x10" },
    rounds: { type: "string", default: "8" },
  },
  allowPositionals: true,
});
const against = positionals[0];
if (against === undefined)
  throw new Error("usage: bun bench/merge-against.ts DIR [--page CxN] [--rounds R]");
const [changesetCount, opsPerChangeset] = flags.page.split("x").map(Number) as [number, number];
const rounds = Number(flags.rounds);

/** One checkout's merge, loaded from its own files. */
interface Side {
  readonly label: string;
  readonly ingestPage: typeof ingestPage;
  readonly openStateDb: typeof openStateDb;
  readonly node: typeof node;
  readonly StateSeal: typeof StateSeal;
  readonly figures: { main: number[]; waited: number[]; all: number[]; rate: number[] };
}

async function load(label: string, root: string): Promise<Side> {
  const at = (path: string) => import(join(root, path));
  return {
    label,
    ingestPage: (await at("lib/sync/ingest.ts")).ingestPage,
    openStateDb: (await at("lib/store/db.ts")).openStateDb,
    node: (await at("lib/store/schema.ts")).node,
    StateSeal: (await at("lib/state/seal.ts")).StateSeal,
    figures: { main: [], waited: [], all: [], rate: [] },
  };
}

/** The calling thread's CPU and its wait for a core, in µs (Linux). */
function threadSchedUs(): { cpu: number; waited: number } {
  const [cpu, waited] = readFileSync("/proc/thread-self/schedstat", "utf8").split(" ");
  return { cpu: Number(cpu) / 1000, waited: Number(waited) / 1000 };
}

const quiet = createLog({ level: "silent" });
const scratch = mkdtempSync(join(tmpdir(), "bucky-merge-against-"));
const { zone, entries } = signedPage(changesetCount, opsPerChangeset);
const bytes = entries.map((entry) => entry.bytes);
const ops = changesetCount * opsPerChangeset;
const self = deviceIdFromPublicKey(signingKeyFromSeed(seed(9)).publicKey);
let databases = 0;

/** Merges the page into a new database with `side`'s code, and records its figures. */
async function merge(side: Side, record: boolean): Promise<void> {
  const db = side.openStateDb(join(scratch, `${databases++}.db`), { create: true });
  db.insert(side.node).values({ id: 1, zoneId: zone, deviceId: self, deviceName: "x" }).run();
  const seal = side.StateSeal.fromSeed(seed(9), self);
  seal.init(db.$client);
  const mainStart = threadSchedUs();
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const result = await side.ingestPage(db, bytes, {
    zone,
    nowMs: Date.now(),
    log: quiet,
    source: "bench",
    seal,
  });
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const mainEnd = threadSchedUs();
  db.$client.close();
  if (result.applied.length !== bytes.length)
    throw new Error(`${side.label}: only ${result.applied.length} of ${bytes.length} applied`);
  if (!record) return;
  side.figures.main.push((mainEnd.cpu - mainStart.cpu) / ops);
  side.figures.waited.push((mainEnd.waited - mainStart.waited) / ops);
  side.figures.all.push((cpu.user + cpu.system) / ops);
  side.figures.rate.push(ops / seconds / 1000);
}

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const loadAtStart = loadAverage();
const sides = [
  await load("this checkout", resolve(import.meta.dir, "..")),
  await load(`against ${against}`, resolve(against)),
];
try {
  // Each side's code is compiled as it first runs: one merge each first, not recorded.
  for (const side of sides) await merge(side, false);
  for (let round = 0; round < rounds; round++)
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) await merge(side, true);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const span = (values: number[], digits: number) =>
  `${Math.min(...values).toFixed(digits)} / ${median(values).toFixed(digits)}`;
console.log(
  `merge of ${changesetCount} × ${opsPerChangeset} ops, ${rounds} rounds each in turns; min / median; load ${loadAtStart} at the start, ${loadAverage()} at the end`,
);
for (const { label, figures } of sides)
  console.log(
    `${label.padEnd(36)} main thread ${span(figures.main, 2)} µs/op, waited ${span(figures.waited, 2)}; all threads ${span(figures.all, 2)} µs/op; ${span(figures.rate, 0)}k ops/s`,
  );
