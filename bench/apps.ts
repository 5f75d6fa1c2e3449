/**
 * App and named-data figures, each beside an anchor measured in the same run:
 *
 * 1. Install to answering: `bucky app install` of a sample app on one device, pinned to a
 *    second, until it answers HTTP there; beside starting the same app's process by hand
 *    until it answers (the part no installer can avoid). Goal: under 2 s.
 * 2. `bucky get` of a 1 GiB file from another device (TLS, every chunk verified, written
 *    to disk) beside curl fetching the same bytes from a plain static file server into a
 *    file. Goal: at least 0.8 of curl's throughput.
 *
 * A second anchor row beside it: curl's file then made durable (`sync FILE`, an fsync),
 * as `bucky get`'s is before it says it is done; the goal stays against curl alone.
 *
 * The get row also gives the CPU time per MiB of the `bucky get` process (client) and of
 * the daemon serving the bytes (server), from their own counters.
 *
 *   just bench        (or: bun bench/apps.ts [--only get] [--bucky BINARY])
 *
 * `--only get` runs the get row alone. `--bucky BINARY` runs another build of bucky (main's
 * copied aside, say) in place of dist/bucky: run once with each, for an A/B.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { benchBinary, buckyJson, cpuMsOf, localGet, startTwoDevices, until } from "./daemon.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values: flags } = parseArgs({
  options: { only: { type: "string" }, bucky: { type: "string" } },
});
const BUCKY = benchBinary(flags.bucky);
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-apps-"));
const children: ReturnType<typeof Bun.spawn>[] = [];

function bucky<T>(args: string[]): T {
  return buckyJson<T>(BUCKY, args);
}

const local = localGet;

async function answers(url: string): Promise<boolean> {
  // A sandboxed app answers on its Unix socket ("unix:<path>"); the gateway serves HTTPS by
  // default, a local name with the zone CA's certificate, which the bench trusts.
  const [target, via] = url.startsWith("unix:")
    ? ["http://localhost/", { unix: url.slice("unix:".length) }]
    : [url, { tls: { rejectUnauthorized: false } }];
  return fetch(target, { signal: AbortSignal.timeout(1000), ...via }).then(
    (response) => response.ok,
    () => false,
  );
}

function row(name: string, ours: string, anchor: string, goal: string) {
  console.log(`${name.padEnd(34)} ${ours.padStart(14)} ${anchor.padStart(16)}   ${goal}`);
}

async function installToAnswer(a: string, app: string) {
  const start = performance.now();
  bucky(["app", "install", join(ROOT, "fixtures/apps", app), "--device", "b", "--home", a]);
  let url = "";
  await until(`${app} answering`, async () => {
    const status = await local<{ state: string; url: string | null }>(a, `/v1/apps/${app}`);
    url = status.url ?? "";
    return status.state === "running" && (await answers(url));
  });
  const oursS = (performance.now() - start) / 1000;

  // Anchor: the same program started by hand until it answers.
  const port = 40_000 + Math.floor(Math.random() * 10_000);
  const dataDir = mkdtempSync(join(scratch, "data-"));
  Bun.spawnSync(["mkdir", "-p", join(dataDir, "db")]);
  const anchorStart = performance.now();
  const direct = Bun.spawn([BUCKY, app === "notes" ? "server.ts" : "serve.ts"], {
    cwd: join(ROOT, "fixtures/apps", app),
    env: { ...process.env, BUN_BE_BUN: "1", PORT: String(port), BUCKY_DATA_DIR: dataDir },
    stdout: "ignore",
    stderr: "ignore",
  });
  children.push(direct);
  await until(`${app} started by hand answering`, () => answers(`http://127.0.0.1:${port}/`));
  const anchorS = (performance.now() - anchorStart) / 1000;
  row(
    `install ${app}, until it answers`,
    `${oursS.toFixed(2)} s`,
    `${anchorS.toFixed(2)} s`,
    "goal < 2 s (anchor: the process alone)",
  );
}

async function getThroughput(
  [a, b]: readonly [string, string],
  server: number,
  sizeBytes: number,
  runs: number,
) {
  const file = join(scratch, "big.bin");
  Bun.spawnSync(
    ["dd", "if=/dev/urandom", `of=${file}`, "bs=1M", `count=${sizeBytes / 1024 / 1024}`],
    { stderr: "ignore" },
  );
  const { id } = bucky<{ id: string }>(["put", file, "--home", a]);
  // The static server lives in this process, so curl must not block it: spawn, not spawnSync.
  const statics = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response(Bun.file(file)),
  });
  const curlTimes: number[] = [];
  const curlSyncTimes: number[] = [];
  const getTimes: number[] = [];
  const clientCpuMs: number[] = [];
  const serverCpuMs: number[] = [];
  // Alternate the two, each from a flushed page cache of writes, and compare medians.
  for (let run = 0; run < runs; run++) {
    for (const target of ["curl.bin", "got.bin"]) rmSync(join(scratch, target), { force: true });
    Bun.spawnSync(["sync"]);
    let start = performance.now();
    const curl = Bun.spawn([
      "curl",
      "-s",
      "-o",
      join(scratch, "curl.bin"),
      `http://127.0.0.1:${statics.port}/`,
    ]);
    if ((await curl.exited) !== 0) throw new Error("curl failed");
    curlTimes.push((performance.now() - start) / 1000);
    // A second anchor: curl's file made durable too (fsync, as `bucky get` does before it
    // says it is done), timed on from curl's end.
    Bun.spawnSync(["sync", join(scratch, "curl.bin")]);
    curlSyncTimes.push((performance.now() - start) / 1000);
    Bun.spawnSync(["sync"]);
    const serverBefore = cpuMsOf(server);
    start = performance.now();
    const get = Bun.spawnSync(
      [BUCKY, "get", id, "-o", join(scratch, "got.bin"), "--home", b, "--json"],
      { stderr: "pipe" },
    );
    getTimes.push((performance.now() - start) / 1000);
    if (get.exitCode !== 0) throw new Error(`bucky get: ${get.stderr}`);
    clientCpuMs.push(Number(get.resourceUsage.cpuTime.total) / 1000);
    serverCpuMs.push(cpuMsOf(server) - serverBefore);
  }
  statics.stop(true);
  const median = (list: number[]) =>
    [...list].sort((x, y) => x - y)[Math.floor(list.length / 2)] as number;
  const mib = sizeBytes / 1024 / 1024;
  const [getS, curlS] = [median(getTimes), median(curlTimes)];
  row(
    `get ${mib} MiB from another device`,
    `${(mib / getS).toFixed(0)} MiB/s`,
    `${(mib / curlS).toFixed(0)} MiB/s`,
    `goal ≥ 0.8 of curl (got ${(curlS / getS).toFixed(2)}; medians of ${runs})`,
  );
  const curlSyncS = median(curlSyncTimes);
  row(
    "  the same, curl's file then synced",
    "",
    `${(mib / curlSyncS).toFixed(0)} MiB/s`,
    `(got ${(curlSyncS / getS).toFixed(2)} of curl + sync)`,
  );
  const perMib = (list: number[]) => (median(list) / mib).toFixed(2);
  row(
    "  CPU ms per MiB: client, server",
    `${perMib(clientCpuMs)}`,
    `${perMib(serverCpuMs)}`,
    "(the get process; the daemon sending)",
  );
}

console.log("apps and named data (this machine, one run)");
console.log(`${"".padEnd(34)} ${"bucky".padStart(14)} ${"anchor".padStart(16)}`);
try {
  const { homes, daemons } = await startTwoDevices(BUCKY, scratch, children, {
    env: { BUCKY_CONVERGE_INTERVAL_MS: "1000" },
  });
  if (flags.only !== "get") {
    await installToAnswer(homes[0], "site");
    await installToAnswer(homes[0], "notes");
  }
  await getThroughput(homes, daemons[0].pid, 1024 * 1024 * 1024, 3);
} finally {
  for (const child of children) child.kill();
  await Promise.all(children.map((child) => child.exited));
  rmSync(scratch, { recursive: true, force: true });
}
