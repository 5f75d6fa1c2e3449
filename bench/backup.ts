/**
 * Backups beside restic, on the same generated tree (about 1 GiB: incompressible media,
 * text, small files and duplicates) in one run, each to a repository on the same disk:
 * the first backup, a backup of the unchanged tree, a backup after changing about 1% of
 * it, the repository's size, and a full restore. Goal: bucky faster on each (1.5× on the
 * first backup and the restore) with a repository no larger. And the most memory each
 * process held during the first backup (peak RSS), beside restic's. Goal: at most 200 MB.
 *
 *   just bench        (or: bun bench/backup.ts [MiB])
 */
import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { generateTree } from "../test/generated-tree.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUCKY = join(ROOT, "dist/bucky");
const MIB = Number(process.argv[2] ?? 1000);
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-backup-"));
const env = {
  ...process.env,
  HOME: scratch,
  RESTIC_PASSWORD: "bench",
  RESTIC_CACHE_DIR: join(scratch, "restic-cache"),
};

/**
 * Each step starts from the disk, not from what the last one left in memory: written
 * back, and the page cache dropped where we may (as root). A cache full of the last
 * step's gigabyte made timings swing by 2× here.
 */
function settle(): boolean {
  spawnSync("sync");
  try {
    writeFileSync("/proc/sys/vm/drop_caches", "3");
    return true;
  } catch {
    return false;
  }
}

/** The peak RSS of the last process `timed` ran, in bytes (GNU time's %M, in KiB). */
let lastPeakRssBytes = 0;

function timed(argv: string[]): number {
  settle();
  const peakFile = join(scratch, "peak-rss");
  const start = performance.now();
  const run = spawnSync("/usr/bin/time", ["-f", "%M", "-o", peakFile, ...argv], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const seconds = (performance.now() - start) / 1000;
  if (run.status !== 0) throw new Error(`${argv.join(" ")} failed: ${run.stderr}`);
  lastPeakRssBytes = Number(readFileSync(peakFile, "utf8").trim().split("\n").at(-1)) * 1024;
  return seconds;
}

function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? sizeOf(path) : statSync(path).size;
  }
  return total;
}

/** Appends to every hundredth file: about 1% of the files, with new bytes at their ends. */
function changeOnePercent(dir: string): void {
  let i = 0;
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (i++ % 100 === 0) appendFileSync(path, `changed ${i}\n`.repeat(1000));
    }
  };
  walk(dir);
}

function main() {
  if (spawnSync("restic", ["version"]).status !== 0) {
    console.log("backup benchmark skipped: restic is not installed (apt-get install restic)");
    return;
  }
  const home = join(scratch, "home");
  spawnSync(BUCKY, ["init", "--home", home], { env });
  const data = join(home, "data");
  mkdirSync(data);
  const tree = generateTree(data, MIB * 1024 * 1024);
  const resticRepo = join(scratch, "restic");
  const buckyRepo = join(scratch, "bucky");
  timed(["restic", "init", "-q", "-r", resticRepo]);
  // Added without its first backup (which adding a target runs otherwise), so that the
  // first backup below is timed, and its memory measured, as restic's is.
  timed([BUCKY, "backup", "target", "add", "bench", buckyRepo, "--no-backup", "--home", home]);

  const rows: [string, number, number][] = [];
  const firstRestic = timed(["restic", "backup", "-q", "-r", resticRepo, data]);
  const resticPeak = lastPeakRssBytes;
  const firstBucky = timed([BUCKY, "backup", "run", "--home", home]);
  const buckyPeak = lastPeakRssBytes;
  rows.push(["first backup", firstRestic, firstBucky]);
  rows.push([
    "unchanged tree",
    timed(["restic", "backup", "-q", "-r", resticRepo, data]),
    timed([BUCKY, "backup", "run", "--home", home]),
  ]);
  changeOnePercent(data);
  rows.push([
    "after changing 1%",
    timed(["restic", "backup", "-q", "-r", resticRepo, data]),
    timed([BUCKY, "backup", "run", "--home", home]),
  ]);
  const restoreRestic = join(scratch, "restored-restic");
  const restoreBucky = join(scratch, "restored-bucky");
  rows.push([
    "full restore",
    timed(["restic", "restore", "-q", "latest", "-r", resticRepo, "--target", restoreRestic]),
    timed([BUCKY, "backup", "restore", "latest", "--to", restoreBucky, "--home", home]),
  ]);
  const sizes = { restic: sizeOf(resticRepo), bucky: sizeOf(buckyRepo) };

  console.log(
    `backup beside restic: ${tree.files} files, ${(tree.bytes / 1048576).toFixed(0)} MiB, one run, same disk, ${settle() ? "page cache dropped before each step" : "page cache warm (not root)"}`,
  );
  console.log(
    `${"".padEnd(20)} ${"restic".padStart(9)} ${"bucky".padStart(9)} ${"speed-up".padStart(9)}`,
  );
  for (const [name, restic, bucky] of rows)
    console.log(
      `${name.padEnd(20)} ${`${restic.toFixed(2)} s`.padStart(9)} ${`${bucky.toFixed(2)} s`.padStart(9)} ${`${(restic / bucky).toFixed(2)}×`.padStart(9)}`,
    );
  console.log(
    `${"repository".padEnd(20)} ${`${(sizes.restic / 1e6).toFixed(0)} MB`.padStart(9)} ${`${(sizes.bucky / 1e6).toFixed(0)} MB`.padStart(9)} ${`${(sizes.bucky / sizes.restic).toFixed(2)}×`.padStart(9)}`,
  );
  console.log(
    `${"peak RSS, 1st backup".padEnd(20)} ${`${(resticPeak / 1e6).toFixed(0)} MB`.padStart(9)} ${`${(buckyPeak / 1e6).toFixed(0)} MB`.padStart(9)}`,
  );
  console.log(
    "goal: bucky faster on each (1.5× on the first backup and the restore), repository no larger, peak RSS ≤ 200 MB",
  );
}

try {
  main();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
