/**
 * The hot backup beside the cold one: while the daemon runs, every changeset of the zone
 * state (written here or received from a peer) is sealed and written to each backup
 * target within seconds, as `hot/<time>-<device>-<random>`. Losing the box then loses at
 * most those seconds of zone state: a restore replays the hot changesets on top of the
 * latest snapshot (they are signed, so each is checked as any changeset from a peer).
 * Prune removes those older than the newest snapshot.
 */
import { randomBytes } from "node:crypto";
import { ProtocolError } from "../../protocol/errors.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { Backend } from "./backend.ts";
import { Repository } from "./repository.ts";
import { backupRoot } from "./run.ts";
import { openChangesets, sealChangesets } from "./sealed.ts";
import { connect, type Target, targetsForDaemon } from "./targets.ts";

export const HOT_DIR = "hot";
/** How long changesets wait to be shipped together. */
const SHIP_EVERY_MS = 2_000;

/** A hot file's name: its time first, so names sort in time order. */
export function hotFileName(isoTime: string, device: string): string {
  return `${isoTime.replace(/[-:.]/g, "")}-${device}${device ? `-${randomBytes(4).toString("hex")}` : ""}`;
}

export class HotShipper {
  private queue: Uint8Array[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private shipping: Promise<void> | undefined;
  private readonly open = new Map<string, { backend: Backend; repository: Repository }>();
  /** Targets that failed: logged once until they work again. */
  private readonly failing = new Set<string>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly node: NodeContext,
    private readonly paths: HomePaths,
    private readonly log: Log,
    private readonly everyMs = SHIP_EVERY_MS,
  ) {}

  start(): void {
    this.unsubscribe = this.node.onChange((changesets) => {
      if (targetsForDaemon(this.paths, this.log).length === 0) return;
      for (const changeset of changesets) this.queue.push(changeset.bytes);
    });
    this.timer = setInterval(() => void this.ship(), this.everyMs);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.timer);
    await this.ship();
    for (const { backend } of this.open.values()) await backend.close().catch(() => {});
    this.open.clear();
  }

  /** Writes what is queued to every target; what fails to go waits for the next time. */
  private ship(): Promise<void> {
    if (this.shipping || this.queue.length === 0) return this.shipping ?? Promise.resolve();
    const batch = this.queue;
    this.queue = [];
    this.shipping = (async () => {
      const failed: Uint8Array[] = [];
      for (const target of targetsForDaemon(this.paths, this.log)) {
        try {
          const { repository, backend } = await this.repositoryOf(target);
          const name = hotFileName(new Date(this.node.now()).toISOString(), this.node.deviceName);
          await backend.write(`${HOT_DIR}/${name}`, sealChangesets(repository.keys, name, batch));
          if (this.failing.delete(target.name))
            this.log.info("hot backup resumed", { target: target.name });
        } catch (error) {
          if (!(error instanceof BuckyError)) throw error;
          this.open
            .get(target.name)
            ?.backend.close()
            .catch(() => {});
          this.open.delete(target.name);
          if (failed.length === 0) failed.push(...batch);
          if (!this.failing.has(target.name)) {
            this.failing.add(target.name);
            this.log.warn("hot backup failed; retrying", {
              target: target.name,
              error: error.message,
            });
          }
        }
      }
      // Kept for the next attempt (a target that works gets some twice; replay ignores repeats).
      this.queue.unshift(...failed);
    })().finally(() => {
      this.shipping = undefined;
    });
    return this.shipping;
  }

  private async repositoryOf(
    target: Target,
  ): Promise<{ backend: Backend; repository: Repository }> {
    const known = this.open.get(target.name);
    if (known) return known;
    const backend = await connect(target);
    try {
      const repository = await Repository.open(backend, backupRoot(this.paths, this.log), {
        withIndex: false,
      });
      const opened = { backend, repository };
      this.open.set(target.name, opened);
      return opened;
    } catch (error) {
      await backend.close();
      throw error;
    }
  }
}

/** Every changeset shipped hot to a repository, oldest file first. */
export async function hotChangesets(repository: Repository): Promise<Uint8Array[]> {
  const names = (await repository.backend.list(HOT_DIR)).sort();
  const changesets: Uint8Array[] = [];
  for (const name of names) {
    try {
      changesets.push(
        ...openChangesets(
          repository.keys,
          name,
          await repository.backend.read(`${HOT_DIR}/${name}`),
        ),
      );
    } catch (error) {
      if (error instanceof ProtocolError)
        throw new BuckyError("E_INTEGRITY", `hot file ${name} is damaged: ${error.message}`);
      throw error;
    }
  }
  return changesets;
}
