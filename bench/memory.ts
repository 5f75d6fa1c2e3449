/**
 * Memory of an idle daemon: the resident set (RSS) of `bucky daemon` on a fresh zone once
 * it has settled, beside the anchor measured in the same run, a compiled Bun binary that
 * opens a SQLite database and serves HTTP, and nothing else; each started as after a boot,
 * its binary not in the page cache (coldStart). Goal: at most 50 MB. (The
 * most a backup of 1 GiB holds is in bench/backup.ts.) Read 10 s after the start and again
 * at a minute: an idle daemon's periodic jobs compile more of their code and its heap
 * grows until it collects, and by a minute it holds what it holds for good (2-3 MB more
 * than at 10 s, sampled every 10 s for two and a half minutes). Also the CPU it spends
 * idle, in ms a minute between the first and the last reading, beside the anchor's: an
 * idle daemon with nothing to do should wake for next to nothing (a laptop, a Raspberry Pi).
 *
 *   just bench        (or: bun bench/memory.ts [seconds,…], 10,60 unless given)
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startDaemon } from "./daemon.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUCKY = join(ROOT, "dist/bucky");
const OUT = join(ROOT, "bench/.out");
const READ_AT_S = (process.argv[2] ?? "10,60").split(",").map(Number);

/** CPU time a process has spent (user and system, all its threads), in ms. */
async function cpuMsOf(pid: number): Promise<number> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime, fields 14 and 15 of the line, in clock ticks (100 a second on Linux).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/**
 * Drops `binary`'s pages from the page cache (GNU dd's nocache), as after a boot. A file
 * just written or copied is all in the cache, and the kernel then maps into a process
 * around each page it touches whatever of the file the cache holds: the same daemon held
 * 4-4.5 MB more of its binary's code just after `just build` than started from a cold
 * cache (31.3-31.6 MB against 35.4-35.8, measured), which made figures depend on how
 * lately each binary was built.
 */
function coldStart(binary: string): void {
  // Written back first: the kernel drops only clean pages, and a file written moments ago
  // (the anchor, built just above; dist/bucky right after `just build`) kept 42 of its
  // 122 MB in the cache through dd alone (fincore), its start then as warm as after a copy.
  const written = Bun.spawnSync(["sync", binary]);
  const dropped = Bun.spawnSync(["dd", `if=${binary}`, "iflag=nocache", "count=0", "status=none"]);
  if (written.exitCode !== 0 || dropped.exitCode !== 0)
    throw new Error(`could not drop ${binary} from the page cache`);
}

/** VmRSS, and how much of it is file-backed (the binary's own pages), in MB. */
async function rssOf(pid: number): Promise<{ rssMb: number; fileMb: number }> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]);
  return { rssMb: kb("VmRSS") / 1024, fileMb: kb("RssFile") / 1024 };
}

mkdirSync(OUT, { recursive: true });
const anchorBinary = join(OUT, "idle-server");
const built = Bun.spawnSync(
  [
    "bun",
    "build",
    join(ROOT, "bench/idle-server.ts"),
    "--compile",
    "--bytecode",
    "--minify",
  ].concat(["--outfile", anchorBinary]),
  { stdout: "ignore", stderr: "inherit" },
);
if (built.exitCode !== 0) throw new Error("could not build bench/idle-server.ts");

const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-memory-"));
const children: ReturnType<typeof Bun.spawn>[] = [];
try {
  const home = join(scratch, "home");
  const init = Bun.spawnSync([BUCKY, "init", "--home", home, "--json"], { stdout: "ignore" });
  if (init.exitCode !== 0) throw new Error("bucky init failed");
  coldStart(BUCKY);
  const daemon = await startDaemon(BUCKY, home);
  children.push(daemon);
  coldStart(anchorBinary);
  const anchor = Bun.spawn([anchorBinary, join(scratch, "anchor.sock"), join(scratch, "a.db")]);
  children.push(anchor);
  const startedAt = Date.now();
  let cpuFrom: { atMs: number; ours: number; theirs: number } | undefined;
  console.log("memory, idle (RSS, of it file-backed)");
  for (const atS of READ_AT_S) {
    await Bun.sleep(Math.max(0, startedAt + atS * 1000 - Date.now()));
    const [ours, theirs] = [await rssOf(daemon.pid), await rssOf(anchor.pid)];
    cpuFrom ??= {
      atMs: Date.now(),
      ours: await cpuMsOf(daemon.pid),
      theirs: await cpuMsOf(anchor.pid),
    };
    console.log(
      `${`idle daemon, fresh zone, at ${atS} s`.padEnd(34)} ${`${ours.rssMb.toFixed(1)} MB (${ours.fileMb.toFixed(1)})`.padStart(16)} ${`${theirs.rssMb.toFixed(1)} MB (${theirs.fileMb.toFixed(1)})`.padStart(16)}   goal ≤ 50 MB (anchor: Bun.serve + bun:sqlite)`,
    );
  }
  const minutes = cpuFrom ? (Date.now() - cpuFrom.atMs) / 60_000 : 0;
  if (cpuFrom && minutes > 0) {
    const perMinute = (now: number, then: number) => `${((now - then) / minutes).toFixed(0)} ms`;
    console.log(
      `${`idle CPU a minute, ${READ_AT_S[0]}-${READ_AT_S.at(-1)} s`.padEnd(34)} ${perMinute(await cpuMsOf(daemon.pid), cpuFrom.ours).padStart(16)} ${perMinute(await cpuMsOf(anchor.pid), cpuFrom.theirs).padStart(16)}   (user + system, all threads)`,
    );
  }
} finally {
  for (const child of children) child.kill();
  await Promise.all(children.map((child) => child.exited));
  rmSync(scratch, { recursive: true, force: true });
}
