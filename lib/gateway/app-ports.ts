/**
 * Each app an origin of its own on a gateway without a name. A named gateway gives each
 * app a host name (`<app>.<zone host>`); one reached by address alone has only its port
 * to tell origins apart, so it gives each app a port of its own beside its own
 * (`http://<address>:<port>/`), and `/apps/<app>/…` at its own port only leads there.
 * Served by path, every app shared the panel's origin: an app's script could read the
 * panel's pages, and every other app's, as the person signed in (README: the gateway).
 *
 * Which port each app has is the gateway's to say, and only its device writes it
 * (`nodes/<device>/app-ports`, `{"v": 1, "ports": {"<app>": <port>}, …}`), so every device
 * gives the same address, and no two devices can hand one port out twice. An app keeps
 * its port while it is installed, across restarts; a new app takes the next port above
 * both the gateway's own and the highest any app has had (`highest`) that this device
 * could listen on. A port is never handed to another app, even once its app is gone
 * (`retired`, `[[<port>, "<app>"], …]`, longest retired first): the port is the whole
 * origin, and the next app there would inherit what the browser keeps for it (storage,
 * cached pages, a service worker the app left behind, running with the person's session
 * in the new app). `retired` is bounded; `highest` keeps a port let go of from it from
 * being handed out again until every port above has been (tens of thousands of apps).
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
/** Ports kept from apps gone: past it, the longest gone is let go of (its port free again). */
const MAX_RETIRED = 4096;

/** What a gateway publishes: each app's port, and the ports apps gone (or moved) had. */
export interface AppPortsRecord {
  readonly ports: ReadonlyMap<string, number>;
  /** Port to the app it was handed to, which alone may have it again; longest retired first. */
  readonly retired: ReadonlyMap<number, string>;
  /** The highest port ever handed to an app (0: none): new apps' ports are above it. */
  readonly highest: number;
}

const NO_PORTS: AppPortsRecord = { ports: new Map(), retired: new Map(), highest: 0 };

/** The ports `device`'s gateway published, or none when it wrote none of this shape. */
export function readAppPorts(db: StateReader, device: string): ReadonlyMap<string, number> {
  return readAppPortsRecord(db, device).ports;
}

/** The whole record `device`'s gateway published (its own, to go on from). */
export function readAppPortsRecord(db: StateReader, device: string): AppPortsRecord {
  const text = stateValue(db, appPortsKey(device));
  return text ? parseAppPorts(text) : NO_PORTS;
}

/**
 * A published list, each entry kept only when it is an app's name and a port (the device
 * writes its own as it likes: another shape is no port, never an address made of junk).
 */
export function parseAppPorts(text: string): AppPortsRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return NO_PORTS;
  }
  if (!isRecord(value) || value.v !== APP_PORTS_VERSION || !isRecord(value.ports)) return NO_PORTS;
  const entries = Object.entries(value.ports);
  const retiredEntries: unknown[] = Array.isArray(value.retired) ? value.retired : [];
  if (entries.length > MAX_APPS || retiredEntries.length > MAX_RETIRED) return NO_PORTS;
  const ports = new Map<string, number>();
  const taken = new Set<number>();
  for (const [app, port] of entries) {
    if (!checkAppName(app).ok || !isPort(port) || taken.has(port)) continue;
    ports.set(app, port);
    taken.add(port);
  }
  const retired = new Map<number, string>();
  for (const entry of retiredEntries) {
    if (!Array.isArray(entry) || entry.length !== 2) continue;
    const [port, app] = entry as [unknown, unknown];
    if (typeof app !== "string" || !checkAppName(app).ok || !isPort(port) || taken.has(port))
      continue;
    retired.delete(port);
    retired.set(port, app);
  }
  // A record written before `highest` was, or one that says less than its own ports.
  let highest = isPort(value.highest) ? value.highest : 0;
  for (const port of [...ports.values(), ...retired.keys()]) highest = Math.max(highest, port);
  return { ports, retired, highest };
}

export function encodeAppPorts(record: AppPortsRecord): string {
  const sorted = [...record.ports].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // In the order they were retired (an object's number-like keys would come back sorted).
  const retired = [...record.retired];
  return JSON.stringify({
    v: APP_PORTS_VERSION,
    ports: Object.fromEntries(sorted),
    ...(retired.length > 0 ? { retired } : {}),
    ...(record.highest > 0 ? { highest: record.highest } : {}),
  });
}

const isPort = (port: unknown): port is number =>
  typeof port === "number" && Number.isInteger(port) && port > 0 && port < 65536;

/**
 * The port of each of `apps`: the one it had (in `kept`) unless it is `unusable`, else one
 * `retired` from it, else the next above both `above` and `highest` that is neither another
 * app's, now or retired, nor one of `reserved` (the gateway's own), nor `unusable`; past
 * the last port, the lowest such above `above`. Apps not in `apps` lose theirs (the caller
 * retires them).
 */
export function assignAppPorts(
  kept: ReadonlyMap<string, number>,
  apps: readonly string[],
  above: number,
  reserved: ReadonlySet<number>,
  unusable: ReadonlySet<number>,
  retired: ReadonlyMap<number, string> = new Map(),
  highest = 0,
): Map<string, number> {
  const ports = new Map<string, number>();
  const taken = new Set(reserved);
  const wanted = new Set(apps);
  const free = (port: number, app: string) =>
    !taken.has(port) && !unusable.has(port) && (retired.get(port) ?? app) === app;
  // Those keeping theirs first, so a new app never takes a port an older one holds.
  for (const app of apps) {
    const port = kept.get(app);
    if (port !== undefined && free(port, app)) {
      ports.set(app, port);
      taken.add(port);
    }
  }
  // An app back (installed again) has the port it had last.
  for (const [port, app] of [...retired].reverse())
    if (!ports.has(app) && wanted.has(app) && free(port, app)) {
      ports.set(app, port);
      taken.add(port);
    }
  const candidates = newPorts(above, highest);
  for (const app of [...apps].sort()) {
    if (ports.has(app)) continue;
    let port = candidates.next();
    while (!port.done && !free(port.value, app)) port = candidates.next();
    if (port.done) break;
    ports.set(app, port.value);
    taken.add(port.value);
  }
  return ports;
}

/** Ports for new apps in the order they are tried: above `highest`, then the rest above `above`. */
function* newPorts(above: number, highest: number): Generator<number> {
  const start = Math.max(above, Math.min(highest, 65535)) + 1;
  for (let port = start; port < 65536; port++) yield port;
  for (let port = above + 1; port < start; port++) yield port;
}

export interface AppListenersOptions {
  /** The port of the gateway's own listener: apps' ports are above it. */
  readonly mainPort: number;
  /** Ports the gateway itself listens on. */
  readonly reserved: ReadonlySet<number>;
  /** What was published before (a restart keeps each app's port, and the ports retired). */
  readonly published: AppPortsRecord;
  /** Starts a listener serving `app` alone on `port`; throws when it cannot listen there. */
  readonly serve: (app: string, port: number) => Server<unknown>;
  /** Publishes the ports, for every device to read (this device's own key). */
  readonly publish: (record: AppPortsRecord) => void;
  readonly log: Log;
  readonly now: () => number;
}

/**
 * The listeners of a gateway without a name, one an app, kept as the apps come and go
 * (`sync`), and published once they listen.
 */
export class AppListeners {
  private readonly listening = new Map<string, { port: number; server: Server<unknown> }>();
  /** Ports another program held when this gateway tried them: passed over until the next try. */
  private readonly unusable = new Set<number>();
  private published: ReadonlyMap<string, number>;
  /** Ports apps gone or moved had, each kept for its app alone (AppPortsRecord.retired). */
  private readonly retired: Map<number, string>;
  /** The highest port an app was ever served on here (AppPortsRecord.highest). */
  private highest: number;
  /** The apps of the last sync, once each listens and is published: nothing to do. */
  private settledFor: string | undefined;
  /** The apps of the last sync that could not listen for each, or publish, and when to try again. */
  private failed: { readonly names: string; readonly retryAtMs: number } | undefined;
  private syncing = false;
  private publishedText: string;

  constructor(private readonly options: AppListenersOptions) {
    this.published = options.published.ports;
    this.retired = new Map(options.published.retired);
    this.highest = options.published.highest;
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
    // Ports another program held at the last try may be free now.
    this.unusable.clear();
    for (const [app, { port, server }] of this.listening)
      if (!wanted.has(app)) {
        server.stop(true);
        this.listening.delete(app);
        this.retire(port, app);
        this.options.log.info("app port closed", { app, port });
      }
    // An app published but not listening (this gateway restarted since) keeps its port
    // for itself too, whether or not it is installed now.
    for (const [app, port] of this.published)
      if (!wanted.has(app) && !this.listening.has(app)) this.retire(port, app);
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
    const { unusable, retired, highest } = this;
    return assignAppPorts(kept, apps, mainPort, reserved, unusable, retired, highest);
  }

  /** Keeps `port` for `app` alone; past MAX_RETIRED, the one retired longest ago goes. */
  private retire(port: number, app: string): void {
    this.retired.delete(port);
    this.retired.set(port, app);
    if (this.retired.size > MAX_RETIRED) {
      const [oldest] = this.retired.keys();
      if (oldest !== undefined) this.retired.delete(oldest);
    }
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
        // The port it had (listened on, or published before a restart) stays its own.
        const before = current?.port ?? this.published.get(app);
        if (before !== undefined && before !== port) this.retire(before, app);
        this.retired.delete(port);
        this.highest = Math.max(this.highest, port);
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
    // One published that listens no more (its port could not be listened on again) keeps
    // it from other apps all the same.
    for (const [app, port] of this.published) if (!ports.has(app)) this.retire(port, app);
    const record = { ports, retired: this.retired, highest: this.highest };
    const text = encodeAppPorts(record);
    if (text === this.publishedText) return true;
    try {
      this.options.publish(record);
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
