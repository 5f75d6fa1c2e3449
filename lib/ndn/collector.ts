/**
 * The daemon's collection of what this device no longer needs: named data no root refers
 * to (lib/ndn/collect.ts), once its grace period is over, and the unpacked copies of app
 * packages no version it may run uses. Every hour by default.
 */
import { prunePackages } from "../apps/package-dir.ts";
import { readSpecs } from "../apps/spec.ts";
import type { NodeContext } from "../node/node-context.ts";
import { collectGarbage } from "./collect.ts";
import { builtInRoots, type RootKind } from "./roots.ts";

export const DEFAULT_COLLECT_EVERY_MS = 3_600_000;

export class NamedDataCollector {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Roots that parts of bucky registered besides the built-in ones. */
  private readonly extra: RootKind[] = [];

  constructor(
    private readonly node: NodeContext,
    private readonly options: { readonly graceMs: number; readonly everyMs: number },
    /** Told that something was removed (so the space said in the facts is measured again). */
    private readonly onRemoved: () => void,
  ) {}

  /** Keeps what `root` names, from now on. */
  register(root: RootKind): void {
    this.extra.push(root);
  }

  start(): void {
    this.timer = setInterval(() => void this.run(), this.options.everyMs);
    void this.run();
  }

  /** Stops looking, and waits for a collection under way to end at its next step. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One collection; one already under way is not started again beside it. */
  async run(): Promise<void> {
    if (this.stopped) return;
    if (this.running) return this.running;
    this.running = this.collect().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async collect(): Promise<void> {
    const { node } = this;
    try {
      const collected = await collectGarbage({
        db: node.db,
        store: node.store,
        roots: [...builtInRoots(node.db), ...this.extra],
        nowMs: node.now(),
        graceMs: this.options.graceMs,
        log: node.log,
        stopping: () => this.stopped,
      });
      const unpacked = await prunePackages(
        node.zone.paths.appsDir,
        () => readSpecs(node.db),
        () => this.stopped,
      );
      if (unpacked > 0) node.log.info("unpacked app packages removed", { count: unpacked });
      if (collected.removed > 0 || unpacked > 0) this.onRemoved();
    } catch (error) {
      node.diskFull(error);
    }
  }
}
