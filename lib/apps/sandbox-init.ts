/**
 * The first process inside an app's sandbox (`bucky sandbox-init`, a hidden command): it
 * listens on the Unix socket bucky reaches the app through and passes each connection,
 * byte for byte (HTTP, WebSockets, anything), to the app's port on the sandbox's own
 * loopback; then it runs the app's command and ends with it, passing on its exit code.
 *
 * An app with outbound network starts only once its network is up: bucky says so with a
 * line on this process's standard input.
 *
 * With no command, it only forwards, until its standard input ends: for an image app, it
 * runs in the container's network (lib/images/container-launcher.ts), and ends when the
 * daemon lets it go or dies.
 */
import { chmodSync, rmSync } from "node:fs";
import { constants } from "node:os";
import type { Socket, UnixSocketListener } from "bun";
import { Link, type TcpStream, tcpEnd, tcpStreamClosed } from "../relay/pipe.ts";

/** The hidden command of the bucky binary that runs this (cmd/main.ts knows it too). */
export const SANDBOX_INIT_COMMAND = "sandbox-init";

export interface SandboxInitOptions {
  /** Where to listen for bucky, and the app's port to pass connections to. */
  readonly forward?: { readonly socket: string; readonly port: number };
  /** Wait for a line on stdin before starting the app (its network is being set up). */
  readonly waitForNetwork: boolean;
  /** The app's command and its environment. */
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** What to tell the app's log about this process's own troubles. */
  readonly say: (line: string) => void;
}

/** Runs the app; resolves with the exit code to end with. */
export async function runSandboxInit(options: SandboxInitOptions): Promise<number> {
  let listener: UnixSocketListener<TcpStream> | undefined;
  if (options.forward) {
    try {
      listener = forward(options.forward.socket, options.forward.port);
    } catch (error) {
      options.say(`bucky: cannot listen on ${options.forward.socket}: ${String(error)}`);
      return 70;
    }
  }
  if (options.command.length === 0) {
    await stdinEnds();
    listener?.stop(true);
    return 0;
  }
  if (options.waitForNetwork && !(await lineOnStdin())) {
    options.say("bucky: the app's network was not set up; not starting it");
    return 75;
  }
  let child: ReturnType<typeof Bun.spawn>;
  try {
    child = Bun.spawn([...options.command], {
      env: { ...options.env },
      stdio: ["ignore", "inherit", "inherit"],
    });
  } catch (error) {
    options.say(`bucky: cannot start ${options.command[0]}: ${(error as Error).message}`);
    return 127;
  }
  const passOn = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on("SIGTERM", passOn("SIGTERM"));
  process.on("SIGINT", passOn("SIGINT"));
  await child.exited;
  listener?.stop(true);
  if (child.signalCode) return 128 + (constants.signals[child.signalCode as NodeJS.Signals] ?? 15);
  return child.exitCode ?? 1;
}

function forward(socket: string, port: number): UnixSocketListener<TcpStream> {
  rmSync(socket, { force: true });
  const listener = Bun.listen<TcpStream>({
    unix: socket,
    socket: {
      open(client) {
        const end = tcpEnd(client as Socket<unknown>);
        const link = new Link(end);
        client.data = { link, end };
        void Bun.connect<TcpStream>({
          hostname: "127.0.0.1",
          port,
          socket: {
            open(app) {
              const appEnd = tcpEnd(app as Socket<unknown>);
              app.data = { link, end: appEnd };
              link.join(appEnd);
            },
            data: (app, chunk) => app.data.link.fromB(chunk),
            drain: (app) => app.data.end.flush(),
            close: (app) => tcpStreamClosed(app.data),
            error: (app) => tcpStreamClosed(app.data),
            connectError: () => link.close(),
          },
        }).catch(() => link.close());
      },
      data: (client, chunk) => client.data.link.fromA(chunk),
      drain: (client) => client.data.end.flush(),
      close: (client) => tcpStreamClosed(client.data),
      error: (client) => tcpStreamClosed(client.data),
    },
  });
  // Only bucky (root, or the same user) connects; the directory is the app's alone too.
  chmodSync(socket, 0o600);
  return listener;
}

/** Resolves when stdin ends (its writer closed it, or died). */
async function stdinEnds(): Promise<void> {
  for await (const _ of Bun.stdin.stream()) {
    // What comes is not read: only the end counts.
  }
}

/** Whether a line arrives on stdin before it ends. */
async function lineOnStdin(): Promise<boolean> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of Bun.stdin.stream()) {
    text += decoder.decode(chunk);
    if (text.includes("\n")) return true;
  }
  return false;
}
