/**
 * A zone that lived a long time: 100,000 live keys written by 1,000,000 changesets over
 * three weeks a month ago (each key written ten times over), on one device. Beside the same zone without
 * compaction, measured in the same run:
 *
 * 1. Compaction: how long the daemon takes, from its start, to agree on a checkpoint of
 *    that history, prune what it supersedes and give the space back.
 * 2. Storage per device: the size of state.db (after a WAL checkpoint), beside the live
 *    state (its rows alone, in a database of their own). Goal: within 2×.
 * 3. Join: `bucky join` of a new device on loopback, end to end (process start, TLS,
 *    admission, the checkpoint, what came after, commit), beside joining the same zone
 *    uncompacted (every changeset pulled, verified and applied). Goal: under 3 s.
 *
 *   bun bench/compaction.ts [changesets] [keys]     (building the zone takes a minute or two)
 */
import { Database } from "bun:sqlite";
import { cpSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { storeChangeset } from "../lib/state/apply.ts";
import { CHANGESET_COLUMNS, STATE_COLUMNS, StateSeal } from "../lib/state/seal.ts";
import { openStateDb } from "../lib/store/db.ts";
import { type Changeset, decodeChangeset, signChangeset } from "../protocol/changeset.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../protocol/ids.ts";
import { startDaemon } from "./daemon.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUCKY = join(ROOT, "dist/bucky");
const CHANGESETS = Number(process.argv[2] ?? 1_000_000);
const KEYS = Number(process.argv[3] ?? 100_000);
const DAY_MS = 24 * 3_600_000;
const quiet = createLog({ level: "silent" });
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-"));
/** Compaction as a daemon does it, with the week's horizon: the history here is a month old. */
const COMPACTING = { BUCKY_CHECKPOINT_EVERY_MS: "1000" };
/** Compaction that never comes: the anchor's daemon keeps everything. */
const NEVER = { BUCKY_CHECKPOINT_HORIZON_MS: String(100 * 365 * DAY_MS) };

function row(name: string, ours: string, anchor: string, goal: string) {
  console.log(`${name.padEnd(44)} ${ours.padStart(12)} ${anchor.padStart(14)}   ${goal}`);
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** A home whose device wrote `CHANGESETS` changesets over `KEYS` keys, a month ago. */
function buildZone(home: string): void {
  const init = Bun.spawnSync([BUCKY, "init", "--home", home, "--device", "old", "--json"], {
    stderr: "inherit",
  });
  if (init.exitCode !== 0) throw new Error("bucky init failed");
  const seed = readKeyFile(join(home, "identity", "device.key"), "device", quiet);
  const key = signingKeyFromSeed(seed);
  const author = deviceIdFromPublicKey(key.publicKey);
  const seal = StateSeal.fromSeed(seed, author);
  const db = openStateDb(join(home, "state.db"), { create: false });
  const zone = (db.$client.query("SELECT zone_id FROM node").get() as { zone_id: ZoneId }).zone_id;
  const start = Date.now() - 30 * DAY_MS;
  // The zone was founded a month ago too: its first changeset is signed again, dated then
  // (a feed's clock only goes forward).
  let last = db.$client.transaction(() => {
    const tally = seal.tally(db.$client);
    const founding = db.$client
      .query<unknown[], []>(`SELECT ${CHANGESET_COLUMNS} FROM changesets`)
      .values();
    const ops = decodeChangeset(new Uint8Array(founding[0]?.[4] as Uint8Array)).ops;
    for (const row of founding) tally.removeChangesetRow(row as never);
    for (const row of db.$client
      .query<unknown[], []>(`SELECT ${STATE_COLUMNS} FROM state`)
      .values())
      tally.removeStateRow(row as never);
    db.$client.run("DELETE FROM changesets");
    db.$client.run("DELETE FROM state");
    const first = signChangeset(
      { zone, author, seq: 1, prev: null, hlc: { ms: start - 1, counter: 0 }, ops },
      key,
    );
    storeChangeset(db, tally, first, start);
    tally.save();
    return { seq: 1, hash: first.hash };
  })();
  for (let c = 0; c < CHANGESETS; c += 10_000) {
    db.$client.transaction(() => {
      const tally = seal.tally(db.$client);
      for (let i = c; i < Math.min(CHANGESETS, c + 10_000); i++) {
        const changeset: Changeset = signChangeset(
          {
            zone,
            author,
            seq: last.seq + 1,
            prev: new Uint8Array(last.hash),
            // Three weeks of history, from a month ago until nine days ago.
            hlc: { ms: start + Math.floor((i * 21 * DAY_MS) / CHANGESETS), counter: 0 },
            ops: [{ key: `bulk/k${i % KEYS}`, value: JSON.stringify({ n: i, note: "a value" }) }],
          },
          key,
        );
        storeChangeset(db, tally, changeset, start);
        last = { seq: changeset.seq, hash: changeset.hash };
      }
      tally.save();
    })();
  }
  db.$client.close();
}

/** state.db's size once its write-ahead log is folded in. */
function storedBytes(home: string): number {
  const db = new Database(join(home, "state.db"));
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  return statSync(join(home, "state.db")).size;
}

/** The live state alone: its rows in a database of their own. */
function liveBytes(home: string): number {
  const path = join(scratch, `live-${Math.random().toString(36).slice(2)}.db`);
  const db = new Database(path);
  db.run(`ATTACH '${join(home, "state.db")}' AS home`);
  db.run("CREATE TABLE state AS SELECT * FROM home.state");
  db.run("DETACH home");
  db.run("VACUUM");
  db.close();
  return statSync(path).size;
}

function query<T>(home: string, sql: string): T {
  const db = new Database(join(home, "state.db"), { readonly: true });
  try {
    return db.query(sql).get() as T;
  } finally {
    db.close();
  }
}

function bucky<T>(args: string[]): T {
  const run = Bun.spawnSync([BUCKY, ...args, "--json"], { stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`bucky ${args.join(" ")}: ${run.stderr}`);
  return JSON.parse(run.stdout.toString()) as T;
}

/** A new device joins the zone `home`'s daemon serves; how long it took, and its home. */
function join_(home: string, name: string): { seconds: number; home: string; changesets: number } {
  const { token } = bucky<{ token: string }>(["invite", "--home", home]);
  const joined = join(scratch, name);
  const start = performance.now();
  const result = bucky<{ changesets: number }>([
    "join",
    token,
    "--home",
    joined,
    "--device",
    name,
    "--no-start",
  ]);
  return {
    seconds: (performance.now() - start) / 1000,
    home: joined,
    changesets: result.changesets,
  };
}

const daemons: ReturnType<typeof Bun.spawn>[] = [];
const old = join(scratch, "old");
const twin = join(scratch, "twin");
try {
  const buildStart = performance.now();
  buildZone(old);
  cpSync(old, twin, { recursive: true });
  console.log(
    `a zone of ${KEYS.toLocaleString("en")} keys and ${CHANGESETS.toLocaleString("en")} changesets, built in ${((performance.now() - buildStart) / 1000).toFixed(1)} s`,
  );
  const live = liveBytes(old);
  console.log(`${"".padEnd(44)} ${"bucky".padStart(12)} ${"uncompacted".padStart(14)}`);

  // 1: the daemon compacts the history it finds.
  const compactStart = performance.now();
  daemons.push(await startDaemon(BUCKY, old, COMPACTING));
  for (;;) {
    const { n } = query<{ n: number }>(old, "SELECT count(*) AS n FROM changesets");
    const { f } = query<{ f: number }>(
      old,
      "SELECT freelist_count AS f FROM pragma_freelist_count",
    );
    if (n < KEYS && f === 0) break;
    await Bun.sleep(200);
  }
  const compactS = (performance.now() - compactStart) / 1000;
  row("compaction by the daemon, from its start", `${compactS.toFixed(1)} s`, "—", "(once)");
  // Measured at rest (a daemon's reader may keep the log from being folded in meanwhile).
  for (const daemon of daemons.splice(0)) {
    daemon.kill();
    await daemon.exited;
  }

  // 2: storage per device.
  const compacted = storedBytes(old);
  const uncompacted = storedBytes(twin);
  row(
    `state.db, live state ${mib(live)}`,
    `${mib(compacted)} ${(compacted / live).toFixed(2)}×`,
    `${mib(uncompacted)} ${(uncompacted / live).toFixed(1)}×`,
    "goal within 2× of the live state",
  );

  // 3: joining, compacted, then the same zone uncompacted.
  daemons.push(await startDaemon(BUCKY, old, COMPACTING));
  const ours = join_(old, "newcomer");
  const oursStored = storedBytes(ours.home);
  for (const daemon of daemons.splice(0)) {
    daemon.kill();
    await daemon.exited;
  }
  daemons.push(await startDaemon(BUCKY, twin, NEVER));
  let theirs: ReturnType<typeof join_> | undefined;
  try {
    theirs = join_(twin, "newcomer2");
  } catch (error) {
    console.log(
      `(joining the uncompacted zone failed: ${(error as Error).message.split("\n")[0]})`,
    );
  }
  row(
    "bucky join",
    `${ours.seconds.toFixed(2)} s`,
    theirs ? `${theirs.seconds.toFixed(2)} s` : "failed",
    `goal < 3 s (${ours.changesets} changesets after the checkpoint${theirs ? `; uncompacted ${theirs.changesets}` : ""})`,
  );
  const theirsStored = theirs ? storedBytes(theirs.home) : undefined;
  row(
    "state.db of the device that joined",
    `${mib(oursStored)} ${(oursStored / live).toFixed(2)}×`,
    theirsStored === undefined ? "—" : `${mib(theirsStored)} ${(theirsStored / live).toFixed(1)}×`,
    "goal within 2× of the live state",
  );
} finally {
  for (const daemon of daemons) daemon.kill();
  await Promise.all(daemons.map((daemon) => daemon.exited));
  rmSync(scratch, { recursive: true, force: true });
}
