/**
 * `bucky daemon` for a benchmark: on a free loopback port, logging only errors, and
 * ready once its local API answers. And the one way a benchmark is told of another build
 * of bucky: `--bucky BINARY` (benchBinary).
 */
import { join, resolve } from "node:path";
import { DAEMON_ENV } from "../lib/node/daemon-env.ts";

/**
 * The bucky a benchmark runs: `--bucky BINARY` when given (another build, such as main's
 * copied aside, for an A/B), else this checkout's dist/bucky. Every bench that can run
 * another build takes this flag, and only this one.
 */
export function benchBinary(flag: string | undefined): string {
  return resolve(flag ?? join(import.meta.dir, "../dist/bucky"));
}

export async function startDaemon(
  binary: string,
  home: string,
  env: Record<string, string> = {},
): Promise<ReturnType<typeof Bun.spawn>> {
  const child = Bun.spawn(
    [
      binary,
      "daemon",
      "--home",
      home,
      "--port",
      "0",
      "--listen",
      "127.0.0.1",
      "--log-level",
      "error",
    ],
    // As `bucky up` starts it (lib/node/daemon-env.ts).
    { stdout: "ignore", stderr: "inherit", env: { ...process.env, ...DAEMON_ENV, ...env } },
  );
  const answers = () =>
    fetch("http://localhost/v1/status", { unix: join(home, "daemon.sock") }).then(
      (response) => response.ok,
      () => false,
    );
  const deadline = Date.now() + 30_000;
  while (!(await answers())) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`the daemon for ${home} did not start`);
    }
    await Bun.sleep(10);
  }
  return child;
}

/** Runs `bucky args… --json` to completion and returns its result; throws with its stderr. */
export function buckyJson<T>(binary: string, args: readonly string[]): T {
  const run = Bun.spawnSync([binary, ...args, "--json"], { stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`bucky ${args.join(" ")}: ${run.stderr}`);
  return JSON.parse(run.stdout.toString()) as T;
}

/** GETs `path` from a home's daemon over its local API socket. */
export async function localGet<T>(home: string, path: string): Promise<T> {
  const response = await fetch(`http://localhost${path}`, { unix: join(home, "daemon.sock") });
  return (await response.json()) as T;
}
