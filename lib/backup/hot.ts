/**
 * The hot backup beside the cold one: while the daemon runs, every changeset of the zone
 * state (written here or received from a peer) is sealed and written to each backup
 * target within seconds, as `hot/<time>-<device>-<random>`. Losing the box then loses at
 * most those seconds of zone state: a restore replays the hot changesets on top of the
 * latest snapshot (they are signed, so each is checked as any changeset from a peer).
 *
 * Every device that holds the backup key ships what it sees, to every target of the zone
 * (through the via device for one it does not reach itself), each in files of its own
 * name: several devices never write the same file, and a replay takes each changeset
 * once, in its author's order, whichever files it came in. Prune removes a device's hot
 * files once its own newer snapshot holds what they held.
 */
import { randomBytes } from "node:crypto";
import { ProtocolError } from "../../protocol/errors.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { Backend } from "./backend.ts";
import { openBackend } from "./connect.ts";
import { Repository } from "./repository.ts";
import { backupRoot } from "./run.ts";
import { openChangesets, sealChangesets } from "./sealed.ts";
import { type ResolvedTarget, targetsForDaemon } from "./zone-targets.ts";

export const HOT_DIR = "hot";
/** How long changesets wait to be shipped together. */
const SHIP_EVERY_MS = 2_000;
/**
 * At most this many bytes of changesets go in one hot file: sealed and compressed, a file
 * stays within what one request to a via device carries.
 */
const FILE_MAX_BYTES = 8 * 1024 * 1024;

/** A hot file's name: its time first, so names sort in time order. */
export function hotFileName(isoTime: string, device: string): string {
  return `${compactTime(isoTime)}-${device}${device ? `-${randomBytes(4).toString("hex")}` : ""}`;
}

/** A time as it starts a hot file's name: hot files before it sort before it. */
export function compactTime(isoTime: string): string {
  return isoTime.replace(/[-:.]/g, "");
}

/** The device a hot file (its name, or its path) is in the name of. */
export function hotFileDevice(name: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  return base.slice(base.indexOf("Z-") + 2, base.lastIndexOf("-"));
}

export class HotShipper {
  private queue: Uint8Array[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private shipping: Promise<void> | undefined;
  private readonly open = new Map<
    string,
    { backend: Backend; repository: Repository; url: string; via: string | null }
  >();
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
      if (this.targets().length === 0) return;
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
      for (const target of this.targets()) {
        try {
          const { repository, backend } = await this.repositoryOf(target);
          for (const part of filesOf(batch)) {
            const name = hotFileName(new Date(this.node.now()).toISOString(), this.node.deviceName);
            await backend.write(`${HOT_DIR}/${name}`, sealChangesets(repository.keys, name, part));
          }
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

  private targets(): ResolvedTarget[] {
    return targetsForDaemon(this.paths, this.node.db, this.node.deviceName, this.log);
  }

  private async repositoryOf(
    target: ResolvedTarget,
  ): Promise<{ backend: Backend; repository: Repository }> {
    const known = this.open.get(target.name);
    // A target removed and added again under its name is another repository.
    if (known && known.url === target.url && known.via === target.via) return known;
    if (known) {
      this.open.delete(target.name);
      await known.backend.close().catch(() => {});
    }
    const backend = await openBackend(target, {
      client: this.node.client,
      peers: this.node.peers(),
    });
    try {
      const repository = await Repository.open(backend, backupRoot(this.paths, this.log), {
        withIndex: false,
      });
      const opened = { backend, repository, url: target.url, via: target.via };
      this.open.set(target.name, opened);
      return opened;
    } catch (error) {
      await backend.close();
      throw error;
    }
  }
}

/** The batch cut in parts that each fit one hot file. */
function filesOf(batch: readonly Uint8Array[]): Uint8Array[][] {
  const files: Uint8Array[][] = [];
  let file: Uint8Array[] = [];
  let bytes = 0;
  for (const changeset of batch) {
    if (file.length > 0 && bytes + changeset.length > FILE_MAX_BYTES) {
      files.push(file);
      file = [];
      bytes = 0;
    }
    file.push(changeset);
    bytes += changeset.length;
  }
  if (file.length > 0) files.push(file);
  return files;
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
