/**
 * `bucky daemon` for a benchmark: on a free loopback port, logging only errors, and
 * ready once its local API answers.
 */
import { join } from "node:path";

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
    { stdout: "ignore", stderr: "inherit", env: { ...process.env, ...env } },
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
