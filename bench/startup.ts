/**
 * Start-up time of `dist/bucky`: median wall time of `bucky --version` and of
 * `bucky status --json` on a fresh zone, with its node running (the usual case: status
 * asks it) and with none (status opens and checks the database itself), and with none on
 * a zone of two devices and three apps, each device's facts held (more documents, facts,
 * specs and reports to check and describe), beside the anchor measured in the same run, a
 * compiled Bun binary that does nothing. Goals: under 20 ms and under 25 ms. Beside the
 * wall time, the CPU time each run took, which others' work on the machine disturbs less.
 *
 * With `--bucky BINARY` (another build, e.g. main's copied aside), every row with no
 * node running is measured for both it and dist/bucky, taking turns run by run, so the machine's swings
 * fall on both alike. dist/bucky is run from a copy made beside it: the file as
 * `bun build` writes it was 2.4-3.5 ms slower to start than a copy of the same bytes
 * (docs/performance.md). The load average is printed with the figures.
 *
 *   just bench        (or: bun bench/startup.ts [runs] [--bucky BINARY])
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { benchBinary, buckyJson, localGet, startDaemon } from "./daemon.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUCKY = join(ROOT, "dist/bucky");
const OUT = join(ROOT, "bench/.out");
const { values: flags, positionals } = parseArgs({
  options: { bucky: { type: "string" } },
  allowPositionals: true,
});
const RUNS = Number(positionals[0] ?? 40);
/** Another build, measured beside this one (`--bucky`). */
const AGAINST = flags.bucky === undefined ? undefined : benchBinary(flags.bucky);

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

interface Timing {
  medianMs: number;
  p90Ms: number;
  cpuMs: number;
}

/**
 * Median and 90th percentile wall time of each of `commands`, and its median CPU time
 * (user and system), in milliseconds, after a warm-up. The commands take turns run by
 * run, and which goes first alternates.
 */
function timeTurns(commands: readonly string[][]): Timing[] {
  const wall: number[][] = commands.map(() => []);
  const cpu: number[][] = commands.map(() => []);
  for (let i = -3; i < RUNS; i++) {
    const order = commands.map((_, index) => index);
    if (i % 2 !== 0) order.reverse();
    for (const index of order) {
      const command = commands[index] as string[];
      const start = Bun.nanoseconds();
      const run = Bun.spawnSync(command, { stdout: "ignore", stderr: "ignore" });
      const elapsedMs = (Bun.nanoseconds() - start) / 1e6;
      if (run.exitCode !== 0) throw new Error(`${command.join(" ")} exited ${run.exitCode}`);
      if (i < 0) continue;
      wall[index]?.push(elapsedMs);
      const { user, system } = run.resourceUsage.cpuTime;
      cpu[index]?.push(Number(user + system) / 1000);
    }
  }
  const at = (samples: number[], q: number) =>
    samples.sort((a, b) => a - b)[
      Math.min(samples.length - 1, Math.floor(q * samples.length))
    ] as number;
  return commands.map((_, index) => ({
    medianMs: at(wall[index] as number[], 0.5),
    p90Ms: at(wall[index] as number[], 0.9),
    cpuMs: at(cpu[index] as number[], 0.5),
  }));
}

function time(command: string[]): Timing {
  return timeTurns([command])[0] as Timing;
}

/**
 * The rows for `args` run by `bucky`: one row, or, with --bucky, one for each binary,
 * measured taking turns.
 */
function rowsOf(name: string, bucky: string, args: string[]) {
  if (AGAINST === undefined) return [{ name, goalMs: 25, ...time([bucky, ...args]) }];
  const [ours, theirs] = timeTurns([
    [bucky, ...args],
    [AGAINST, ...args],
  ]) as [Timing, Timing];
  return [
    { name, goalMs: 25, ...ours },
    { name: "  the same, --bucky", goalMs: 25, ...theirs },
  ];
}

function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

/**
 * A zone of two devices, a and b, with three sample apps installed and each device's facts
 * held by a; both daemons stopped again. Returns a's home.
 */
async function populatedZone(scratch: string): Promise<string> {
  const a = join(scratch, "a");
  const b = join(scratch, "b");
  const bucky = <T>(args: string[]) => buckyJson<T>(BUCKY, args);
  const env = { BUCKY_CONVERGE_INTERVAL_MS: "1000" };
  const daemons = [];
  try {
    bucky(["init", "--home", a, "--device", "a"]);
    daemons.push(await startDaemon(BUCKY, a, env));
    const { token } = bucky<{ token: string }>(["invite", "--home", a]);
    bucky(["join", token, "--home", b, "--device", "b", "--no-start"]);
    daemons.push(await startDaemon(BUCKY, b, env));
    const apps = ["notes", "site", "whoami"];
    for (const app of apps)
      bucky(["app", "install", join(ROOT, "fixtures/apps", app), "--home", a]);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = await localGet<{ disk: { freeBytes: number | null }[] }>(
        a,
        "/v1/status?disk=1",
      );
      const running = await Promise.all(
        apps.map((app) => localGet<{ state: string }>(a, `/v1/apps/${app}`)),
      );
      const heard = status.disk.length === 2 && status.disk.every((d) => d.freeBytes !== null);
      if (heard && running.every((app) => app.state === "running")) break;
      if (Date.now() > deadline) throw new Error("the populated zone did not settle");
      await Bun.sleep(50);
    }
  } finally {
    for (const daemon of daemons) daemon.kill();
    await Promise.all(daemons.map((daemon) => daemon.exited));
  }
  return a;
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

  const loadAtStart = loadAverage();
  // Beside another binary, ours runs from a copy too, so both files start alike.
  const measured = AGAINST === undefined ? BUCKY : join(OUT, "bucky");
  if (AGAINST !== undefined) copyFileSync(BUCKY, measured);
  const status = [BUCKY, "status", "--json", "--home", home];
  const rows = [
    { name: "anchor: empty compiled Bun binary", goalMs: undefined, ...time([empty]) },
    { name: "bucky --version", goalMs: 20, ...time([BUCKY, "--version"]) },
    ...rowsOf("bucky status --json, no node running", measured, [
      "status",
      "--json",
      "--home",
      home,
    ]),
  ];
  daemon = await startDaemon(BUCKY, home);
  rows.push({ name: "bucky status --json, its node running", goalMs: 25, ...time(status) });
  const populated = await populatedZone(resolve(home, ".."));
  rows.push(
    ...rowsOf("status --json, no node, 2 devices, 3 apps", measured, [
      "status",
      "--json",
      "--home",
      populated,
    ]),
  );
  console.log(
    `start-up, ${RUNS} runs each (ms); load average ${loadAtStart} at the start, ${loadAverage()} at the end${AGAINST === undefined ? "" : `; --bucky ${AGAINST}`}`,
  );
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
