/**
 * How this device's daemon reaches an app it runs: HTTP (and WebSockets) to a sandboxed
 * app go over the Unix socket its forwarder listens on, in the app's own `http/`
 * directory; an unsandboxed app listens on a port of the host's loopback.
 *
 * That directory is the app's, so the app could put a symbolic link where its socket
 * should be, pointing at the daemon's own socket or another app's, and have the gateway
 * forward strangers' requests there. The socket is therefore opened without following
 * links (O_PATH | O_NOFOLLOW), checked to be a socket, and connected to through
 * `/proc/self/fd/<fd>`, which names that very file whatever happens to the path.
 */
import { closeSync, fstatSync, openSync } from "node:fs";
import { BuckyError } from "../errors.ts";

const O_PATH = 0o10000000;
const O_NOFOLLOW = 0o400000;

export interface AppDoor {
  /** Where the app answers, for people: `unix:<socket>` or `http://127.0.0.1:<port>`. */
  readonly url: string;
  /**
   * A request to the app; `path` starts with `/` and may carry a query. Its answer's body
   * is the app's bytes as sent: a compressed one stays compressed, as its Content-Encoding
   * and Content-Length say (the runtime would otherwise decode it under those headers).
   */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** The URL a WebSocket to `path` on the app opens (Bun takes `ws+unix://`). */
  websocketUrl(path: string): string;
  /**
   * Where a raw connection to the app goes (the app pipe's, lib/gateway/app-pipe.ts);
   * throws E_UNAVAILABLE while a sandboxed app has no socket yet.
   */
  socketAddress(): { readonly unix: string } | { readonly hostname: string; readonly port: number };
  /** Said when a connection to socketAddress() was refused: the next looks afresh, as fetch's does. */
  refused(): void;
  /** Called once the app's process has ended: what the door held is let go. */
  close(): void;
}

/** An app listening on `port` of the host's loopback (an unsandboxed app). */
export function portDoor(port: number): AppDoor {
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    fetch: (path, init) => fetch(`${url}${path}`, { ...init, decompress: false } as RequestInit),
    websocketUrl: (path) => `ws://127.0.0.1:${port}${path}`,
    socketAddress: () => ({ hostname: "127.0.0.1", port }),
    refused() {},
    close() {},
  };
}

/** An app whose forwarder listens on the Unix socket `path` (a sandboxed app). */
export function socketDoor(app: string, path: string): AppDoor {
  let fd: number | undefined;
  const socket = (): string => {
    if (fd === undefined) fd = openSocket(app, path);
    return `/proc/self/fd/${fd}`;
  };
  /** A socket that refused us is let go: the next call opens the path afresh. */
  const forget = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };
  return {
    url: `unix:${path}`,
    async fetch(request, init) {
      const unix = socket();
      try {
        return await fetch(`http://${app}${request}`, {
          ...init,
          unix,
          decompress: false,
        } as RequestInit);
      } catch (error) {
        if ((error as { code?: string }).code === "ECONNREFUSED") forget();
        throw error;
      }
    },
    websocketUrl: (request) => `ws+unix://${socket()}:${request}`,
    socketAddress: () => ({ unix: socket() }),
    refused: forget,
    close: forget,
  };
}

function openSocket(app: string, path: string): number {
  let fd: number;
  try {
    fd = openSync(path, O_PATH | O_NOFOLLOW);
  } catch (error) {
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${app} is not listening yet (${(error as { code?: string }).code ?? error})`,
      undefined,
      { cause: error },
    );
  }
  if (!fstatSync(fd).isSocket()) {
    closeSync(fd);
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${app} put something other than its socket where bucky reaches it`,
    );
  }
  return fd;
}

/** The doors of the apps this device runs, by app: the gateway and the ingress use them. */
export class AppDoors {
  private readonly doors = new Map<string, AppDoor>();
  private readonly listeners = new Set<(app: string) => void>();

  get(app: string): AppDoor | undefined {
    return this.doors.get(app);
  }

  /** How many apps have a door here. */
  get size(): number {
    return this.doors.size;
  }

  set(app: string, door: AppDoor | undefined): void {
    if (door) this.doors.set(app, door);
    else this.doors.delete(app);
    for (const listener of this.listeners) listener(app);
  }

  /**
   * Calls `listener` whenever an app's door comes or goes (the app pipe closes the
   * connections of an app that stopped); returns how to stop.
   */
  onChange(listener: (app: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
