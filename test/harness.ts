/**
 * Runs the compiled `dist/bucky` the way a user does, in throwaway homes. Every test
 * gets its own temporary directory, removed when the test file ends.
 */
import { afterAll } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const BUCKY = resolve(import.meta.dir, "../dist/bucky");

if (!existsSync(BUCKY)) {
  throw new Error(`${BUCKY} is missing: build it first with \`just build\` (or run \`npm test\`).`);
}

export interface RunResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly stdin?: string;
  readonly env?: Record<string, string>;
}

/** Runs `bucky args…` to completion. HOME and BUCKY_HOME point nowhere real by default. */
export async function bucky(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const child = Bun.spawn([BUCKY, ...args], {
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: fakeUserHome(), ...options.env },
  });
  const [stdout, stderr] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  await child.exited;
  return {
    exitCode: child.exitCode,
    signal: child.signalCode === null ? null : String(child.signalCode),
    stdout,
    stderr,
  };
}

/** Runs `bucky args… --json` and parses stdout; fails the test with stderr if it did not succeed. */
export async function buckyJson<T = Record<string, unknown>>(
  args: readonly string[],
  options: RunOptions = {},
): Promise<T> {
  const result = await bucky([...args, "--json"], options);
  if (result.exitCode !== 0) {
    throw new Error(`bucky ${args.join(" ")} exited ${result.exitCode}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}

/** Parses the one JSON error object a failed `--json` command writes to stderr. */
export function jsonError(result: RunResult): { code: string; message: string; hint?: string } {
  return (JSON.parse(result.stderr) as { error: { code: string; message: string; hint?: string } })
    .error;
}

const scratchRoots: string[] = [];
afterAll(() => {
  for (const dir of scratchRoots) rmSync(dir, { recursive: true, force: true });
});

/** A new empty directory for this test file, removed afterwards. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "bucky-test-"));
  scratchRoots.push(dir);
  return dir;
}

let userHome: string | undefined;
/** $HOME for spawned commands, so a test can never touch the real ~/.bucky. */
function fakeUserHome(): string {
  userHome ??= scratchDir();
  return userHome;
}

/** A path for a home that does not exist yet. */
export function newHomePath(): string {
  return join(scratchDir(), "home");
}
