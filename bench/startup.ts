/**
 * Start-up time of `dist/bucky`: median wall time of `bucky --version` and of
 * `bucky status --json` on a fresh zone, with its node running (the usual case: status
 * asks it) and with none (status opens and checks the database itself), beside the
 * anchor measured in the same run, a compiled Bun binary that does nothing. Goals: under
 * 20 ms and under 25 ms. Beside the wall time, the CPU time each run took, which others'
 * work on the machine disturbs less.
 *
 *   just bench        (or: bun bench/startup.ts [runs])
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startDaemon } from "./daemon.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUCKY = join(ROOT, "dist/bucky");
const OUT = join(ROOT, "bench/.out");
const RUNS = Number(process.argv[2] ?? 40);

function build(entry: string, outfile: string): void {
  const built = Bun.spawnSync(
    ["bun", "build", entry, "--compile", "--bytecode", "--minify", "--outfile", outfile],
    {
      stdout: "ignore",
      stderr: "inherit",
    },
  );
  if (built.exitCode !== 0) throw new Error(`could not build ${entry}`);
}

/**
 * Median and 90th percentile wall time of `command`, and its median CPU time (user and
 * system), in milliseconds, after a warm-up.
 */
function time(command: string[]): { medianMs: number; p90Ms: number; cpuMs: number } {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = -3; i < RUNS; i++) {
    const start = Bun.nanoseconds();
    const run = Bun.spawnSync(command, { stdout: "ignore", stderr: "ignore" });
    const elapsedMs = (Bun.nanoseconds() - start) / 1e6;
    if (run.exitCode !== 0) throw new Error(`${command.join(" ")} exited ${run.exitCode}`);
    if (i < 0) continue;
    wall.push(elapsedMs);
    const { user, system } = run.resourceUsage.cpuTime;
    cpu.push(Number(user + system) / 1000);
  }
  const at = (samples: number[], q: number) =>
    samples.sort((a, b) => a - b)[
      Math.min(samples.length - 1, Math.floor(q * samples.length))
    ] as number;
  return { medianMs: at(wall, 0.5), p90Ms: at(wall, 0.9), cpuMs: at(cpu, 0.5) };
}

mkdirSync(OUT, { recursive: true });
const empty = join(OUT, "empty");
build(join(ROOT, "bench/empty.ts"), empty);
const home = join(mkdtempSync(join(tmpdir(), "bucky-bench-")), "home");
let daemon: ReturnType<typeof Bun.spawn> | undefined;
try {
  const init = Bun.spawnSync([BUCKY, "init", "--home", home, "--json"], {
    stdout: "ignore",
    stderr: "inherit",
  });
  if (init.exitCode !== 0) throw new Error("bucky init failed");

  const status = [BUCKY, "status", "--json", "--home", home];
  const rows = [
    { name: "anchor: empty compiled Bun binary", goalMs: undefined, ...time([empty]) },
    { name: "bucky --version", goalMs: 20, ...time([BUCKY, "--version"]) },
    { name: "bucky status --json, no node running", goalMs: 25, ...time(status) },
  ];
  daemon = await startDaemon(BUCKY, home);
  rows.push({ name: "bucky status --json, its node running", goalMs: 25, ...time(status) });
  console.log(`start-up, ${RUNS} runs each (ms)`);
  console.log(
    `${"command".padEnd(40)} ${"median".padStart(8)} ${"p90".padStart(8)} ${"CPU".padStart(6)} ${"goal".padStart(6)}`,
  );
  for (const row of rows) {
    const goal = row.goalMs === undefined ? "" : `< ${row.goalMs}`;
    console.log(
      `${row.name.padEnd(40)} ${row.medianMs.toFixed(1).padStart(8)} ${row.p90Ms.toFixed(1).padStart(8)} ${row.cpuMs.toFixed(1).padStart(6)} ${goal.padStart(6)}`,
    );
  }
} finally {
  daemon?.kill();
  await daemon?.exited;
  rmSync(resolve(home, ".."), { recursive: true, force: true });
}
