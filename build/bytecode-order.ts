/**
 * The build's second pass (Justfile, `just build`): runs the binary just built the ways it
 * most often starts, each with BUN_BYTECODE_ORDER_OUT, so that Bun records which of the
 * embedded bytecode's functions each run used; `bun build --bytecode-order` then lays those
 * functions out together at the front of the bytecode. A process reads, and keeps resident,
 * only the pages holding what it runs: an idle daemon held the bytecode of every module it
 * loaded, most of it functions it never calls. Only the layout changes, never what runs:
 * a function no recording used is still there, after the others.
 *
 * Recorded on a fresh zone in a temporary home, on loopback and port 0, with nothing of
 * the caller's environment but PATH: the daemon's start and its first seconds idle (the
 * most common and the longest-lived process, so first), `bucky status --json` asking that
 * daemon, and the same with no node running.
 *
 *   bun build/bytecode-order.ts <binary> <directory>
 *
 * Prints the order files, most important first, comma-separated, for `--bytecode-order`.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const [binaryArg, outArg] = process.argv.slice(2);
if (!binaryArg || !outArg) throw new Error("usage: bun build/bytecode-order.ts <binary> <dir>");
const binary = resolve(binaryArg);
const out = resolve(outArg);
/** How long the daemon runs idle once it answers: its periodic jobs' first rounds. */
const IDLE_MS = 3_000;
const START_TIMEOUT_MS = 60_000;

mkdirSync(out, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), "bucky-bytecode-order-"));
const home = join(scratch, "home");
const daemonLog = join(scratch, "daemon.log");
const env = (order?: string) => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: scratch,
  ...(order ? { BUN_BYTECODE_ORDER_OUT: join(out, order) } : {}),
});

/** Runs `bucky args…` to completion, recording into `order` if named; throws with its stderr. */
function run(args: string[], order?: string): void {
  const done = Bun.spawnSync([binary, ...args, "--home", home, "--json"], {
    env: env(order),
    stdout: "ignore",
    stderr: "pipe",
  });
  if (done.exitCode !== 0) throw new Error(`bucky ${args.join(" ")}: ${done.stderr}`);
}

const daemonAnswers = () =>
  fetch("http://localhost/v1/status", { unix: join(home, "daemon.sock") }).then(
    (response) => response.ok,
    () => false,
  );

let daemon: ReturnType<typeof Bun.spawn> | undefined;
try {
  run(["init"]);
  daemon = Bun.spawn([binary, "daemon", "--home", home, "--port", "0", "--listen", "127.0.0.1"], {
    env: env("daemon.order"),
    stdout: "ignore",
    stderr: Bun.file(daemonLog),
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await daemonAnswers())) {
    if (daemon.exitCode !== null || Date.now() > deadline)
      throw new Error(`the daemon did not start: ${await Bun.file(daemonLog).text()}`);
    await Bun.sleep(20);
  }
  await Bun.sleep(IDLE_MS);
  run(["status"], "status.order");
  // The order file is written as the process exits, and bucky exits cleanly on SIGTERM.
  daemon.kill("SIGTERM");
  if ((await daemon.exited) !== 0) throw new Error("the daemon did not stop cleanly");
  daemon = undefined;
  run(["status"], "status-alone.order");
  const orders = ["daemon.order", "status.order", "status-alone.order"].map((order) =>
    join(out, order),
  );
  for (const order of orders)
    if (!(await Bun.file(order).exists())) throw new Error(`no order file written: ${order}`);
  console.log(orders.join(","));
} finally {
  daemon?.kill("SIGKILL");
  await daemon?.exited;
  rmSync(scratch, { recursive: true, force: true });
}
