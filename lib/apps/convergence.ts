/**
 * The convergence loop that runs apps, on every device alike. It reads the apps' specs
 * from the zone state, which devices are alive from their presence, and who holds each
 * app's data (lib/replica/), computes which apps this device must run (the same answer
 * every device computes), takes an app's data over first when it must, starts what is
 * missing, restarts what changed, stops what is no longer its share, does its part in
 * replicating app data, and reports. No device commands another. Apps run from a command
 * run in its sandbox (lib/apps/process-launcher.ts); image apps in a container
 * (lib/images/), once this device's engine is known.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isImageRun, type ProcessRun } from "../../protocol/app-manifest.ts";
import { signAppToken } from "../../protocol/app-token.ts";
import { digestOf, type ObjectId } from "../../protocol/ndn.ts";
import type { Candidate } from "../../protocol/placement.ts";
import { BuckyError, isDiskFull, isPassing } from "../errors.ts";
import { containerLauncher } from "../images/container-launcher.ts";
import { DeviceImages } from "../images/device-images.ts";
import { detectEngine } from "../images/podman.ts";
import { fetchToStore, type ObjectSource } from "../ndn/fetch.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { Replication } from "../replica/replication.ts";
import { appHasData, holdingOf, readHoldingFacts } from "../replica/zone-holding.ts";
import { heardWithin } from "../sync/presence.ts";
import { type RunningAppApi, serveAppApi } from "./app-api.ts";
import { appUser } from "./app-user.ts";
import { endArrivedMove } from "./arrived-move.ts";
import { type ReportedState, worthReporting } from "./crash-loop.ts";
import {
  dataCopiesOf,
  dropDataBeforeUpgrade,
  keepDataBeforeUpgrade,
  restoreDataBeforeUpgrade,
} from "./data-before-upgrade.ts";
import { PACKAGE_LIMIT, unpack } from "./package-dir.ts";
import { type AppSandbox, processLauncher } from "./process-launcher.ts";
import { deletePurgedState, purgeGranted } from "./purge.ts";
import { type AppLauncher, AppRunner, type RunnerChange } from "./runner.ts";
import { reportRunsBeforeStopped } from "./runs-before.ts";
import { cannotSandbox, type SandboxSupport, type SystemLayout, systemLayout } from "./sandbox.ts";
import { publishSandboxFacts } from "./sandbox-facts.ts";
import { noUserNamespacesFilter } from "./seccomp.ts";
import { type AppReport, type AppSpec, appKeys, readReport, readSpecs } from "./spec.ts";
import { placementCandidates } from "./status.ts";
import { unsandboxedGranted } from "./unsandboxed.ts";
import { markHealthy, rollBackFailedUpgrade } from "./upgrade-rollback.ts";
import { reportUpgradeWait } from "./upgrade-wait.ts";
import { versionBeforeToRun } from "./version-before.ts";

export interface ConvergenceOptions {
  /** How often to re-check even when nothing changed. */
  readonly intervalMs: number;
  /** How often this device says it is alive. */
  readonly heartbeatMs: number;
  /** A device not heard alive for this long no longer holds `any` apps. */
  readonly liveWindowMs: number;
  /** What this device can do to isolate apps (lib/apps/sandbox.ts). */
  readonly sandbox: SandboxSupport;
  readonly runtime: string;
  /** PATH for apps (the daemon's own). */
  readonly path: string;
  /** Where to fetch packages from: this device's store, then its peers. */
  readonly sources: () => ObjectSource[];
  /** The container engine for image apps: Podman's path or name, or off. */
  readonly images: { readonly podman: string; readonly off: boolean };
  /** Told of a fault that is a bug in bucky, in an app's API: the daemon crashes. */
  readonly onBug: (error: unknown) => void;
  /** Settles once this device has caught up with its peers after starting (or had none answer). */
  readonly caughtUp: Promise<void>;
  /** How long an app that failed waits before its first restart (AppRunner's default: 1 s). */
  readonly firstRestartMs?: number;
}

interface Running {
  readonly runner: AppRunner;
  readonly api: RunningAppApi;
  /** What it was started from: a change of it means a restart. */
  readonly launch: string;
  /** Its package (an image app's image record). */
  readonly package: ObjectId;
}

/** How many passes try to remove an image a container still held (an upgrade under way). */
const SWEEP_TRIES = 10;

/** How often at most a device says again why an upgrade waits (lib/apps/upgrade-wait.ts). */
const WAIT_SAID_EVERY_MS = 60_000;

/**
 * How often a device with no app to run, hold or follow checks again anyway: every change
 * of an app, a device or the system wakes it at once (soon), so this is only a safety net.
 * At most half a live window, so that a pass never finds what it heard stale (converge).
 */
export const IDLE_PASS_MS = 60_000;

/**
 * How long after a pass the next one comes on its own: intervalMs while any app is wanted
 * in the zone, or runs or is swept here (where an app runs follows who is alive, which no
 * change of the state says); else IDLE_PASS_MS, within half a live window (never more
 * often than intervalMs), as only a change of the specs or the devices (which calls soon)
 * gives this device work.
 */
export function nextPassMs(
  found: {
    readonly specs: readonly AppSpec[];
    readonly running: number;
    readonly sweeping: boolean;
  },
  times: Pick<ConvergenceOptions, "intervalMs" | "liveWindowMs">,
): number {
  const idle =
    found.specs.every((spec) => spec.desired === "removed") &&
    found.running === 0 &&
    !found.sweeping;
  if (!idle) return times.intervalMs;
  return Math.max(times.intervalMs, Math.min(IDLE_PASS_MS, times.liveWindowMs / 2));
}

/**
 * How long a device just started waits at most to catch up with its peers before it runs
 * anything: a peer that neither answers nor refuses (an address that swallows packets)
 * must not keep the apps of a device that is back from running for long.
 */
export const CATCH_UP_LIMIT_MS = 10_000;

/**
 * What an app is started from: its package, its manifest (the command it runs), and whether
 * it may run unsandboxed, by which grant. A change of any starts it again; an app refused
 * for a spec without a grant (or a manifest changed under one) is tried again once the
 * owner grants it or installs it again.
 */
const launchOf = (spec: AppSpec) =>
  `${spec.package} ${JSON.stringify(spec.manifest)}${spec.unsandboxed ? ` unsandboxed ${spec.unsandboxedGrant ?? ""}` : ""}`;

export class Convergence {
  private readonly running = new Map<string, Running>();
  /** What was last reported of each app run here (a crash loop is reported sparingly). */
  private readonly reported = new Map<string, ReportedState>();
  private readonly fetching = new Set<ObjectId>();
  /** The package each app's upgrade last waited for here (said once each). */
  private readonly waitedFor = new Map<string, ObjectId>();
  /** Why each package this device lacks was not fetched, the last time it tried. */
  private readonly notFetched = new Map<ObjectId, string>();
  /** When this device last said in its report why each app's upgrade waits, and for which package. */
  private readonly waitSaid = new Map<string, { package: ObjectId; atMs: number }>();
  /** Apps this device will not run unsandboxed (no consent), by what they were started from. */
  private readonly refused = new Map<string, string>();
  /** The spec not of a spec's shape this device last warned of, by app (why): one an app. */
  private readonly warnedUnreadable = new Map<string, string>();
  /**
   * The removal asking for a purge the owner did not grant that this device last warned of,
   * by app (its time): one entry an app, however many removals a member writes.
   */
  private readonly warnedUngranted = new Map<string, string>();
  private readonly layout: SystemLayout;
  private readonly images: DeviceImages;
  /** The image apps as of the last pass: when they change, unused images go. */
  private imageApps = "";
  /** Sweeps still to try for the last change of the image apps, and one under way. */
  private sweepsLeft = 0;
  private sweeping = false;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  /** The next pass on its own, nextPassMs after the last. */
  private next: ReturnType<typeof setTimeout> | undefined;
  private nextMs: number;
  private pass: Promise<void> = Promise.resolve();
  private again = false;
  private stopped = false;
  /**
   * Whether this device has caught up with its peers since it started. Until then it knows
   * the zone as it was when it stopped: an app removed or moved away meanwhile would run
   * here until the news came (tens of milliseconds; for a moved app with data, two copies
   * written at once), so no pass runs before.
   */
  private caughtUp = false;
  private startedAtMs: number;
  private lastPassMs: number;

  constructor(
    private readonly node: NodeContext,
    /** This device's part in keeping app data on more than one device. */
    private readonly replication: Replication,
    private readonly options: ConvergenceOptions,
  ) {
    this.startedAtMs = node.now();
    this.lastPassMs = this.startedAtMs;
    this.nextMs = options.intervalMs;
    this.layout = systemLayout();
    this.images = new DeviceImages(node, {
      detect: () =>
        detectEngine({
          podman: options.images.podman,
          off: options.images.off,
          path: options.path,
          asRoot: options.sandbox.asRoot,
          containersDir: node.zone.paths.containersDir,
        }),
      ready: () => this.soon(),
    });
  }

  start(): void {
    killOrphans(this.node.zone.paths.appsDir);
    try {
      // Quarantined, it writes nothing (converge): what it said stays as it was.
      const stopped = this.node.quarantined() ? [] : reportRunsBeforeStopped(this.node);
      if (stopped.length > 0)
        this.node.log.info("apps of the run before said stopped", { apps: stopped.join(",") });
      publishSandboxFacts(
        (ops) => this.node.write(ops),
        this.node.db,
        this.node.deviceName,
        this.options.sandbox,
      );
    } catch (error) {
      this.node.diskFull(error);
    }
    void this.images.start().catch(this.options.onBug);
    this.beat();
    this.timers.push(setInterval(() => this.beat(), this.options.heartbeatMs));
    this.node.log.debug("apps wait until this device has caught up with its peers");
    let limit: ReturnType<typeof setTimeout> | undefined;
    const limited = new Promise<void>((resolve) => {
      limit = setTimeout(resolve, CATCH_UP_LIMIT_MS);
    });
    this.timers.push(limit as ReturnType<typeof setTimeout>);
    void Promise.race([this.options.caughtUp, limited]).then(() => {
      clearTimeout(limit);
      if (this.stopped) return;
      this.caughtUp = true;
      this.node.log.debug("caught up with the peers: apps converge");
      this.soon();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.next);
    await this.pass;
    await Promise.all([...this.running.keys()].map((app) => this.halt(app)));
  }

  /** Re-checks as soon as the current pass is done (state changed, or the timer fired). */
  soon(): void {
    if (this.stopped) return;
    this.again = true;
    this.pass = this.pass.then(async () => {
      while (this.again && !this.stopped) {
        this.again = false;
        // A full disk stops this pass, not the loop: the next one tries again. Anything
        // else is a bug, and the daemon's to handle (never an unhandled rejection).
        await this.converge().catch((error: unknown) => this.failed(error));
      }
      this.later();
    });
  }

  /** Sets the next pass on its own (nextPassMs), in place of one set before. */
  private later(): void {
    clearTimeout(this.next);
    if (this.stopped) return;
    this.next = setTimeout(() => this.soon(), this.nextMs);
  }

  /** Work in the background that failed: a full disk waits for room, anything else is a bug. */
  private failed(error: unknown): void {
    if (isPassing(error)) {
      this.node.diskFull(error);
      return;
    }
    this.node.log.fatal("unexpected error while converging the apps", {
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    this.options.onBug(error);
  }

  private beat(): void {
    if (!this.stopped) this.node.beat();
  }

  private async converge(): Promise<void> {
    // A pass that fails half way (its first read included) is tried again soon.
    this.nextMs = this.options.intervalMs;
    // Quarantined, this device hears nothing new of the zone and writes nothing (no report,
    // no claim, no step-down): what runs here stays as it is until the owner revokes it.
    if (this.node.quarantined()) return;
    if (!this.caughtUp) return;
    // A pass long after the last (the process was stopped, the machine slept) finds what
    // it heard stale: as after a start, it waits a live window before deciding on data.
    const now = this.node.now();
    if (now - this.lastPassMs > this.options.liveWindowMs) this.startedAtMs = now;
    this.lastPassMs = now;
    const specs = readSpecs(this.node.db, (app, { problem }) => this.unreadable(app, problem));
    this.prefetch(specs);
    this.images.prefetch(specs, this.options.sources);
    const candidates = placementCandidates(this.node, this.options.liveWindowMs);
    const forData = { ...candidates, live: this.maybeLive(candidates) };
    const me = this.node.deviceName;
    let facts = readHoldingFacts(this.node.db, this.node.membership());
    /** `notArrived`: this device's copy is not taken for a move's last snapshot. */
    const holdingOfApp = (spec: AppSpec, notArrived = false) => {
      const copy = this.replication.ownCopy(spec.app);
      return holdingOf(spec, appHasData(spec) ? forData : candidates, facts, {
        device: me,
        copy: copy && notArrived ? { ...copy, final: false } : copy,
      });
    };
    const mine = new Set<string>();
    for (const spec of specs) {
      if (spec.desired === "removed") {
        const ranHere = this.running.has(spec.app);
        await this.halt(spec.app);
        this.forgetReport(spec.app);
        // Its data goes only by the owner's grant: a member's purge keeps it.
        const purge = purgeGranted(this.node.db, this.node.purgeGrants, spec);
        if (spec.purge === true && !purge) this.ungranted(spec);
        // What it wrote to the zone state until it stopped here, after the purge was written.
        if (purge && ranHere) deletePurgedState(this.node, spec.app);
        this.clearLocal(spec.app, purge);
        await this.replication.forget(spec.app, purge);
        continue;
      }
      if (this.replication.wantsRestore(spec)) {
        await this.halt(spec.app);
        await this.replication.restoreCopy(spec, facts.claims.get(spec.app) ?? []);
        facts = readHoldingFacts(this.node.db, this.node.membership());
      }
      let holding = holdingOfApp(spec);
      // A move's last snapshot is its arrival only while it is the holder's newest: one this
      // device got just before it stopped (or slept) is none once the holder, finding it
      // gone, ran the app again and was written to. Asked of the holder, at once; meanwhile
      // this device follows it, and the move goes on.
      if (
        holding.movingTo === me &&
        holding.claimant === me &&
        holding.holder &&
        !(await this.replication.holdsNewestOf(spec.app, holding.holder))
      )
        holding = holdingOfApp(spec, true);
      const wanted = spec.desired === "running";
      if (wanted && holding.runner === me && holding.claimant === me) {
        // Take the data over (or claim it first) before the app runs on it.
        try {
          this.replication.takeOver(spec, holding);
        } catch (error) {
          if (!(error instanceof BuckyError)) throw error;
          // A damaged or missing copy: said, and tried again at the next pass.
          this.node.log.error("cannot take the app over", { app: spec.app, error: error.message });
          continue;
        }
        facts = readHoldingFacts(this.node.db, this.node.membership());
        holding = holdingOfApp(spec);
      }
      if (spec.moveTo === me && holding.holder?.device === me && !holding.movingTo)
        endArrivedMove(this.node, spec.app, me);
      const current = this.running.get(spec.app);
      if (wanted && holding.runner === me) {
        mine.add(spec.app);
        if (current?.launch !== launchOf(spec) && !this.upgradeWaits(spec, current)) {
          if (current) await this.halt(spec.app);
          // Nothing running here (a restart) while the upgrade's package is not: the version
          // before runs meanwhile, as it would have gone on (lib/apps/version-before.ts).
          const runs = (!current && this.versionBefore(spec)) || spec;
          if (runs === spec) this.dataAtUpgrade(spec, current);
          if (this.refused.get(spec.app) !== launchOf(runs)) this.launch(runs);
        }
      } else {
        this.refused.delete(spec.app);
        if (current) await this.halt(spec.app);
      }
      // A standby of an image app has its image in the engine already: a failover only runs it.
      if (spec.image && wanted && holding.standbys.includes(me))
        this.images.preload(spec, this.options.sources);
      if (appHasData(spec)) {
        const myClaim = facts.claims.get(spec.app)?.find((claim) => claim.device === me);
        await this.replication.arrange(spec, holding, myClaim);
      }
    }
    for (const app of this.running.keys()) if (!mine.has(app)) await this.halt(app);
    // Replication goes on only for apps whose spec is readable and has data: the same
    // answer on every device, from the state alone. A spec gone or garbled deletes nothing.
    await this.replication.restAllBut(
      new Set(
        specs
          .filter((spec) => spec.desired !== "removed" && appHasData(spec))
          .map((spec) => spec.app),
      ),
    );
    const imageApps = specs
      .filter((spec) => spec.image)
      .map((spec) => `${spec.app} ${spec.package} ${spec.desired}`)
      .join("\n");
    if (imageApps !== this.imageApps) this.sweepsLeft = SWEEP_TRIES;
    if (this.sweepsLeft > 0 && !this.sweeping && this.images.engine()) {
      this.imageApps = imageApps;
      this.sweepsLeft -= 1;
      this.sweeping = true;
      void this.images
        .sweep(() => readSpecs(this.node.db))
        // An image a container of the version before still held (it is being stopped):
        // the next passes try again, a few times; one that went leaves nothing to try.
        .then((clean) => {
          if (clean) this.sweepsLeft = 0;
        })
        .catch((error: unknown) => this.failed(error))
        .finally(() => {
          this.sweeping = false;
        });
    }
    this.nextMs = nextPassMs(
      { specs, running: this.running.size, sweeping: this.sweeping || this.sweepsLeft > 0 },
      this.options,
    );
  }

  /** The members that may be live, for apps with data (mayBeLive). */
  private maybeLive(candidates: ReturnType<typeof placementCandidates>): Candidate[] {
    const membership = this.node.membership();
    return mayBeLive(candidates, {
      nowMs: this.node.now(),
      windowMs: this.options.liveWindowMs,
      upSinceMs: this.startedAtMs,
      admittedAtMs: (name) => membership.byName.get(name)?.admittedAtMs,
      heardAtMs: (name) => {
        const member = membership.byName.get(name);
        return member && this.node.contacts.get(member.id)?.lastSeenAt;
      },
    });
  }

  private launch(spec: AppSpec): void {
    const { appsDir } = this.node.zone.paths;
    const appDir = join(appsDir, spec.app);
    const sandboxDir = join(appDir, "sandbox");
    const env = {
      BUCKY_APP: spec.app,
      BUCKY_APP_VERSION: spec.version,
      BUCKY_ZONE: this.node.zoneId,
      BUCKY_DEVICE: this.node.deviceName,
      BUCKY_APP_TOKEN: signAppToken(
        {
          zone: this.node.zoneId,
          app: spec.app,
          version: spec.version,
          permissions: spec.manifest.permissions,
          issuedAt: Math.floor(this.node.now() / 1000),
        },
        this.node.zone.deviceKey,
      ),
    };
    let launcher: AppLauncher;
    let prepare: () => Promise<void>;
    let user: ReturnType<typeof appUser> | undefined;
    const run = spec.manifest.run;
    if (isImageRun(run)) {
      const support = this.images.engine();
      if (!support) return; // Still being tried: this pass leaves it for the next.
      if (!support.engine) {
        this.refuse(
          spec,
          `${this.node.deviceName} cannot run images (${support.problem})`,
          support.problem,
        );
        return;
      }
      user = appUser(appsDir, spec.app);
      let configDigest = "";
      launcher = containerLauncher({
        app: spec.app,
        manifest: { ...spec.manifest, run },
        configDigest: () => configDigest,
        user,
        dataDir: join(appDir, "data"),
        sandboxDir,
        engine: support.engine,
        runtime: this.options.runtime,
        env,
      });
      prepare = async () => {
        configDigest = await this.images.prepare(spec, this.options.sources());
      };
    } else {
      const support = this.options.sandbox;
      const why = cannotSandbox(support, spec.manifest.network === "outbound");
      if (why && !unsandboxedGranted(this.node.unsandboxedGrants, spec)) {
        // The owner has not allowed it to run without a sandbox: it waits, saying why. A
        // spec saying unsandboxed without the owner's grant for its package and manifest is
        // not the owner's word (a member wrote it, or changed its command, or the package).
        this.refuse(
          spec,
          spec.unsandboxed === true
            ? `${this.node.deviceName} cannot sandbox it (${why}), and the owner did not allow this package to run without a sandbox as its spec says (its spec says --unsandboxed without the owner's grant for this package and manifest); install bubblewrap there, or install the app with --unsandboxed on the device holding the owner key`
            : `${this.node.deviceName} cannot sandbox it (${why}); install bubblewrap there, or reinstall the app with --unsandboxed to let it run without a sandbox`,
          why,
        );
        return;
      }
      const sandbox: AppSandbox | undefined = why
        ? undefined
        : {
            support: support as AppSandbox["support"],
            layout: this.layout,
            user: support.asRoot ? appUser(appsDir, spec.app) : undefined,
            seccomp: support.asRoot ? noUserNamespacesFilter(process.arch) : undefined,
          };
      user = sandbox?.user;
      const packageDir = join(appDir, "packages", digestOf(spec.package));
      launcher = processLauncher({
        app: spec.app,
        manifest: { ...spec.manifest, run: run as ProcessRun },
        paths: { packageDir, dataDir: join(appDir, "data"), sandboxDir },
        sandbox,
        runtime: this.options.runtime,
        env: { PATH: this.options.path, ...env },
      });
      prepare = () => this.prepare(spec, packageDir);
    }
    this.refused.delete(spec.app);
    mkdirSync(join(sandboxDir, "api"), { recursive: true, mode: 0o755 });
    const api = serveAppApi(
      this.node,
      spec,
      join(sandboxDir, "api", "api.sock"),
      user,
      this.options.onBug,
    );
    const runner = new AppRunner({
      app: spec.app,
      health: spec.manifest.health,
      launcher,
      paths: { logFile: join(appDir, "app.log"), pidFile: join(appDir, "pid") },
      log: this.node.log,
      outputFailed: (error) => {
        if (isDiskFull(error)) this.node.diskFull(error);
        else this.node.log.warn("app output not written", { app: spec.app, error: error.message });
      },
      report: (change) => this.report(spec, launcher.sandboxed, change),
      door: (door) => this.node.doors.set(spec.app, door),
      ...(this.options.firstRestartMs ? { firstRestartMs: this.options.firstRestartMs } : {}),
    });
    this.running.set(spec.app, { runner, api, launch: launchOf(spec), package: spec.package });
    void runner.start(prepare);
  }

  /** Warns once of a spec another member wrote in a shape not a spec's: the app is run nowhere. */
  private unreadable(app: string, problem: string): void {
    if (this.warnedUnreadable.get(app) === problem) return;
    this.warnedUnreadable.set(app, problem);
    this.node.log.warn("app spec unreadable", { app, problem });
  }

  /** An app this device will not start: it waits, saying why, until what it runs from changes. */
  private refuse(spec: AppSpec, error: string, why: string): void {
    this.refused.set(spec.app, launchOf(spec));
    this.report(spec, false, {
      state: "crashed",
      url: null,
      restarts: 0,
      exits: 0,
      error: `not started: ${error}`,
    });
    this.node.log.warn("app not started", { app: spec.app, why });
  }

  /**
   * Every device keeps the packages of the apps it could be asked to run, fetched in the
   * background: when the device running an `any` app goes away, the next one must not
   * need it to get the package.
   */
  private prefetch(specs: readonly AppSpec[]): void {
    for (const spec of specs) {
      const eligible = spec.placement === "any" || spec.placement === this.node.deviceName;
      if (
        spec.image ||
        spec.desired === "removed" ||
        !eligible ||
        this.fetching.has(spec.package) ||
        this.node.store.holdsWhole(spec.package)
      )
        continue;
      this.fetching.add(spec.package);
      fetchToStore(spec.package, this.node.store, this.options.sources(), {
        limit: PACKAGE_LIMIT,
      })
        .then(
          () => {
            this.notFetched.delete(spec.package);
            this.node.log.debug("package fetched", { app: spec.app, package: spec.package });
          },
          (error: unknown) => {
            this.notFetched.set(
              spec.package,
              error instanceof BuckyError ? error.message : String(error),
            );
            this.node.log.debug("package not fetched yet", { app: spec.app, error: String(error) });
          },
        )
        .finally(() => this.fetching.delete(spec.package));
    }
  }

  /**
   * Whether the version running here goes on while `spec`'s package (or image) is fetched:
   * stopped first, the app would be down for as long as the fetch takes, and for good when
   * the device that wrote the upgrade, the only one holding it, went away meanwhile. Only an
   * app running here waits (prefetch fetches what it runs); said once a package.
   */
  private upgradeWaits(spec: AppSpec, current: Running | undefined): boolean {
    if (!current || current.package === spec.package) return false;
    if (spec.image ? this.images.readyToStart(spec) : this.node.store.holdsWhole(spec.package)) {
      this.waitedFor.delete(spec.app);
      return false;
    }
    const notFetched = this.notFetched.get(spec.package);
    if (this.waitedFor.get(spec.app) !== spec.package) {
      this.waitedFor.set(spec.app, spec.package);
      this.node.log.warn("app upgrade waits for its package", {
        app: spec.app,
        version: spec.version,
        package: spec.package,
      });
    }
    // Said in the zone too, not only in this device's log: once a try to fetch it failed
    // (one that works goes on with the upgrade), and again as that changes.
    if (spec.image)
      this.sayWhyWaits(spec, current.package, "its image is not ready on this device yet");
    else if (notFetched)
      this.sayWhyWaits(
        spec,
        current.package,
        `its package is not on this device yet: ${notFetched}`,
      );
    return true;
  }

  /** The version before to run while `spec`'s package is fetched (versionBeforeToRun), said once. */
  private versionBefore(spec: AppSpec): AppSpec | undefined {
    const before = versionBeforeToRun(this.node, spec);
    if (before && this.waitedFor.get(spec.app) !== spec.package) {
      this.waitedFor.set(spec.app, spec.package);
      this.node.log.warn("app upgrade waits for its package: the version before runs meanwhile", {
        app: spec.app,
        version: spec.version,
        running: before.version,
        package: spec.package,
      });
    }
    return before;
  }

  /**
   * Adds why `spec`'s upgrade waits to this device's report (lib/apps/upgrade-wait.ts): at
   * once for a package, then at most every WAIT_SAID_EVERY_MS, as each report is kept by
   * every device and a peer that answers now and then changes why at every pass.
   */
  private sayWhyWaits(spec: AppSpec, running: ObjectId, why: string): void {
    const now = this.node.now();
    const said = this.waitSaid.get(spec.app);
    if (said?.package === spec.package && now - said.atMs < WAIT_SAID_EVERY_MS) return;
    try {
      if (reportUpgradeWait(this.node, spec, running, why))
        this.waitSaid.set(spec.app, { package: spec.package, atMs: now });
    } catch (error) {
      this.node.diskFull(error);
    }
  }

  /** Fetches the package (verified) if this device lacks it, and unpacks it once. */
  private async prepare(spec: AppSpec, packageDir: string): Promise<void> {
    if (existsSync(packageDir)) return;
    await fetchToStore(spec.package, this.node.store, this.options.sources(), {
      limit: PACKAGE_LIMIT,
    });
    const bytes = this.node.store.readObject(spec.package);
    if (!bytes)
      throw new BuckyError(
        "E_NOT_FOUND",
        `the package ${spec.package} is not complete on this device`,
      );
    const manifest = unpack(bytes, packageDir);
    if (manifest.id !== spec.app) {
      rmSync(packageDir, { recursive: true, force: true });
      throw new BuckyError(
        "E_INTEGRITY",
        `the package ${spec.package} is app ${manifest.id}, not ${spec.app}`,
      );
    }
  }

  private async halt(app: string): Promise<void> {
    const current = this.running.get(app);
    this.running.delete(app);
    await current?.runner.stop();
    current?.api.stop();
  }

  /**
   * Deletes this device's report of an app removed: it was of the install removed, and an
   * install anew of the same package read it as its own ("stopped", "crashed") until this
   * device ran it again, so `app install` settled at once on the old state.
   */
  private forgetReport(app: string): void {
    if (!readReport(this.node.db, this.node.deviceName, app)) return;
    this.reported.delete(app);
    try {
      this.node.write([{ key: appKeys.report(this.node.deviceName, app), value: null }]);
    } catch (error) {
      this.node.diskFull(error); // tried again at the next pass
    }
  }

  /** Says once that a removal's purge is not the owner's, so its data is kept here. */
  private ungranted(spec: AppSpec): void {
    if (this.warnedUngranted.get(spec.app) === spec.updatedAt) return;
    this.warnedUngranted.set(spec.app, spec.updatedAt);
    this.node.log.warn("app purge not authorised by the owner: its data is kept", {
      app: spec.app,
    });
  }

  /** An app removed from the zone: its unpacked packages go, and its data too if the owner purged it. */
  private clearLocal(app: string, purge: boolean): void {
    const appDir = join(this.node.zone.paths.appsDir, app);
    rmSync(join(appDir, "packages"), { recursive: true, force: true });
    if (purge)
      for (const copy of dataCopiesOf(appDir)) rmSync(copy, { recursive: true, force: true });
    if (purge && existsSync(join(appDir, "data"))) {
      rmSync(join(appDir, "data"), { recursive: true, force: true });
      this.node.log.info("app data purged", { app });
    }
  }

  /** Notes that `spec`'s version ran healthy here: it is never rolled back from then on. */
  private healthy(spec: AppSpec): void {
    const appDir = join(this.node.zone.paths.appsDir, spec.app);
    try {
      markHealthy(appDir, spec.package);
      dropDataBeforeUpgrade(appDir, spec.package);
    } catch (error) {
      this.node.diskFull(error);
    }
  }

  /**
   * Between the version that ran here (`before`, stopped) and `spec`'s: the data is copied
   * first when this is an upgrade, and put back when `spec` is the version before an
   * upgrade given up (lib/apps/data-before-upgrade.ts).
   */
  private dataAtUpgrade(spec: AppSpec, before: Running | undefined): void {
    if (!appHasData(spec)) return;
    const appDir = join(this.node.zone.paths.appsDir, spec.app);
    try {
      if (spec.failedUpgrade) {
        if (restoreDataBeforeUpgrade(appDir, spec.failedUpgrade.package))
          this.node.log.info("app data from before the upgrade put back", {
            app: spec.app,
            failed: spec.failedUpgrade.version,
          });
      } else if (before && before.package !== spec.package && !spec.image) {
        const kept = keepDataBeforeUpgrade(appDir, spec.package);
        this.node.log.debug("app data before the upgrade", { app: spec.app, copied: kept });
      }
    } catch (error) {
      if (isPassing(error)) this.node.diskFull(error);
      // The copy is a help, not a condition: the upgrade (or the rollback) goes on.
      else
        this.node.log.error("cannot copy or put back the app's data from before its upgrade", {
          app: spec.app,
          error: error instanceof Error ? error.message : String(error),
        });
    }
  }

  /**
   * Writes the app's spec back to the version before when `spec`'s upgrade crashed at
   * every start (lib/apps/upgrade-rollback.ts); the next pass runs that version.
   */
  private rollBackIfFailed(spec: AppSpec, crash: { exits: number; error: string | null }): void {
    try {
      if (rollBackFailedUpgrade(this.node, spec, crash)) this.soon();
    } catch (error) {
      this.node.diskFull(error);
    }
  }

  private report(spec: AppSpec, sandboxed: boolean, change: RunnerChange): void {
    if (this.stopped && change.state !== "stopped") return;
    // Before the crash loop is reported sparingly: each crash counts towards giving up (a
    // start of the version that exited, not a package it could not fetch: that waits).
    if (change.state === "running") this.healthy(spec);
    if (change.state === "crashed") this.rollBackIfFailed(spec, change);
    const now = this.node.now();
    if (!worthReporting(this.reported.get(spec.app), change, now)) return;
    this.reported.set(spec.app, { state: change.state, atMs: now });
    // Why an upgrade waits stays said through the changes of the version running meanwhile
    // (it starts as it is said, on a device just restarted): sayWhyWaits says it once a minute.
    const said = readReport(this.node.db, this.node.deviceName, spec.app);
    const waitingFor = said?.package === spec.package ? said.waitingFor : undefined;
    const ranHealthy = change.state === "running" ? spec.package : said?.ranHealthy;
    const report: AppReport = {
      app: spec.app,
      state: change.state,
      version: spec.version,
      package: spec.package,
      url: change.url,
      sandboxed,
      restarts: change.restarts,
      error: change.error,
      since: new Date(now).toISOString(),
      ...(ranHealthy ? { ranHealthy } : {}),
      ...(waitingFor ? { waitingFor } : {}),
    };
    try {
      this.node.write([
        { key: appKeys.report(this.node.deviceName, spec.app), value: JSON.stringify(report) },
      ]);
    } catch (error) {
      this.node.diskFull(error);
      this.reported.delete(spec.app); // said again with the next change
    }
  }
}

/**
 * Processes a crashed daemon left behind (outside the sandbox nothing ties an app to its
 * daemon): each app's pid file names one; the new daemon starts its own.
 */
function killOrphans(appsDir: string): void {
  if (!existsSync(appsDir)) return;
  for (const app of readdirSync(appsDir)) {
    const pidFile = join(appsDir, app, "pid");
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    try {
      // Only a process that runs from this app's directory is ours to kill.
      if (
        Number.isInteger(pid) &&
        readFileSync(`/proc/${pid}/environ`, "latin1").includes(`BUCKY_APP=${app}\0`)
      ) {
        process.kill(pid, "SIGKILL");
      }
    } catch {
      // Gone already, or not ours.
    }
    rmSync(pidFile, { force: true });
  }
}

/**
 * The members that may be live, for apps with data: data goes nowhere on a guess. Until
 * this device has been up for one live window, and for one live window after a device
 * joined, not having heard from it says nothing: it counts as live, so nothing of its is
 * taken over and nothing it may be claiming is claimed too.
 *
 * Nor is a device this one heard from itself within the window (its calls, or the bytes
 * of its answers as they arrive: lib/node/peer-client.ts) taken for gone. Its presence
 * records ride its own sync calls, which a full uplink holds back: a holder sending its
 * app data to this standby at 1 Mbit/s had them arrive seconds late (a 2 s modem queue, a
 * new connection per push losing its SYNs), and the standby took over from a holder whose
 * data was arriving at that very moment. Only a device that would claim the app writes
 * the claim, so this device's own hearing is enough to hold its hand; a holder that dies
 * mid-transfer stops sending. What it sent before may still arrive long after (a relay
 * trickling it, a deep buffer), but an answer's bytes count only for one window after its
 * head: a dead holder is gone here at most two windows after its last answer began.
 * Hearing is timed by this device's clock: one set back would make an old hearing look recent (a dead holder
 * kept "alive" for as long as it was set back), so a hearing counts either way of now.
 */
export function mayBeLive<C extends { readonly name: string }>(
  candidates: { readonly members: readonly C[]; readonly live: readonly C[] },
  times: {
    readonly nowMs: number;
    readonly windowMs: number;
    /** Since when this device has been up, as far as its view of the zone goes. */
    readonly upSinceMs: number;
    readonly admittedAtMs: (name: string) => number | undefined;
    /** When this device last heard from the member itself (undefined: never). */
    readonly heardAtMs: (name: string) => number | undefined;
  },
): C[] {
  const { nowMs, windowMs } = times;
  if (nowMs - times.upSinceMs < windowMs) return [...candidates.members];
  return candidates.members.filter((candidate) => {
    const heardAtMs = times.heardAtMs(candidate.name);
    return (
      candidates.live.includes(candidate) ||
      nowMs - (times.admittedAtMs(candidate.name) ?? 0) < windowMs ||
      heardWithin(heardAtMs, nowMs, windowMs)
    );
  });
}
