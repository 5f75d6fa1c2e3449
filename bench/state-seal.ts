/**
 * What checking the zone state at rest costs, on a zone of 100,000 keys written by
 * 1,000,000 changesets (about 550 MB of state.db), each figure beside an anchor measured
 * in the same run:
 *
 * 1. `bucky status --json` (every open checks the state rows, the changesets' count and
 *    this device's head against the seal), median of 5, beside plain SQLite reading the
 *    same state rows (the floor of any check that reads them). Goal: under 1 s.
 * 2. The check a daemon makes as it starts (every row of both tables against the seal),
 *    beside plain SQLite reading both tables. Goal: under 5 s.
 * 3. A full verification (every signature, every chain, the state against what the
 *    changesets give), beside checking the same signatures alone. The daemon runs it once
 *    a day, in slices; there is no goal beyond "signature checks dominate".
 *
 *   bun bench/state-seal.ts [changesets] [keys]     (building the zone takes a minute or two)
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { storeChangeset } from "../lib/state/apply.ts";
import { StateSeal } from "../lib/state/seal.ts";
import { verifyNow } from "../lib/state/verify.ts";
import { openStateDb } from "../lib/store/db.ts";
import { openZone } from "../lib/zone/open.ts";
import {
  type Changeset,
  decodeChangeset,
  signChangeset,
  verifyChangeset,
} from "../protocol/changeset.ts";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "../protocol/ed25519.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../protocol/ids.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUCKY = join(ROOT, "dist/bucky");
const CHANGESETS = Number(process.argv[2] ?? 1_000_000);
const KEYS = Number(process.argv[3] ?? 100_000);
const quiet = createLog({ level: "silent" });
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-"));

function row(name: string, ours: string, anchor: string, goal: string) {
  console.log(`${name.padEnd(40)} ${ours.padStart(10)} ${anchor.padStart(10)}   ${goal}`);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function timed(work: () => unknown): number {
  const start = performance.now();
  work();
  return performance.now() - start;
}

/** A home with `changesets` changesets of this device, over `keys` keys, signed and sealed. */
function buildZone(home: string): void {
  const init = Bun.spawnSync([BUCKY, "init", "--home", home, "--json"], { stderr: "inherit" });
  if (init.exitCode !== 0) throw new Error("bucky init failed");
  const seed = readKeyFile(join(home, "identity", "device.key"), "device", quiet);
  const key = signingKeyFromSeed(seed);
  const author = deviceIdFromPublicKey(key.publicKey);
  const seal = StateSeal.fromSeed(seed, author);
  const db = openStateDb(join(home, "state.db"), { create: false });
  const zone = (db.$client.query("SELECT zone_id FROM node").get() as { zone_id: ZoneId }).zone_id;
  let last = db.$client
    .query<{ seq: number; hash: Uint8Array }, []>(
      "SELECT seq, hash FROM changesets ORDER BY seq DESC LIMIT 1",
    )
    .get() as { seq: number; hash: Uint8Array };
  const start = Date.now();
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
            hlc: { ms: start + i, counter: 0 },
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

function median(samples: number[]): number {
  return [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)] as number;
}

const home = join(scratch, "home");
try {
  const built = timed(() => buildZone(home));
  console.log(
    `a zone of ${KEYS.toLocaleString("en")} keys and ${CHANGESETS.toLocaleString("en")} changesets, built in ${seconds(built)}`,
  );
  console.log(`${"".padEnd(40)} ${"bucky".padStart(10)} ${"anchor".padStart(10)}`);

  const raw = new Database(join(home, "state.db"), { readonly: true });
  const readState = () => {
    for (const _ of raw.query("SELECT * FROM state").iterate()) {
      // Reading each row is the point.
    }
  };
  const readBoth = () => {
    readState();
    for (const _ of raw.query("SELECT * FROM changesets").iterate()) {
      // As above.
    }
  };

  const status = median(
    Array.from({ length: 5 }, () =>
      timed(() => {
        const run = Bun.spawnSync([BUCKY, "status", "--json", "--home", home]);
        if (run.exitCode !== 0) throw new Error(`bucky status failed: ${run.stderr}`);
      }),
    ),
  );
  row("bucky status --json, median", seconds(status), seconds(timed(readState)), "< 1 s");

  let zone = openZone(home, quiet);
  zone.close();
  const daemonCheck = timed(() => {
    zone = openZone(home, quiet, { everyRow: true });
  });
  row("the check of a daemon starting", seconds(daemonCheck), seconds(timed(readBoth)), "< 5 s");

  const verification = timed(() => {
    const verdict = verifyNow(zone.db.$client, zone.seal, zone.zone.id);
    if (verdict.problemCount > 0) throw new Error(verdict.problems.join("; "));
  });
  const verifyKey = verifyKeyFromPublicKey(zone.deviceKey.publicKey);
  const signaturesOnly = timed(() => {
    for (const { bytes } of raw
      .query<{ bytes: Uint8Array }, []>("SELECT bytes FROM changesets")
      .iterate())
      verifyChangeset(decodeChangeset(new Uint8Array(bytes)), verifyKey);
  });
  row("a full verification", seconds(verification), seconds(signaturesOnly), "(once a day)");
  zone.close();
  raw.close();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
