/**
 * Start-up time of `dist/bucky`: median wall time of `bucky --version` and of
 * `bucky status --json` on a fresh zone, beside the anchor measured in the same run,
 * a compiled Bun binary that does nothing. Goals: under 20 ms and under 25 ms.
 *
 *   just bench        (or: bun bench/startup.ts [runs])
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

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

/** Median and 90th percentile wall time of `command`, in milliseconds, after a warm-up. */
function time(command: string[]): { medianMs: number; p90Ms: number } {
  const samples: number[] = [];
  for (let i = -3; i < RUNS; i++) {
    const start = Bun.nanoseconds();
    const run = Bun.spawnSync(command, { stdout: "ignore", stderr: "ignore" });
    const elapsedMs = (Bun.nanoseconds() - start) / 1e6;
    if (run.exitCode !== 0) throw new Error(`${command.join(" ")} exited ${run.exitCode}`);
    if (i >= 0) samples.push(elapsedMs);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) =>
    samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number;
  return { medianMs: at(0.5), p90Ms: at(0.9) };
}

mkdirSync(OUT, { recursive: true });
const empty = join(OUT, "empty");
build(join(ROOT, "bench/empty.ts"), empty);
const home = join(mkdtempSync(join(tmpdir(), "bucky-bench-")), "home");
try {
  const init = Bun.spawnSync([BUCKY, "init", "--home", home, "--json"], {
    stdout: "ignore",
    stderr: "inherit",
  });
  if (init.exitCode !== 0) throw new Error("bucky init failed");

  const rows = [
    { name: "anchor: empty compiled Bun binary", goalMs: undefined, ...time([empty]) },
    { name: "bucky --version", goalMs: 20, ...time([BUCKY, "--version"]) },
    {
      name: "bucky status --json",
      goalMs: 25,
      ...time([BUCKY, "status", "--json", "--home", home]),
    },
  ];
  console.log(`start-up, ${RUNS} runs each (wall time, ms)`);
  console.log(
    `${"command".padEnd(36)} ${"median".padStart(8)} ${"p90".padStart(8)} ${"goal".padStart(6)}`,
  );
  for (const row of rows) {
    const goal = row.goalMs === undefined ? "" : `< ${row.goalMs}`;
    console.log(
      `${row.name.padEnd(36)} ${row.medianMs.toFixed(1).padStart(8)} ${row.p90Ms.toFixed(1).padStart(8)} ${goal.padStart(6)}`,
    );
  }
} finally {
  rmSync(resolve(home, ".."), { recursive: true, force: true });
}
