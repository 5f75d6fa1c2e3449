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
 * Then the same readings of a zone as a person has one: two devices, the second running the
 * notes app, each daemon read from when the app runs (their presence, convergence and
 * anti-entropy go on while there are peers and apps).
 *
 *   just bench        (or: bun bench/memory.ts [seconds,…], 10,60 unless given)
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buckyJson, cpuMsOf, localGet, startDaemon, startTwoDevices, until } from "./daemon.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUCKY = join(ROOT, "dist/bucky");
const OUT = join(ROOT, "bench/.out");
const READ_AT_S = (process.argv[2] ?? "10,60").split(",").map(Number);

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

/**
 * Prints each daemon's RSS beside the anchor's at each of READ_AT_S seconds from now, then
 * the CPU each spent a minute between the first reading and the last.
 */
async function readIdle(
  daemons: { label: string; pid: number }[],
  anchorPid: number,
  goal: string,
) {
  const startedAt = Date.now();
  let cpuFrom: { atMs: number; ours: number[]; theirs: number } | undefined;
  for (const atS of READ_AT_S) {
    await Bun.sleep(Math.max(0, startedAt + atS * 1000 - Date.now()));
    const theirs = await rssOf(anchorPid);
    for (const { label, pid } of daemons) {
      const ours = await rssOf(pid);
      console.log(
        `${`${label}, at ${atS} s`.padEnd(44)} ${`${ours.rssMb.toFixed(1)} MB (${ours.fileMb.toFixed(1)})`.padStart(16)} ${`${theirs.rssMb.toFixed(1)} MB (${theirs.fileMb.toFixed(1)})`.padStart(16)}   ${goal}`,
      );
    }
    cpuFrom ??= {
      atMs: Date.now(),
      ours: daemons.map(({ pid }) => cpuMsOf(pid)),
      theirs: cpuMsOf(anchorPid),
    };
  }
  const minutes = cpuFrom ? (Date.now() - cpuFrom.atMs) / 60_000 : 0;
  if (!cpuFrom || minutes <= 0) return;
  const perMinute = (now: number, then: number) => `${((now - then) / minutes).toFixed(0)} ms`;
  const theirs = perMinute(cpuMsOf(anchorPid), cpuFrom.theirs);
  for (const [i, { label, pid }] of daemons.entries()) {
    console.log(
      `${`${label}, CPU a minute`.padEnd(44)} ${perMinute(cpuMsOf(pid), cpuFrom.ours[i] as number).padStart(16)} ${theirs.padStart(16)}   (user + system, all threads, ${READ_AT_S[0]}-${READ_AT_S.at(-1)} s)`,
    );
  }
}

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
  console.log("memory, idle (RSS, of it file-backed)");
  await readIdle(
    [{ label: "idle daemon, fresh zone", pid: daemon.pid }],
    anchor.pid,
    "goal ≤ 50 MB (anchor: Bun.serve + bun:sqlite)",
  );
  daemon.kill();
  await daemon.exited;

  // Two devices, the second running the notes app.
  const { homes, daemons } = await startTwoDevices(BUCKY, scratch, children, {
    beforeDaemons: () => coldStart(BUCKY),
  });
  buckyJson(BUCKY, [
    "app",
    "install",
    join(ROOT, "fixtures/apps/notes"),
    "--device",
    "b",
    "--home",
    homes[0],
  ]);
  await until(
    "the notes app running on device b",
    async () => (await localGet<{ state: string }>(homes[0], "/v1/apps/notes")).state === "running",
    60_000,
  );
  await readIdle(
    [
      { label: "two devices + app: a", pid: daemons[0].pid },
      { label: "two devices + app: b (the app)", pid: daemons[1].pid },
    ],
    anchor.pid,
    "(a zone in use: the goal is the fresh zone's)",
  );
} finally {
  for (const child of children) child.kill();
  await Promise.all(children.map((child) => child.exited));
  rmSync(scratch, { recursive: true, force: true });
}
