/**
 * A command's own peak memory. The maxRSS the runtime reports for a child counts the pages
 * it shared with the test process when it was forked (hundreds of MiB late in a suite, so
 * every child "peaked" there); started by a small Python parent instead, a child's peak is
 * its own.
 */

const MEASURE = `
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(done.returncode)
`;

/** Runs `argv` (its stdout discarded); its exit code, its stderr, and its peak RSS in MiB. */
export async function runMeasured(
  argv: readonly string[],
  env: Record<string, string>,
): Promise<{ exitCode: number | null; stderr: string; peakMiB: number }> {
  const child = Bun.spawn(["python3", "-c", MEASURE, ...argv], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env,
  });
  const [stdout, stderr] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  await child.exited;
  // Linux gives ru_maxrss in KiB.
  return { exitCode: child.exitCode, stderr, peakMiB: Math.round(Number(stdout.trim()) / 1024) };
}
