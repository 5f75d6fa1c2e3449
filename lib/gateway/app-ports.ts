/**
 * Each app an origin of its own on a gateway without a name. A named gateway gives each
 * app a host name (`<app>.<zone host>`); one reached by address alone has only its port
 * to tell origins apart, so it gives each app a port of its own beside its own
 * (`http://<address>:<port>/`), and `/apps/<app>/…` at its own port only leads there.
 * Served by path, every app shared the panel's origin: an app's script could read the
 * panel's pages, and every other app's, as the person signed in (README: the gateway).
 *
 * Which port each app has is the gateway's to say, and only its device writes it
 * (`nodes/<device>/app-ports`, `{"v": 1, "ports": {"<app>": <port>}}`), so every device
 * gives the same address, and no two devices can hand one port out twice. An app keeps
 * its port while it is installed, across restarts; a new app takes the lowest port above
 * the gateway's own that no other app has and that this device could listen on.
 */
import type { Server } from "bun";
import { checkAppName } from "../../protocol/names.ts";
import { isRecord } from "../../protocol/shape.ts";
import { isPassing } from "../errors.ts";
import type { Log } from "../log.ts";
import { type StateReader, stateValue } from "../store/reads.ts";

export const appPortsKey = (device: string) => `nodes/${device}/app-ports`;

const APP_PORTS_VERSION = 1;
/** Ports tried for one app at a time before it is said to have none (another program holds each). */
const MAX_TRIES_PER_APP = 16;
/** How long after ports could not all be listened on (or published) they are tried again. */
export const APP_PORTS_RETRY_MS = 60_000;
/** More apps than any zone runs: a published list past it is not read. */
const MAX_APPS = 4096;

/** The ports `device`'s gateway published, or none when it wrote none of this shape. */
export function readAppPorts(db: StateReader, device: string): ReadonlyMap<string, number> {
  const text = stateValue(db, appPortsKey(device));
  return text ? parseAppPorts(text) : new Map();
}

/**
 * A published list, each entry kept only when it is an app's name and a port (the device
 * writes its own as it likes: another shape is no port, never an address made of junk).
 */
export function parseAppPorts(text: string): ReadonlyMap<string, number> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return new Map();
  }
  if (!isRecord(value) || value.v !== APP_PORTS_VERSION || !isRecord(value.ports)) return new Map();
  const entries = Object.entries(value.ports);
  if (entries.length > MAX_APPS) return new Map();
  const ports = new Map<string, number>();
  const taken = new Set<number>();
  for (const [app, port] of entries) {
    if (!checkAppName(app).ok || !isPort(port) || taken.has(port)) continue;
    ports.set(app, port);
    taken.add(port);
  }
  return ports;
}

export function encodeAppPorts(ports: ReadonlyMap<string, number>): string {
  const sorted = [...ports].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify({ v: APP_PORTS_VERSION, ports: Object.fromEntries(sorted) });
}

const isPort = (port: unknown): port is number =>
  typeof port === "number" && Number.isInteger(port) && port > 0 && port < 65536;

/**
 * The port of each of `apps`: the one it had (in `kept`) unless it is `unusable`, else the
 * lowest above `above` that is neither another app's, nor one of `reserved` (the gateway's
 * own), nor `unusable`. Apps not in `apps` lose theirs.
 */
export function assignAppPorts(
  kept: ReadonlyMap<string, number>,
  apps: readonly string[],
  above: number,
  reserved: ReadonlySet<number>,
  unusable: ReadonlySet<number>,
): Map<string, number> {
  const ports = new Map<string, number>();
  const taken = new Set(reserved);
  // Those keeping theirs first, so a new app never takes a port an older one holds.
  for (const app of apps) {
    const port = kept.get(app);
    if (port !== undefined && !unusable.has(port) && !taken.has(port)) {
      ports.set(app, port);
      taken.add(port);
    }
  }
  let next = above + 1;
  for (const app of [...apps].sort()) {
    if (ports.has(app)) continue;
    while (next < 65536 && (taken.has(next) || unusable.has(next))) next += 1;
    if (next >= 65536) break;
    ports.set(app, next);
    taken.add(next);
  }
  return ports;
}

export interface AppListenersOptions {
  /** The port of the gateway's own listener: apps' ports are above it. */
  readonly mainPort: number;
  /** Ports the gateway itself listens on. */
  readonly reserved: ReadonlySet<number>;
  /** What was published before (a restart keeps each app's port). */
  readonly published: ReadonlyMap<string, number>;
  /** Starts a listener serving `app` alone on `port`; throws when it cannot listen there. */
  readonly serve: (app: string, port: number) => Server<unknown>;
  /** Publishes the ports, for every device to read (this device's own key). */
  readonly publish: (ports: ReadonlyMap<string, number>) => void;
  readonly log: Log;
  readonly now: () => number;
}

/**
 * The listeners of a gateway without a name, one an app, kept as the apps come and go
 * (`sync`), and published once they listen.
 */
export class AppListeners {
  private readonly listening = new Map<string, { port: number; server: Server<unknown> }>();
  /** Ports another program held when this gateway tried them: not tried again until restart. */
  private readonly unusable = new Set<number>();
  private published: ReadonlyMap<string, number>;
  /** The apps of the last sync, once each listens and is published: nothing to do. */
  private settledFor: string | undefined;
  /** The apps of the last sync that could not listen for each, or publish, and when to try again. */
  private failed: { readonly names: string; readonly retryAtMs: number } | undefined;
  private syncing = false;
  private publishedText: string;

  constructor(private readonly options: AppListenersOptions) {
    this.published = options.published;
    this.publishedText = encodeAppPorts(options.published);
  }

  /** The port `app` is served on now, if it has one. */
  portOf(app: string): number | undefined {
    return this.listening.get(app)?.port;
  }

  /**
   * Listens for each of `apps` (every app installed), and for no other. Called at every
   * refresh of the gateway's table: nothing is done while the apps are those of the last
   * call and each was listened for and published.
   */
  sync(apps: readonly string[]): void {
    const names = apps.join("\n");
    if (names === this.settledFor) return;
    if (names === this.failed?.names && this.options.now() < this.failed.retryAtMs) return;
    // Publishing is a change of the state, which refreshes the table, which calls this.
    if (this.syncing) return;
    this.syncing = true;
    try {
      this.listenFor(apps, names);
    } finally {
      this.syncing = false;
    }
  }

  private listenFor(apps: readonly string[], names: string): void {
    this.settledFor = undefined;
    const wanted = new Set(apps);
    for (const [app, { server }] of this.listening)
      if (!wanted.has(app)) {
        server.stop(true);
        this.listening.delete(app);
        this.options.log.info("app port closed", { app });
      }
    const kept = new Map(this.published);
    for (const [app, { port }] of this.listening) kept.set(app, port);
    let ports = this.assign(kept, apps);
    for (let tries = 0; tries < MAX_TRIES_PER_APP * Math.max(1, apps.length); tries++) {
      const failed = this.listenForEach(ports);
      if (!failed) break;
      ports = this.assign(ports, apps);
    }
    if (this.publishListening() && this.listening.size === wanted.size) {
      this.settledFor = names;
      this.failed = undefined;
    } else this.failed = { names, retryAtMs: this.options.now() + APP_PORTS_RETRY_MS };
  }

  /** Listens again on the same ports (new certificates: a listener keeps those it began with). */
  restart(): void {
    this.settledFor = undefined;
    this.failed = undefined;
    for (const [app, entry] of this.listening) {
      entry.server.stop(false);
      try {
        this.listening.set(app, { port: entry.port, server: this.options.serve(app, entry.port) });
      } catch (error) {
        this.listening.delete(app);
        this.options.log.warn("app port not listening", {
          app,
          port: entry.port,
          error: (error as Error).message,
        });
      }
    }
    this.publishListening();
  }

  stop(): void {
    for (const { server } of this.listening.values()) server.stop(true);
    this.listening.clear();
  }

  private assign(kept: ReadonlyMap<string, number>, apps: readonly string[]) {
    const { mainPort, reserved } = this.options;
    return assignAppPorts(kept, apps, mainPort, reserved, this.unusable);
  }

  /** Listens on each port not listened on yet; whether one could not (now unusable). */
  private listenForEach(ports: ReadonlyMap<string, number>): boolean {
    let failed = false;
    for (const [app, port] of ports) {
      const current = this.listening.get(app);
      if (current?.port === port) continue;
      try {
        const server = this.options.serve(app, port);
        current?.server.stop(false);
        this.listening.set(app, { port, server });
        this.options.log.info("app port opened", { app, port });
      } catch (error) {
        // Held by another program (or refused): the next free one instead, said once.
        this.unusable.add(port);
        failed = true;
        this.options.log.warn("app port taken", { app, port, error: (error as Error).message });
      }
    }
    return failed;
  }

  /** Publishes the ports listened on now, when they changed; whether they are published. */
  private publishListening(): boolean {
    const ports = new Map([...this.listening].map(([app, { port }]) => [app, port]));
    const text = encodeAppPorts(ports);
    if (text === this.publishedText) return true;
    try {
      this.options.publish(ports);
      this.published = ports;
      this.publishedText = text;
      return true;
    } catch (error) {
      // A full disk, a quarantine: published at a later try.
      if (!isPassing(error)) throw error;
      this.options.log.warn("app ports not published", { error: (error as Error).message });
      return false;
    }
  }
}
