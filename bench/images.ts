/**
 * Image app figures, each beside an anchor measured in the same run, with an image built
 * here (busybox-static's httpd and 32 MiB of incompressible data, one layer) in Debian's
 * docker-registry on loopback:
 *
 * 1. Install to answering: `bucky app install --image` on one device, pinned there, until
 *    the app answers through its door (pull, verify, store as named data, load into
 *    Podman, run); beside plain Podman pulling the same image from the same registry into
 *    a fresh storage and running it until it answers. Goal: under 2× Podman.
 * 2. A second device starting it from its peers: `bucky app move` to another device
 *    (stop, last snapshot, fetch the image from the first device, verify, load, run) until
 *    it answers there; beside the same plain Podman pull and run. Goal: under 2× Podman.
 *
 *   just bench        (or: bun bench/images.ts)
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { engineFlags, engineRunDir } from "../lib/images/podman.ts";
import { ImageWorkshop, Registry } from "../test/images.ts";
import { startDaemon as startBenchDaemon } from "./daemon.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUCKY = join(ROOT, "dist/bucky");
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-images-"));
const children: ReturnType<typeof Bun.spawn>[] = [];
const homes: string[] = [];

function bucky<T>(args: string[]): T {
  const run = Bun.spawnSync([BUCKY, ...args, "--json"], { stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`bucky ${args.join(" ")}: ${run.stderr}`);
  return JSON.parse(run.stdout.toString()) as T;
}

async function local<T>(home: string, path: string): Promise<T> {
  const response = await fetch(`http://localhost${path}`, { unix: join(home, "daemon.sock") });
  return (await response.json()) as T;
}

async function until(ready: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(5);
  }
}

function row(name: string, ours: string, anchor: string, goal: string) {
  console.log(`${name.padEnd(40)} ${ours.padStart(10)} ${anchor.padStart(12)}   ${goal}`);
}

/**
 * Whether the app answers on `device` (through its door, as the gateway reaches it): as
 * soon as it does, not once its status says running (a second later, without a health check).
 */
async function answersOn(home: string, device: string): Promise<boolean> {
  const status = await local<{ state: string; device: string | null; url: string | null }>(
    home,
    "/v1/apps/bench",
  );
  if (status.device !== device || !status.url) return false;
  return fetch("http://app/", {
    unix: status.url.slice("unix:".length),
    signal: AbortSignal.timeout(1000),
  } as RequestInit).then(
    (response) => response.ok,
    () => false,
  );
}

/** Plain Podman, a fresh storage: pull from the registry, run, until it answers. */
async function podmanAlone(registry: Registry, n: number): Promise<number> {
  const storage = join(scratch, `plain-${n}`);
  const flags = engineFlags(storage);
  const port = 40_000 + Math.floor(Math.random() * 10_000);
  const start = performance.now();
  const pulled = spawnSync("podman", [
    ...flags,
    "pull",
    "--quiet",
    "--tls-verify=false",
    `${registry.host}/bench:1`,
  ]);
  if (pulled.status !== 0) throw new Error(`podman pull: ${pulled.stderr}`);
  const run = Bun.spawn(
    [
      "podman",
      ...flags,
      "run",
      "--rm",
      "--network",
      "host",
      "--ulimit",
      "nofile=4096:4096",
      "--ulimit",
      "nproc=4096:4096",
      `${registry.host}/bench:1`,
      "httpd",
      "-f",
      "-p",
      `127.0.0.1:${port}`,
      "-h",
      "/www",
    ],
    { stdout: "ignore", stderr: "ignore" },
  );
  children.push(run);
  await until(() =>
    fetch(`http://127.0.0.1:${port}/`).then(
      (response) => response.ok,
      () => false,
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  spawnSync("podman", [...flags, "rm", "--force", "--time", "0", "--all"]);
  spawnSync("podman", [...flags, "system", "reset", "--force"]);
  rmSync(engineRunDir(storage), { recursive: true, force: true });
  return seconds;
}

async function twoDevices(): Promise<[string, string]> {
  const a = join(scratch, "a");
  const b = join(scratch, "b");
  homes.push(a, b);
  bucky(["init", "--home", a, "--device", "a"]);
  children.push(await startBenchDaemon(BUCKY, a, { BUCKY_CONVERGE_INTERVAL_MS: "500" }));
  const { token } = bucky<{ token: string }>(["invite", "--home", a]);
  bucky(["join", token, "--home", b, "--device", "b", "--no-start"]);
  children.push(await startBenchDaemon(BUCKY, b, { BUCKY_CONVERGE_INTERVAL_MS: "500" }));
  await until(async () => {
    const { images } = await local<{ images: { engine: string | null }[] }>(a, "/v1/status");
    return images.filter((d) => d.engine).length === 2;
  });
  return [a, b];
}

console.log("image apps (this machine, one run)");
console.log(`${"".padEnd(40)} ${"bucky".padStart(10)} ${"podman".padStart(12)}`);
const workshop = new ImageWorkshop(join(scratch, "workshop"));
const registry = new Registry(join(scratch, "registry"));
try {
  workshop.build(
    "bench:1",
    { "www/index.html": "bench\n", "srv/noise.bin": randomBytes(32 * 1024 * 1024) },
    ["/bin/sh", "-c", 'trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait'],
  );
  await registry.start();
  workshop.push("bench:1", registry);
  const [a] = await twoDevices();

  const installStart = performance.now();
  bucky([
    "app",
    "install",
    "--image",
    `${registry.host}/bench:1`,
    "--port",
    "8080",
    "--id",
    "bench",
    "--device",
    "a",
    "--home",
    a,
    "--no-wait",
  ]);
  await until(() => answersOn(a, "a"));
  const installS = (performance.now() - installStart) / 1000;
  const plainS = await podmanAlone(registry, 1);
  row(
    "install an image app, until it answers",
    `${installS.toFixed(2)} s`,
    `${plainS.toFixed(2)} s`,
    `goal < 2× podman pull + run (${(installS / plainS).toFixed(2)}×)`,
  );

  await registry.stop();
  const moveStart = performance.now();
  bucky(["app", "move", "bench", "--to", "b", "--no-wait", "--home", a]);
  await until(() => answersOn(a, "b"));
  const moveS = (performance.now() - moveStart) / 1000;
  await registry.start();
  const plainAgainS = await podmanAlone(registry, 2);
  row(
    "another device starts it from its peers",
    `${moveS.toFixed(2)} s`,
    `${plainAgainS.toFixed(2)} s`,
    `goal < 2× podman pull + run (${(moveS / plainAgainS).toFixed(2)}×)`,
  );
} finally {
  for (const child of children) child.kill();
  await Promise.all(children.map((child) => child.exited));
  for (const home of homes) {
    spawnSync("podman", [
      ...engineFlags(join(home, "containers")),
      "rm",
      "--force",
      "--time",
      "0",
      "--all",
    ]);
    spawnSync("podman", [...engineFlags(join(home, "containers")), "system", "reset", "--force"]);
    rmSync(engineRunDir(join(home, "containers")), { recursive: true, force: true });
  }
  await registry.stop();
  workshop.destroy();
  for (const line of spawnSync("sh", [
    "-c",
    `grep -o '${scratch}[^ ]*' /proc/self/mounts | sort -r`,
  ])
    .stdout.toString()
    .split("\n"))
    if (line) spawnSync("umount", ["-l", line]);
  rmSync(scratch, { recursive: true, force: true });
}
