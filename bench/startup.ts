/**
 * Start-up time of `dist/bucky`: median wall time of `bucky --version` and of
 * `bucky status --json` on a fresh zone, with its node running (the usual case: status
 * asks it) and with none (status opens and checks the database itself), and with none on
 * a zone of two devices and three apps, each device's facts held (more documents, facts,
 * specs and reports to check and describe), beside the anchor measured in the same run, a
 * compiled Bun binary that does nothing. Goals: under 20 ms and under 25 ms. Beside the
 * wall time, the CPU time each run took, which others' work on the machine disturbs less.
 *
 *   just bench        (or: bun bench/startup.ts [runs])
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buckyJson, localGet, startDaemon } from "./daemon.ts";

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

  const status = [BUCKY, "status", "--json", "--home", home];
  const rows = [
    { name: "anchor: empty compiled Bun binary", goalMs: undefined, ...time([empty]) },
    { name: "bucky --version", goalMs: 20, ...time([BUCKY, "--version"]) },
    { name: "bucky status --json, no node running", goalMs: 25, ...time(status) },
  ];
  daemon = await startDaemon(BUCKY, home);
  rows.push({ name: "bucky status --json, its node running", goalMs: 25, ...time(status) });
  const populated = await populatedZone(resolve(home, ".."));
  rows.push({
    name: "status --json, no node, 2 devices, 3 apps",
    goalMs: 25,
    ...time([BUCKY, "status", "--json", "--home", populated]),
  });
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
