/**
 * How an app run from a command starts: its process inside its sandbox
 * (lib/apps/sandbox.ts), unless the owner allowed it to run without one where there is
 * none, with outbound network if it asks, reached through the door its forwarder opens
 * (or, unsandboxed, a port of the host's loopback).
 */
import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { FileSink, Subprocess } from "bun";
import type { AppManifest, ProcessRun } from "../../protocol/app-manifest.ts";
import { type AppUser, giveToApp } from "./app-user.ts";
import { type AppDoor, portDoor, socketDoor } from "./door.ts";
import { connectOutbound, type Outbound } from "./outbound.ts";
import type { AppLauncher, Launched } from "./runner.ts";
import {
  INSIDE,
  INSIDE_HTTP_PORT,
  type SystemLayout,
  sandboxCommand,
  type UsableSandbox,
} from "./sandbox.ts";
import { prepareSandboxDir, SECCOMP_FILE } from "./sandbox-dir.ts";
import { SANDBOX_INIT_COMMAND } from "./sandbox-init.ts";

const STOP_GRACE_MS = 5000;

export interface AppPaths {
  /** The unpacked package: the app's working directory, read-only to it. */
  readonly packageDir: string;
  /** Where the app keeps its data: the only place it may write. */
  readonly dataDir: string;
  /** Its sandbox directory: api/ (its app API's socket), http/, etc/ (lib/apps/sandbox-dir.ts). */
  readonly sandboxDir: string;
}

/** The sandbox an app runs in: this device's, and the system's layout to show it. */
export interface AppSandbox {
  readonly support: UsableSandbox;
  readonly layout: SystemLayout;
  /** Its own user, when bucky runs as root. */
  readonly user: AppUser | undefined;
  /** The filter that keeps it from making user namespaces, when bucky runs as root. */
  readonly seccomp: Uint8Array | undefined;
}

export interface ProcessLauncherOptions {
  readonly app: string;
  readonly manifest: AppManifest & { readonly run: ProcessRun };
  readonly paths: AppPaths;
  /** The sandbox, or undefined for an app the owner allowed to run without one. */
  readonly sandbox: AppSandbox | undefined;
  /** What runs an app whose command starts with `bun`: bucky's own runtime. */
  readonly runtime: string;
  /** BUCKY_* variables for the app (its token, ids) and PATH. */
  readonly env: Readonly<Record<string, string>>;
}

export function processLauncher(options: ProcessLauncherOptions): AppLauncher {
  const { app, manifest, paths, sandbox } = options;
  const outbound = manifest.network === "outbound";
  return {
    sandboxed: sandbox !== undefined,
    program: manifest.run.command[0] as string,
    ends: "the process",
    prepare() {
      mkdirSync(paths.dataDir, { recursive: true, mode: 0o700 });
      for (const dir of manifest.data) mkdirSync(join(paths.dataDir, dir), { recursive: true });
      if (sandbox?.user) {
        giveToApp(paths.dataDir, sandbox.user);
        chmodSync(paths.dataDir, 0o700);
      }
      if (sandbox)
        prepareSandboxDir(paths.sandboxDir, app, sandbox.user, outbound, sandbox.seccomp);
    },
    async spawn(output, exited): Promise<Launched> {
      const port = manifest.http ? (sandbox ? INSIDE_HTTP_PORT : await freePort()) : undefined;
      const env: Record<string, string> = {
        PATH: options.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
        HOME: sandbox ? INSIDE.data : paths.dataDir,
        LANG: "C.UTF-8",
        ...manifest.run.env,
        ...options.env,
        BUCKY_DATA_DIR: sandbox ? INSIDE.data : paths.dataDir,
        BUCKY_API_SOCKET: sandbox ? INSIDE.apiSocket : join(paths.sandboxDir, "api", "api.sock"),
        ...(port !== undefined && manifest.http ? { [manifest.http.portEnv]: String(port) } : {}),
      };
      // bucky is a compiled Bun: with BUN_BE_BUN set, its binary runs scripts as `bun` would.
      // In the sandbox the init sets it for the app alone (the init itself is bucky).
      if (manifest.run.command[0] === "bun" && !sandbox) env.BUN_BE_BUN = "1";
      const seccomp = sandbox?.seccomp
        ? openSync(join(paths.sandboxDir, SECCOMP_FILE), "r")
        : undefined;
      let child: Subprocess;
      try {
        child = Bun.spawn(command(options, port, outbound), {
          cwd: paths.packageDir,
          env,
          // stdin: the go-ahead once its network is up; stdout and stderr: to its log
          // (lib/apps/app-output.ts); 3: where bubblewrap says the sandbox is (INFO_FD); 4:
          // the seccomp filter (SECCOMP_FD).
          stdio: [
            outbound ? "pipe" : "ignore",
            "pipe",
            "pipe",
            outbound ? "pipe" : "ignore",
            ...(seccomp === undefined ? [] : [seccomp]),
          ],
          onExit: exited,
        });
      } finally {
        if (seccomp !== undefined) closeSync(seccomp);
      }
      output.take(child.stdout);
      output.take(child.stderr);
      let network: Outbound | undefined;
      const door: AppDoor | undefined =
        port === undefined
          ? undefined
          : sandbox
            ? socketDoor(app, join(paths.sandboxDir, "http", "http.sock"))
            : portDoor(port);
      return {
        child,
        door: () => door,
        fields: { network: outbound ? "outbound" : undefined },
        async ready() {
          if (!outbound || !sandbox) return;
          try {
            const pid = sandboxPid(await Bun.file(child.stdio[3] as number).text());
            network = await connectOutbound(
              {
                slirp4netns: sandbox.support.slirp4netns as string,
                unshare: sandbox.support.unshare,
              },
              pid,
              sandbox.support.asRoot,
            );
            const stdin = child.stdin as FileSink;
            stdin.write("go\n");
            await stdin.flush();
          } catch (error) {
            child.kill("SIGKILL");
            throw new Error(`cannot give it outbound network: ${(error as Error).message}`);
          }
        },
        async end() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill("SIGTERM");
          const ended = await Promise.race([
            child.exited.then(() => true),
            Bun.sleep(STOP_GRACE_MS).then(() => false),
          ]);
          if (!ended) {
            child.kill("SIGKILL");
            await child.exited;
          }
        },
        release() {
          door?.close();
          network?.stop();
          network = undefined;
        },
      };
    },
  };
}

/** What runs: the app's command, or, in the sandbox, bucky's init and the command after it. */
function command(
  options: ProcessLauncherOptions,
  port: number | undefined,
  outbound: boolean,
): string[] {
  const { manifest, paths, runtime, sandbox, app } = options;
  const [program, ...args] = manifest.run.command as [string, ...string[]];
  const packageDir = sandbox ? INSIDE.package : paths.packageDir;
  const resolved =
    program === "bun" ? runtime : program.startsWith("./") ? join(packageDir, program) : program;
  if (!sandbox) return [resolved, ...args];
  return sandboxCommand({
    app,
    support: sandbox.support,
    layout: sandbox.layout,
    user: sandbox.user,
    runtime,
    packageDir: paths.packageDir,
    dataDir: paths.dataDir,
    sandboxDir: paths.sandboxDir,
    outbound,
    seccomp: sandbox.seccomp !== undefined,
    command: [
      runtime,
      SANDBOX_INIT_COMMAND,
      ...(port === undefined ? [] : ["--forward", INSIDE.httpSocket, String(port)]),
      ...(outbound ? ["--wait-network"] : []),
      ...(program === "bun" ? ["--bun"] : []),
      "--",
      resolved,
      ...args,
    ],
  });
}

/** The host pid of a sandbox's first process, from what bubblewrap's --info-fd says. */
function sandboxPid(info: string): number {
  let pid: unknown;
  try {
    pid = (JSON.parse(info) as { "child-pid"?: unknown })["child-pid"];
  } catch {
    pid = undefined;
  }
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0)
    throw new Error("bubblewrap did not say where the sandbox is (it failed to start)");
  return pid;
}

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}
