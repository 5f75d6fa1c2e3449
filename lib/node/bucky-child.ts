/**
 * Running a `bucky` command as a child of the daemon, as the backup schedule does: long
 * work (a first backup to a new target) goes on in its own process, so it never slows
 * the node, and does exactly what the same command does at a terminal. Its `--json`
 * result is the answer; its error (one JSON object on stderr) is thrown as the same
 * BuckyError.
 */
import { BuckyError, isErrorCode } from "../errors.ts";

export async function runBuckyJson<T>(
  runtime: string,
  home: string,
  args: readonly string[],
): Promise<T> {
  // The global flags first: `args` may end in `--` and values that are not flags.
  const child = Bun.spawn([runtime, "--home", home, "--json", "--log-level", "error", ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (code === 0) return JSON.parse(stdout) as T;
  let error: { code?: string; message?: string; hint?: string } | undefined;
  try {
    error = JSON.parse(stderr.trim().split("\n").at(-1) ?? "") as typeof error;
  } catch {
    error = undefined;
  }
  // A result printed whole but failing all the same (a verify that found damage).
  if (!error?.message && stdout.trim().startsWith("{")) return JSON.parse(stdout) as T;
  const errorCode = isErrorCode(error?.code) ? error.code : "E_INTERNAL";
  throw new BuckyError(
    errorCode,
    error?.message ??
      `bucky ${args.slice(0, 3).join(" ")} failed (exit ${code}): ${stderr.trim().slice(0, 300)}`,
    error?.hint,
  );
}
