/**
 * This device's part in running image apps, for the convergence loop: its container engine
 * (tried once as the daemon starts, and said to the zone), the images of the apps it could
 * be asked to run (fetched from its peers in the background, as packages are), and each
 * image handed to the engine before its app starts, from named data verified on the way.
 * A daemon that died left its containers running: they go as soon as the engine is known,
 * before any app starts again; images no installed app uses any more go too.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isImageRun } from "../../protocol/app-manifest.ts";
import type { ImageRecord, PlatformImage } from "../../protocol/image-record.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { parsePlatformName, platformName, runsOn } from "../../protocol/oci.ts";
import type { AppSpec } from "../apps/spec.ts";
import { BuckyError } from "../errors.ts";
import type { ObjectSource } from "../ndn/fetch.ts";
import type { NodeContext } from "../node/node-context.ts";
import { publishEngineFacts } from "./engine-facts.ts";
import { ImageStore } from "./image-store.ts";
import {
  type Engine,
  type EngineSupport,
  hasImage,
  imageId,
  loadImage,
  podman,
  removeAllContainers,
  removeImage,
} from "./podman.ts";

export class DeviceImages {
  readonly store: ImageStore;
  private support: EngineSupport | undefined;
  private readonly fetching = new Set<string>();
  /** Images handed to the engine ahead of need, by package: each once. */
  private readonly preloaded = new Set<string>();
  /** Images being handed to the engine, by config digest: one load each at a time. */
  private readonly loading = new Map<string, Promise<void>>();
  /** Loads and sweeps, one at a time: a sweep never removes an image a load just made. */
  private engineWork: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly node: NodeContext,
    private readonly options: {
      /** Tries the engine (lib/images/podman.ts detectEngine). */
      readonly detect: () => EngineSupport;
      /** Told once the engine is known: image apps can be looked at. */
      readonly ready: () => void;
    },
  ) {
    this.store = new ImageStore(node.store, node.zone.paths.imagesDir);
  }

  /**
   * Tries the engine and says what it found (at once, as the daemon starts), then clears
   * what an earlier daemon left; image apps start once that is done.
   */
  start(): Promise<void> {
    this.store.clearIncoming();
    const support = this.options.detect();
    try {
      publishEngineFacts(
        (ops) => this.node.write(ops),
        this.node.db,
        this.node.deviceName,
        support,
      );
    } catch (error) {
      this.node.diskFull(error);
    }
    if (!support.engine) {
      this.node.log.debug("no container engine", { problem: support.problem });
      this.support = support;
      this.options.ready();
      return Promise.resolve();
    }
    const engine = support.engine;
    return removeAllContainers(engine, this.node.zone.paths.containersDir).then(() => {
      this.node.log.debug("container engine ready", {
        engine: `podman ${engine.version}`,
        platform: platformName(engine.platform),
      });
      this.support = support;
      this.options.ready();
    });
  }

  /** The engine, undefined while it is being tried; with why it is missing otherwise. */
  engine(): EngineSupport | undefined {
    return this.support;
  }

  /**
   * Fetches, in the background, the images of apps this device could be asked to run: when
   * the device running one goes away, the next must not need it (or the registry).
   */
  prefetch(specs: readonly AppSpec[], sources: () => ObjectSource[]): void {
    const engine = this.support?.engine;
    if (!engine) return;
    for (const spec of specs) {
      const eligible =
        (spec.placement === "any" || spec.placement === this.node.deviceName) &&
        runnableHere(spec, engine);
      if (!eligible || spec.desired === "removed" || this.fetching.has(spec.package)) continue;
      this.fetching.add(spec.package);
      this.fetch(spec, engine, sources())
        .then(
          () => this.node.log.debug("image fetched", { app: spec.app, image: spec.package }),
          (error: unknown) =>
            this.node.log.debug("image not fetched yet", { app: spec.app, error: String(error) }),
        )
        // Fetched or not, it is looked at again at a later pass only if it failed.
        .then(() => {
          if (!this.holdsImage(spec, engine)) this.fetching.delete(spec.package);
        });
    }
  }

  /**
   * Hands `spec`'s image to the engine in the background, ahead of need (on a standby,
   * whose failover then only runs it). A failure is tried again at the next pass.
   */
  preload(spec: AppSpec, sources: () => ObjectSource[]): void {
    if (!this.support?.engine || this.preloaded.has(spec.package)) return;
    this.preloaded.add(spec.package);
    this.prepare(spec, sources()).then(
      () => this.node.log.debug("image ready ahead of need", { app: spec.app }),
      (error: unknown) => {
        this.preloaded.delete(spec.package);
        this.node.log.debug("image not ready yet", { app: spec.app, error: String(error) });
      },
    );
  }

  /**
   * Makes `spec`'s image ready to run here: fetched (verified) if this device lacks it,
   * then handed to the engine; returns the config digest the engine runs.
   */
  async prepare(spec: AppSpec, sources: readonly ObjectSource[]): Promise<string> {
    const engine = this.support?.engine;
    if (!engine) throw new BuckyError("E_UNAVAILABLE", "the container engine is not ready");
    const image = await this.fetch(spec, engine, sources);
    const digest = image.config.digest;
    // Looked at and loaded in turn with sweeps: an image found here is not swept away
    // before its app runs (a sweep after this reads the spec that names it).
    let load = this.loading.get(digest);
    if (!load) {
      load = this.exclusive(async () => {
        if (!(await hasImage(engine, digest))) await this.load(engine, image, spec);
      }).finally(() => this.loading.delete(digest));
      this.loading.set(digest, load);
    }
    await load;
    return digest;
  }

  /**
   * Removes the images of the engine no app installed in the zone runs here any more
   * (`specs` is read as the sweep starts, after any load in progress). False when one
   * stayed: a container of the version before still ran on it (an upgrade under way).
   */
  sweep(specs: () => readonly AppSpec[]): Promise<boolean> {
    return this.exclusive(() => this.sweepNow(specs()));
  }

  private async sweepNow(specs: readonly AppSpec[]): Promise<boolean> {
    const engine = this.support?.engine;
    if (!engine) return true;
    const keep = new Set<string>();
    for (const spec of specs) {
      if (!spec.image || spec.desired === "removed") continue;
      const record = this.store.readRecord(spec.package as ObjectId);
      const image = record && imageFor(record, engine);
      if (image) keep.add(imageId(image.config.digest));
    }
    const listed = await podman(engine, ["images", "--quiet", "--no-trunc"]);
    if (listed.code !== 0) return false;
    const ids = listed.stdout
      .split("\n")
      .map((line) => line.trim().replace(/^sha256:/, ""))
      .filter((id) => /^[0-9a-f]{64}$/.test(id));
    let clean = true;
    for (const id of ids)
      if (!keep.has(id)) {
        if (!(await removeImage(engine, `sha256:${id}`))) {
          clean = false;
          continue;
        }
        this.node.log.debug("image removed from the engine", { image: id });
        // What was handed over ahead of need is looked at again.
        this.preloaded.clear();
      }
    return clean;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const next = this.engineWork.then(work, work);
    this.engineWork = next.catch(() => undefined);
    return next;
  }

  private async fetch(
    spec: AppSpec,
    engine: Engine,
    sources: readonly ObjectSource[],
  ): Promise<PlatformImage> {
    if (!isImageRun(spec.manifest.run))
      throw new BuckyError("E_INTERNAL", `${spec.app} is not an image app`);
    const record = await this.store.fetchRecord(spec.package, sources);
    const image = imageFor(record, engine);
    if (!image)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${this.node.deviceName} runs images for ${platformName(engine.platform)}, and the zone holds ${record.ref} for ${record.images.map((i) => i.platform).join(", ")}`,
        "Install the app again (from its registry) to fetch the image for this device too.",
      );
    if (!this.store.holds(image)) await this.store.fetchBlobs(image, sources);
    return image;
  }

  /**
   * Whether `spec` may be started now as far as its image goes: false only while its record
   * or its image for this engine is still to be fetched. One with no image this engine runs,
   * or no engine, is started, and says why it cannot run.
   */
  readyToStart(spec: AppSpec): boolean {
    const engine = this.support?.engine;
    if (!engine || !runnableHere(spec, engine)) return true;
    const record = this.store.readRecord(spec.package as ObjectId);
    if (!record) return false;
    const image = imageFor(record, engine);
    return image ? this.store.holds(image) : true;
  }

  private holdsImage(spec: AppSpec, engine: Engine): boolean {
    const record = this.store.readRecord(spec.package as ObjectId);
    const image = record && imageFor(record, engine);
    return image ? this.store.holds(image) : false;
  }

  private async load(engine: Engine, image: PlatformImage, spec: AppSpec): Promise<void> {
    const dir = `${this.store.incomingPath()}.layout`;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ref = isImageRun(spec.manifest.run) ? spec.manifest.run.image : spec.app;
    try {
      const layout = join(dir, `bucky-${spec.app}`);
      this.store.writeLayout(image, ref, layout);
      await loadImage(engine, layout, image.config.digest);
      this.node.log.info("image loaded", {
        app: spec.app,
        image: ref,
        platform: image.platform,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** The image a device of `engine`'s platform runs, of those a record holds. */
export function imageFor(record: ImageRecord, engine: Engine): PlatformImage | undefined {
  return record.images.find((image) => {
    const platform = parsePlatformName(image.platform);
    return platform !== undefined && runsOn(platform, engine.platform);
  });
}

/** Whether `spec` names an image for a platform `engine` runs. */
function runnableHere(spec: AppSpec, engine: Engine): boolean {
  return (
    spec.image?.platforms.some((name) => {
      const platform = parsePlatformName(name);
      return platform !== undefined && runsOn(platform, engine.platform);
    }) === true
  );
}
