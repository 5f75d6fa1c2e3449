/**
 * Sync figures, each beside an anchor measured in the same run:
 *
 * 1. Merge throughput: signed changesets applied with full verification (decode, member
 *    check, signature, chain, write rules, last-writer-wins upsert), in ops per second,
 *    beside plain SQLite upserts of the same rows with no verification at all. Goal: at
 *    least 200,000 ops/s, ten times cr-sqlite's published 11–20 k changes/s (a figure
 *    quoted, not measured here: cr-sqlite does not build on this machine).
 * 2. Join: `bucky join` of a zone holding 100,000 keys on loopback, end to end (process
 *    start, TLS, admission, full pull, verify, apply, commit), beside fetching the same
 *    changeset pages over the same TLS connection without applying them. Goal: under 3 s.
 * 3. Propagation: one write on a device until two peers show it, p50 and p90, beside the
 *    round trip of a read on the same local API (the floor of this measurement). Goal:
 *    p50 under 100 ms.
 *
 *   just bench        (or: bun bench/sync.ts [merge|join|propagation])
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { PeerClient } from "../lib/node/peer-client.ts";
import { MemoryContacts } from "../lib/node/peers.ts";
import { StateSeal } from "../lib/state/seal.ts";
import { openStateDb } from "../lib/store/db.ts";
import { node } from "../lib/store/schema.ts";
import { ingestPage } from "../lib/sync/ingest.ts";
import { decodeChangeset } from "../protocol/changeset.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../protocol/ids.ts";
import { decodeEntries, encodePullRequest } from "../protocol/sync-messages.ts";
import { writeBacklog } from "../test/backlog.ts";
import { startDaemon as startBenchDaemon } from "./daemon.ts";
import { seed, signedPage } from "./merge-page.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUCKY = join(ROOT, "dist/bucky");
const quiet = createLog({ level: "silent" });
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-"));

function row(name: string, ours: string, anchor: string, goal: string) {
  console.log(`${name.padEnd(42)} ${ours.padStart(16)} ${anchor.padStart(18)}   ${goal}`);
}

/**
 * CPU time of the calling thread alone, in µs (Linux): the merge's own work, apart from the
 * signature checks on the runtime's crypto threads; and the time it was ready to run but
 * waited for a core (others' load, or those threads on a machine of few cores).
 */
function threadSchedUs(): { cpu: number; waited: number } {
  const [cpu, waited] = readFileSync("/proc/thread-self/schedstat", "utf8").split(" ");
  return { cpu: Number(cpu) / 1000, waited: Number(waited) / 1000 };
}

/**
 * 1: merge throughput (printed unless `report` is false: a warm-up), of a page of
 * bench/merge-page.ts.
 */
async function mergeThroughput(
  changesetCount: number,
  opsPerChangeset: number,
  report = true,
  scattered = false,
) {
  const { zone, entries } = signedPage(changesetCount, opsPerChangeset, scattered);
  const ops = changesetCount * opsPerChangeset;

  const name = `${changesetCount}${scattered ? "-scattered" : ""}`;
  const db = openStateDb(join(scratch, `merge-${name}.db`), { create: true });
  const self = deviceIdFromPublicKey(signingKeyFromSeed(seed(9)).publicKey);
  db.insert(node).values({ id: 1, zoneId: zone, deviceId: self, deviceName: "x" }).run();
  const seal = StateSeal.fromSeed(seed(9), self);
  seal.init(db.$client);
  // As the daemon ingests a page: signatures checked on every core, each batch applied
  // (one transaction) as the next one's are checked.
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const mainStart = threadSchedUs();
  const result = await ingestPage(
    db,
    entries.map((e) => e.bytes),
    { zone: zone, nowMs: Date.now(), log: quiet, source: "bench", seal },
  );
  const oursS = (performance.now() - start) / 1000;
  // CPU of every thread (the signature checks' too) per op: what others' load on a shared
  // machine disturbs far less than the rate.
  const cpu = process.cpuUsage(cpuStart);
  const cpuUsPerOp = (cpu.user + cpu.system) / ops;
  const mainEnd = threadSchedUs();
  const mainUsPerOp = (mainEnd.cpu - mainStart.cpu) / ops;
  const waitedUsPerOp = (mainEnd.waited - mainStart.waited) / ops;
  if (result.applied.length !== entries.length)
    throw new Error(`only ${result.applied.length} of ${entries.length} applied`);
  db.$client.close();

  // Anchor: the same rows upserted by plain SQLite, one transaction, no verification.
  const raw = new Database(join(scratch, `raw-${name}.db`), { create: true });
  raw.run("PRAGMA journal_mode = WAL");
  raw.run("PRAGMA synchronous = NORMAL");
  raw.run(
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT, hlc_ms INTEGER, hlc_counter INTEGER, author TEXT, seq INTEGER) WITHOUT ROWID",
  );
  const upsert = raw.prepare(
    "INSERT INTO state VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, hlc_ms = excluded.hlc_ms, author = excluded.author, seq = excluded.seq WHERE (excluded.hlc_ms, excluded.author) > (state.hlc_ms, state.author)",
  );
  const anchorStart = performance.now();
  raw.transaction(() => {
    for (const changeset of entries.slice(1))
      for (const op of changeset.ops)
        upsert.run(op.key, op.value, changeset.hlc.ms, changeset.author, changeset.seq);
  })();
  const anchorS = (performance.now() - anchorStart) / 1000;
  raw.close();
  if (!report) return;
  row(
    `merge, ${changesetCount} × ${opsPerChangeset} ops${scattered ? ", keys in no order" : ""}`,
    `${Math.round(ops / oursS).toLocaleString("en")} ops/s`,
    `${Math.round(ops / anchorS).toLocaleString("en")} ops/s`,
    `goal ≥ 200,000 ops/s (CPU ${cpuUsPerOp.toFixed(1)} µs/op, ${mainUsPerOp.toFixed(1)} on the main thread, which waited ${waitedUsPerOp.toFixed(1)} for a core)`,
  );
}

/** Runs `bucky args…` to completion and returns its JSON result. */
function bucky<T>(args: string[]): T {
  const run = Bun.spawnSync([BUCKY, ...args, "--json"], { stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`bucky ${args.join(" ")}: ${run.stderr}`);
  return JSON.parse(run.stdout.toString()) as T;
}

const daemons: ReturnType<typeof Bun.spawn>[] = [];

async function startDaemon(home: string): Promise<void> {
  daemons.push(await startBenchDaemon(BUCKY, home, { BUCKY_SYNC_INTERVAL_MS: "1000" }));
}

async function local(home: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`http://localhost${path}`, {
    method,
    unix: join(home, "daemon.sock"),
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status}`);
  return response.json();
}

/** 2: a fresh device joins a zone of 100,000 keys. */
async function joinTime(keys: number) {
  const founder = join(scratch, "join-founder");
  bucky(["init", "--home", founder, "--device", "founder"]);
  writeBacklog(founder, keys / 1000, 1000);
  await startDaemon(founder);
  const { token } = bucky<{ token: string }>(["invite", "--home", founder]);

  // Anchor: the same pages over the same kind of TLS connection, fetched and not applied.
  const self = bucky<{ device: { id: string }; addresses: string[] }>([
    "status",
    "--home",
    founder,
  ]);
  const anchorStart = performance.now();
  await fetchAllPages(founder, self.device.id as never);
  const anchorS = (performance.now() - anchorStart) / 1000;

  const start = performance.now();
  const joined = bucky<{ changesets: number }>([
    "join",
    token,
    "--home",
    join(scratch, "join-new"),
    "--device",
    "newcomer",
    "--no-start",
  ]);
  const oursS = (performance.now() - start) / 1000;
  row(
    `join a zone of ${keys.toLocaleString("en")} keys`,
    `${oursS.toFixed(2)} s`,
    `${anchorS.toFixed(2)} s`,
    `goal < 3 s (${joined.changesets} changesets)`,
  );
}

/** Pulls every page from a daemon as itself, without applying anything. */
async function fetchAllPages(home: string, id: DeviceId): Promise<void> {
  const key = signingKeyFromSeed(
    readKeyFile(join(home, "identity", "device.key"), "device", quiet),
  );
  const info = JSON.parse(await Bun.file(join(home, "daemon.json")).text()) as {
    addresses: string[];
  };
  const address = info.addresses[0] as string;
  const certPem = await (
    await fetch(`${address}/v1/cert`, { tls: { rejectUnauthorized: false } })
  ).text();
  const client = new PeerClient(key, new MemoryContacts(), Date.now);
  const peer = { id, name: "founder", addresses: [address], certPem };
  const have = new Map<DeviceId, number>();
  for (;;) {
    const message = decodeEntries(
      await client.post(peer, "/v1/sync/pull", encodePullRequest({ have })),
    );
    for (const bytes of message.entries) {
      const changeset = decodeChangeset(bytes);
      have.set(changeset.author, Math.max(have.get(changeset.author) ?? 0, changeset.seq));
    }
    if (!message.more) return;
  }
}

/** 3: one write on a device until two peers show it. */
async function propagation(writes: number) {
  const homes = ["a", "b", "c"].map((name) => join(scratch, `prop-${name}`));
  const [a, b, c] = homes as [string, string, string];
  bucky(["init", "--home", a, "--device", "a"]);
  await startDaemon(a);
  for (const [home, name] of [
    [b, "b"],
    [c, "c"],
  ] as const) {
    const { token } = bucky<{ token: string }>(["invite", "--home", a]);
    bucky(["join", token, "--home", home, "--device", name, "--no-start"]);
    await startDaemon(home);
  }
  await Bun.sleep(1500); // every device has published its address and been heard from
  const delays: number[] = [];
  const roundTrips: number[] = [];
  for (let i = 0; i < writes; i++) {
    const readStart = performance.now();
    await local(b, "GET", "/v1/status");
    roundTrips.push(performance.now() - readStart);
    const start = performance.now();
    await local(a, "PUT", "/v1/state/bench/p", { value: i });
    await Promise.all(
      [b, c].map(async (home) => {
        for (;;) {
          const entry = (await local(home, "GET", "/v1/state/bench/p").catch(() => undefined)) as
            | { value?: number }
            | undefined;
          if (entry?.value === i) return;
          await Bun.sleep(1);
        }
      }),
    );
    delays.push(performance.now() - start);
  }
  const at = (list: number[], q: number) =>
    [...list].sort((x, y) => x - y)[Math.floor(q * (list.length - 1))] as number;
  row(
    `propagation to 2 peers, ${writes} writes`,
    `p50 ${at(delays, 0.5).toFixed(1)} ms`,
    `p50 ${at(roundTrips, 0.5).toFixed(1)} ms`,
    `goal p50 < 100 ms (p90 ${at(delays, 0.9).toFixed(1)} ms)`,
  );
}

console.log("sync benchmarks (this machine, one run)");
console.log(`${"".padEnd(42)} ${"bucky".padStart(16)} ${"anchor".padStart(18)}`);
// `bun bench/sync.ts merge` (or join, propagation) runs that part alone.
const only = process.argv[2];
try {
  if (!only || only === "merge") {
    // A small merge first, not printed: the first row would otherwise carry the cold start
    // of the merge's code (compiled as it first runs), which the anchor, a few lines of
    // SQL, hardly has.
    await mergeThroughput(200, 50, false);
    await mergeThroughput(100, 1000);
    await mergeThroughput(1000, 100);
    await mergeThroughput(10_000, 10);
    await mergeThroughput(1000, 100, true, true);
  }
  if (!only || only === "join") await joinTime(100_000);
  if (!only || only === "propagation") await propagation(50);
} finally {
  for (const daemon of daemons) daemon.kill();
  await Promise.all(daemons.map((daemon) => daemon.exited));
  rmSync(scratch, { recursive: true, force: true });
}
