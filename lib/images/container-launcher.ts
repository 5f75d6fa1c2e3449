/**
 * How an image app starts: `podman run` of its verified image, as the app's own
 * unprivileged user (lib/apps/app-user.ts), with no capabilities and no way to gain any,
 * a network of its own with only its loopback in it (outbound through slirp4netns when its
 * manifest asks, never to the host's loopback), a read-only root when its manifest allows,
 * the memory and processors its manifest allows, its data directories bound from the
 * app's data directory (so replication and backups cover them) and its app API's socket at
 * /run/bucky/api/api.sock.
 *
 * Its HTTP port is reached as a sandboxed process app's is: a forwarder (`bucky
 * sandbox-init --forward`) that entered the container's network listens on a socket in
 * the app's sandbox directory, which the container cannot see, and passes each connection
 * to the port on the container's loopback. Nothing listens on the host's network for it.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import type { FileSink, Subprocess } from "bun";
import type { AppManifest, ImageRun } from "../../protocol/app-manifest.ts";
import { type AppUser, giveToApp } from "../apps/app-user.ts";
import { type AppDoor, socketDoor } from "../apps/door.ts";
import type { AppLauncher, Launched } from "../apps/runner.ts";
import { INSIDE } from "../apps/sandbox.ts";
import { SANDBOX_INIT_COMMAND } from "../apps/sandbox-init.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { type Engine, imageId, podman, removeContainer } from "./podman.ts";

/** How long a container may take from `podman run` to running. */
const START_TIMEOUT_MS = 60_000;
/** How long an app has to end after SIGTERM before it is killed. */
const STOP_GRACE_S = 5;
const POLL_MS = 25;
/** Open files and processes a container may have (the engine's defaults exceed some hosts' limits). */
const ULIMITS = ["nofile=4096:4096", "nproc=4096:4096"];
const ENV_FILE = "container.env";
/** Where the forwarder finds the container's network: the descriptor it is handed. */
const NETWORK_FD = 3;
const PID_FILE = "container.pid";

export interface ContainerPlan {
  readonly app: string;
  readonly manifest: AppManifest & { readonly run: ImageRun };
  /** The image to run: its config's digest. */
  readonly configDigest: string;
  readonly user: AppUser;
  readonly dataDir: string;
  readonly sandboxDir: string;
}

export interface ContainerLauncherOptions extends Omit<ContainerPlan, "configDigest"> {
  /** The image to run, known once the app is prepared (its image fetched and loaded). */
  readonly configDigest: () => string;
  readonly engine: Engine;
  /** bucky's own executable: it forwards the app's port. */
  readonly runtime: string;
  /** BUCKY_* variables for the app: its token and ids. */
  readonly env: Readonly<Record<string, string>>;
}

/** The container's name in this home's engine. */
export const containerName = (app: string) => `bucky-${app}`;

/** `podman run`'s arguments for the app (after the engine's own flags). */
export function runArgs(plan: ContainerPlan): string[] {
  const { manifest, app } = plan;
  const { run, limits } = manifest;
  const mounts = manifest.data.map(
    (name) =>
      `type=bind,source=${join(plan.dataDir, name)},destination=${run.volumes[name] as string}`,
  );
  return [
    "run",
    "--rm",
    "--name",
    containerName(app),
    "--pull",
    "never",
    "--pidfile",
    join(plan.sandboxDir, PID_FILE),
    "--hostname",
    app,
    "--network",
    manifest.network === "outbound" ? "slirp4netns:allow_host_loopback=false" : "none",
    // Output goes to the runner's log file, not to the engine's log as well.
    "--log-driver",
    "none",
    "--user",
    `${plan.user.uid}:${plan.user.gid}`,
    "--cap-drop",
    "all",
    "--security-opt",
    "no-new-privileges",
    // Its network is its own: it may listen on any port of it as an ordinary user.
    "--sysctl",
    "net.ipv4.ip_unprivileged_port_start=0",
    ...ULIMITS.flatMap((limit) => ["--ulimit", limit]),
    ...(run.readOnly ? ["--read-only"] : []),
    ...(limits.memoryBytes
      ? ["--memory", String(limits.memoryBytes), "--memory-swap", String(limits.memoryBytes)]
      : []),
    ...(limits.cpus ? ["--cpus", String(limits.cpus)] : []),
    "--env-file",
    join(plan.sandboxDir, ENV_FILE),
    ...mounts.flatMap((mount) => ["--mount", mount]),
    "--mount",
    `type=bind,source=${join(plan.sandboxDir, "api")},destination=${INSIDE.apiDir},ro=true`,
    imageId(plan.configDigest),
    ...(run.command ?? []),
  ];
}

export function containerLauncher(options: ContainerLauncherOptions): AppLauncher {
  const { app, manifest, engine, dataDir, sandboxDir, user } = options;
  const name = containerName(app);
  const pidFile = join(sandboxDir, PID_FILE);
  const socket = join(sandboxDir, "http", "http.sock");
  return {
    sandboxed: true,
    program: "its container",
    ends: "the container",
    prepare() {
      for (const path of [dataDir, sandboxDir])
        if (/[,]/.test(path))
          throw new Error(`its directory ${path} has a comma, which Podman cannot mount`);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      for (const dir of manifest.data) mkdirSync(join(dataDir, dir), { recursive: true });
      giveToApp(dataDir, user);
      chmodSync(dataDir, 0o700);
      mkdirSync(join(sandboxDir, "api"), { recursive: true, mode: 0o755 });
      chmodSync(sandboxDir, 0o755);
      // Only bucky reaches the forwarder's socket: the container never sees this directory.
      rmSync(join(sandboxDir, "http"), { recursive: true, force: true });
      mkdirSync(join(sandboxDir, "http"), { mode: 0o700 });
      const env = {
        ...manifest.run.env,
        ...options.env,
        BUCKY_API_SOCKET: INSIDE.apiSocket,
      };
      writeFileAtomic(
        join(sandboxDir, ENV_FILE),
        Object.entries(env)
          .map(([key, value]) => `${key}=${value}\n`)
          .join(""),
        0o600,
      );
    },
    async spawn(output, exited): Promise<Launched> {
      // A container of an earlier run (a daemon that died) goes first.
      await removeContainer(engine, name);
      rmSync(pidFile, { force: true });
      const args = runArgs({ ...options, configDigest: options.configDigest() });
      const child = Bun.spawn([engine.podman, ...engine.flags, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: engine.path, BUCKY_APP: app },
        onExit: exited,
      });
      output.take(child.stdout);
      output.take(child.stderr);
      let forwarder: Subprocess | undefined;
      let door: AppDoor | undefined;
      const alive = () => child.exitCode === null && child.signalCode === null;
      return {
        child,
        door: () => door,
        fields: { engine: "podman", image: manifest.run.image },
        async ready() {
          const pid = await until("the container to start", alive, () => containerPid(pidFile));
          // The engine has its environment now: the token is not left lying in a file.
          rmSync(join(sandboxDir, ENV_FILE), { force: true });
          if (manifest.run.port === undefined) return;
          // The container's network, held open from here on: whatever happens to its pid,
          // the forwarder enters this network, and never the host's.
          const network = openSync(`/proc/${pid}/ns/net`, "r");
          try {
            if (sameFile(network, "/proc/self/ns/net"))
              throw new Error("the container has the host's network, not one of its own");
            forwarder = Bun.spawn(
              [
                engine.nsenter,
                `--net=/proc/self/fd/${NETWORK_FD}`,
                "--",
                options.runtime,
                SANDBOX_INIT_COMMAND,
                "--forward",
                socket,
                String(manifest.run.port),
              ],
              // Its stdin is the daemon's: when the daemon goes, so does it.
              { stdio: ["pipe", "pipe", "pipe", network], env: { PATH: engine.path } },
            );
          } finally {
            closeSync(network);
          }
          output.take(forwarder.stdout);
          output.take(forwarder.stderr);
          const running = forwarder;
          // A forwarder that dies leaves the app unreachable: the container goes too, and
          // the runner starts both again.
          void running.exited.then(() => {
            if (forwarder === running && alive()) void removeContainer(engine, name);
          });
          await until(
            "the forwarder to its port to listen",
            () => running.exitCode === null && alive(),
            () => (existsSync(socket) ? true : undefined),
          );
          door = socketDoor(app, socket);
        },
        async end() {
          if (alive()) {
            await podman(
              engine,
              ["stop", "--time", String(STOP_GRACE_S), name],
              (STOP_GRACE_S + 20) * 1000,
            );
            const ended = await Promise.race([
              child.exited.then(() => true),
              Bun.sleep(5_000).then(() => false),
            ]);
            if (!ended) {
              await removeContainer(engine, name);
              child.kill("SIGKILL");
              await child.exited;
            }
          }
        },
        release() {
          door?.close();
          door = undefined;
          if (forwarder) {
            try {
              (forwarder.stdin as FileSink).end();
            } catch {
              // Its end of the pipe is gone with it.
            }
            forwarder.kill("SIGTERM");
            forwarder = undefined;
          }
        },
      };
    },
  };
}

/** Whether descriptor `fd` is the very file `path` names (the same namespace, for /proc/…/ns). */
function sameFile(fd: number, path: string): boolean {
  const a = fstatSync(fd);
  const b = statSync(path);
  return a.dev === b.dev && a.ino === b.ino;
}

/** The container's first process on the host, once the engine wrote it down. */
function containerPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`) ? pid : undefined;
}

/** Polls `check` while `going` holds, for at most START_TIMEOUT_MS. */
async function until<T>(
  what: string,
  going: () => boolean,
  check: () => T | undefined,
): Promise<T> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (!going()) throw new Error(`it ended while waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(POLL_MS);
  }
}
