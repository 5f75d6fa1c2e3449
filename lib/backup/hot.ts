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
 * once, in its author's order, whichever files it came in. Each target has its own queue:
 * one that is away (its disk unplugged, its via device off) keeps what waits for it, within
 * bounds, while the others get each change once. How far each target got is kept in the
 * home (hot-shipped.ts): what waited for one when the daemon stopped, or was killed, goes
 * at its next start. Prune removes a device's hot files once its own newer snapshot holds
 * what they held.
 */
import { randomBytes } from "node:crypto";
import { ProtocolError } from "../../protocol/errors.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { Backend } from "./backend.ts";
import { nodeReach, openBackend } from "./connect.ts";
import { homeKeyring } from "./home-keyring.ts";
import { readHotShipped, writeHotShipped } from "./hot-shipped.ts";
import { clearHotFailing, readHotFailing, recordHotFailing } from "./hot-status.ts";
import { newestStateEpoch } from "./key-epochs.ts";
import { Repository } from "./repository.ts";
import { backupRoot } from "./run.ts";
import { openChangesets, sealChangesets } from "./sealed.ts";
import { knownTargetsForDaemon, type ResolvedTarget } from "./zone-targets.ts";

export const HOT_DIR = "hot";
/** How long changesets wait to be shipped together. */
const SHIP_EVERY_MS = 2_000;
/**
 * The longest a target that fails waits to be tried again: the wait doubles from
 * SHIP_EVERY_MS with each failure. A laptop away from the NAS it backs up to would
 * otherwise dial it every two seconds for as long as it is away.
 */
const MAX_RETRY_MS = 5 * 60_000;
/**
 * At most this many bytes of changesets go in one hot file: sealed and compressed, a file
 * stays within what one request to a via device carries.
 */
const FILE_MAX_BYTES = 8 * 1024 * 1024;
/**
 * A hot file is read only up to this size: any holder of the backup key can write one, and
 * a restore reads them all. One holds at most FILE_MAX_BYTES of changesets, in base64
 * and compressed: under 11 MiB, and mostly far less.
 */
export const MAX_HOT_FILE_BYTES = 4 * FILE_MAX_BYTES;
/** At most this many bytes of changesets wait for a target that is away. */
const QUEUE_MAX_BYTES = 64 * 1024 * 1024;

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

/** Changesets waiting for one target, oldest first. */
interface Waiting {
  changesets: Uint8Array[];
  bytes: number;
  /** The newest local order among them, or heard of when the newest came. */
  through: number;
}

export class HotShipper {
  /** What waits to go to each target: a target that fails keeps its own, the others go on. */
  private readonly queues = new Map<string, Waiting>();
  /** What is being shipped to each target now (taken out of `queues` until it went, or failed). */
  private readonly sending = new Map<string, Waiting>();
  /** How far each target has this device's changesets (hot-shipped.ts), by target name. */
  private readonly shipped: Map<string, number>;
  /** The record as last written (or read): written again only when it changed. */
  private savedRecord: string;
  /** Why the record's last write failed: said once until one goes. */
  private saveFailed: string | undefined;
  /** The newest local order heard of: every changeset up to it is queued or shipped. */
  private heardThrough = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When the timer goes (performance.now()). */
  private timerAtMs = 0;
  private stopped = false;
  private shipping: Promise<void> | undefined;
  private readonly open = new Map<
    string,
    {
      backend: Backend;
      repository: Repository;
      url: string;
      via: string | null;
      /** The newest key epoch the state held when it was opened. */
      epoch: number;
    }
  >();
  /**
   * Targets that failed: logged once, and recorded for the zone (hot-status.ts), until they
   * work again; those a daemon before this one recorded too.
   */
  private readonly failing: Set<string>;
  /**
   * Targets a daemon before this one recorded failing, tried again at the start: their
   * failure said once more if it goes on, so that the log tells what the status does.
   */
  private readonly probing = new Set<string>();
  /**
   * When each target that failed is tried again (performance.now(): a clock set back must
   * not hold it off for hours), the wait that came before, and where it was reached then
   * (a target pointed elsewhere is tried at once).
   */
  private readonly retry = new Map<
    string,
    {
      readonly atMs: number;
      readonly waitMs: number;
      readonly url: string;
      readonly via: string | null;
    }
  >();
  /** Targets whose oldest waiting changes were dropped: said once until they work again. */
  private readonly dropping = new Set<string>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly node: NodeContext,
    private readonly paths: HomePaths,
    private readonly log: Log,
    private readonly everyMs = SHIP_EVERY_MS,
  ) {
    this.failing = new Set(Object.keys(readHotFailing(paths)));
    const shipped = readHotShipped(paths);
    if (!shipped)
      log.warn("hot backup's record of what each target has is damaged; shipping from now on", {
        file: "backup/hot-shipped.json",
      });
    this.shipped = new Map(Object.entries(shipped ?? {}));
    this.savedRecord = JSON.stringify(shipped ?? {});
  }

  start(): void {
    this.heardThrough = this.newestOrder();
    this.resume();
    this.unsubscribe.push(
      this.node.onChange((changesets) => this.heard(changesets)),
      this.node.onRebase(() => this.rebased()),
    );
  }

  private heard(changesets: readonly { bytes: Uint8Array }[]): void {
    const through = this.newestOrder();
    for (const { name } of this.targets()) {
      let queue = this.queues.get(name);
      if (queue) {
        for (const changeset of changesets) {
          queue.changesets.push(changeset.bytes);
          queue.bytes += changeset.bytes.length;
        }
      } else {
        // A target first seen starts here: what came before, its first snapshots hold. One
        // behind with nothing queued (its record was read again after damage, a checkpoint
        // came meanwhile) takes what it lacks from the zone state, this change among it,
        // but what a ship under way carries.
        if (!this.shipped.has(name)) this.shipped.set(name, this.heardThrough);
        const from = Math.max(
          this.shipped.get(name) as number,
          this.sending.get(name)?.through ?? 0,
        );
        queue = this.changesetsAfter(from);
        this.queues.set(name, queue);
      }
      queue.through = through;
      this.bound(name, queue);
      this.arm();
    }
    this.heardThrough = through;
    this.save();
  }

  /**
   * The state replaced by a peer's checkpoint: the changesets it stored, which this device
   * lacked, are the zone's history, not changes made here since; nothing heard of is
   * shipped for them (the snapshots hold what they wrote). A target with nothing waiting
   * moves past them; what waits goes as it would, and once it went, the target is past
   * them too. One that is still behind when the daemon stops ships them with what it
   * lacks at the next start (a replay takes each once).
   */
  private rebased(): void {
    const newest = this.newestOrder();
    for (const [name, order] of this.shipped)
      if (order >= this.heardThrough) this.shipped.set(name, newest);
    for (const queue of [...this.queues.values(), ...this.sending.values()]) queue.through = newest;
    this.heardThrough = newest;
    this.save();
  }

  /**
   * At the start, queues for each target what a daemon before this one did not ship to it:
   * what waited while it was away when that daemon stopped or was killed, and what was
   * written while none ran. A target recorded failing with nothing waiting is sent the
   * newest changeset again (a replay takes each once): in a quiet zone no change would
   * come to try it for hours, and every device would go on saying it fails though it was
   * mended meanwhile (and, the backups there working, warn of it). A target never shipped
   * to starts from now: its snapshots hold what came before.
   */
  private resume(): void {
    const targets = this.knownTargets();
    // Its file of connections damaged: the first change, once it reads again, tries them.
    if (!targets) return;
    const names = new Set(targets.map((target) => target.name));
    for (const name of this.failing)
      if (!names.has(name)) {
        // Removed from the zone while no daemon ran: nothing of it is said any more.
        this.failing.delete(name);
        clearHotFailing(this.paths, name);
      }
    for (const name of [...this.shipped.keys()]) if (!names.has(name)) this.shipped.delete(name);
    const newest = this.heardThrough;
    for (const { name } of targets) {
      if (!this.shipped.has(name)) this.shipped.set(name, newest);
      const shipped = this.shipped.get(name) as number;
      const failing = this.failing.has(name);
      // Failing with nothing waiting: the newest again, to try it (a zone compacted down to
      // its checkpoint has none, and its next change tries it).
      const waiting = this.changesetsAfter(failing ? Math.min(shipped, newest - 1) : shipped);
      if (waiting.changesets.length === 0) continue;
      if (failing) this.probing.add(name);
      this.queues.set(name, waiting);
      this.bound(name, waiting);
    }
    this.save();
    if (this.queues.size > 0) this.arm();
  }

  /**
   * The changesets held past local order `from`, oldest first: the newest of them only,
   * once past what a target's queue keeps (bound() then drops one more, and says so).
   */
  private changesetsAfter(from: number): Waiting {
    const waiting: Waiting = { changesets: [], bytes: 0, through: this.heardThrough };
    for (const row of this.node.db.$client
      .query<{ bytes: Uint8Array }, [number]>(
        "SELECT bytes FROM changesets WHERE local_order > ?1 ORDER BY local_order DESC",
      )
      .iterate(from)) {
      waiting.changesets.push(new Uint8Array(row.bytes));
      waiting.bytes += row.bytes.length;
      if (waiting.bytes > QUEUE_MAX_BYTES) break;
    }
    waiting.changesets.reverse();
    return waiting;
  }

  /** The newest changeset's local order (0 with none held). */
  private newestOrder(): number {
    return (
      this.node.db.$client
        .query<{ newest: number | null }, []>("SELECT max(local_order) AS newest FROM changesets")
        .get()?.newest ?? 0
    );
  }

  /**
   * Writes how far each target got, where that changed. A write that fails (a full disk)
   * is said once and tried again at the next change: the record left behind only makes a
   * start ship again what went since, which a replay takes once.
   */
  private save(): void {
    const record = JSON.stringify(Object.fromEntries(this.shipped));
    if (record === this.savedRecord) return;
    try {
      writeHotShipped(this.paths, Object.fromEntries(this.shipped));
      this.savedRecord = record;
      this.saveFailed = undefined;
    } catch (error) {
      // Whatever the file system says: the shipping goes on.
      const message = error instanceof Error ? error.message : String(error);
      if (this.saveFailed !== message)
        this.log.warn("hot backup could not record what each target has", { error: message });
      this.saveFailed = message;
    }
  }

  /**
   * Ships in everyMs what waits then, and again after while anything still waits: what
   * came meanwhile, or a target that failed, once its wait is over. With nothing to ship,
   * nothing wakes the daemon.
   */
  private arm(delayMs = this.everyMs): void {
    if (this.stopped) return;
    const atMs = performance.now() + delayMs;
    if (this.timer !== undefined) {
      // A change for a target that works goes in everyMs, not at the end of the wait of
      // one that fails, which the timer may be set for.
      if (this.timerAtMs <= atMs) return;
      clearTimeout(this.timer);
    }
    this.timerAtMs = atMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.ship().then(() => {
        if (this.queues.size > 0) this.arm(this.nextShipInMs());
      });
    }, delayMs);
  }

  /** How long until something waiting is due: everyMs, or the nearest wait's end. */
  private nextShipInMs(): number {
    const now = performance.now();
    let soonest = Number.POSITIVE_INFINITY;
    for (const name of this.queues.keys())
      soonest = Math.min(soonest, (this.retry.get(name)?.atMs ?? now) - now);
    return Math.max(this.everyMs, Math.ceil(soonest));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    clearTimeout(this.timer);
    // What waits goes now, a target waiting out a failure tried once more too: the next
    // start would ship it, but no daemon may run again on this box.
    await this.shipping;
    await this.ship(true);
    for (const { backend } of this.open.values()) await backend.close().catch(() => {});
    this.open.clear();
  }

  /**
   * Writes what waits for each target to it; what fails to go waits for the next time.
   * A target that failed is tried once its wait is over (`all`: now).
   */
  private ship(all = false): Promise<void> {
    if (this.shipping || this.queues.size === 0) return this.shipping ?? Promise.resolve();
    this.shipping = (async () => {
      const known = this.knownTargets();
      // Its file of connections damaged: nothing is taken for removed; all waits.
      if (!known) return;
      const targets = new Map(known.map((t) => [t.name, t]));
      for (const [name, queue] of [...this.queues]) {
        const target = targets.get(name);
        const retry = this.retry.get(name);
        // One that failed waits its turn (what comes for it meanwhile waits with it), unless
        // it is reached otherwise now.
        if (
          target &&
          retry &&
          !all &&
          performance.now() < retry.atMs &&
          retry.url === target.url &&
          retry.via === target.via
        )
          continue;
        this.queues.delete(name);
        if (!target) {
          // Removed from the zone meanwhile: nothing of it is said any more.
          this.retry.delete(name);
          this.shipped.delete(name);
          if (this.failing.delete(name)) clearHotFailing(this.paths, name);
          continue;
        }
        this.sending.set(name, queue);
        try {
          const { repository, backend } = await this.repositoryOf(target);
          for (const part of filesOf(queue.changesets)) {
            const file = hotFileName(new Date(this.node.now()).toISOString(), this.node.deviceName);
            await backend.write(`${HOT_DIR}/${file}`, sealChangesets(repository.keys, file, part));
          }
          this.shipped.set(name, Math.max(this.shipped.get(name) ?? 0, queue.through));
          this.dropping.delete(name);
          this.probing.delete(name);
          this.retry.delete(name);
          if (this.failing.delete(name)) {
            clearHotFailing(this.paths, name);
            this.log.info("hot backup resumed", { target: name });
          }
        } catch (error) {
          if (!(error instanceof BuckyError)) throw error;
          this.open
            .get(name)
            ?.backend.close()
            .catch(() => {});
          this.open.delete(name);
          // Kept, ahead of what came meanwhile, for the next attempt (if a part went, it
          // goes again: a replay takes each changeset once).
          const later = this.queues.get(name);
          const kept = {
            changesets: [...queue.changesets, ...(later?.changesets ?? [])],
            bytes: queue.bytes + (later?.bytes ?? 0),
            through: later?.through ?? queue.through,
          };
          this.queues.set(name, kept);
          this.bound(name, kept);
          const waitMs = Math.min(
            MAX_RETRY_MS,
            2 * (this.retry.get(name)?.waitMs ?? this.everyMs / 2),
          );
          this.retry.set(name, {
            atMs: performance.now() + waitMs,
            waitMs,
            url: target.url,
            via: target.via,
          });
          if (this.probing.delete(name))
            this.log.warn("hot backup still fails since before this start; retrying", {
              target: name,
              error: error.message,
            });
          else if (!this.failing.has(name)) {
            this.failing.add(name);
            recordHotFailing(
              this.paths,
              name,
              new Date(this.node.now()).toISOString(),
              error.message,
            );
            this.log.warn("hot backup failed; retrying", { target: name, error: error.message });
          } else
            this.log.debug("hot backup failed again", {
              target: name,
              retryInMs: waitMs,
              error: error.message,
            });
        } finally {
          this.sending.delete(name);
        }
      }
    })().finally(() => {
      this.save();
      this.shipping = undefined;
    });
    return this.shipping;
  }

  /**
   * Keeps what waits for a target that is away within bounds: past them the oldest go (the
   * zone state holds them, and so will the next snapshot), said once.
   */
  private bound(name: string, queue: Waiting): void {
    if (queue.bytes <= QUEUE_MAX_BYTES) return;
    let dropped = 0;
    while (queue.bytes > QUEUE_MAX_BYTES && queue.changesets.length > 1) {
      queue.bytes -= (queue.changesets.shift() as Uint8Array).length;
      dropped++;
    }
    if (this.dropping.has(name)) return;
    this.dropping.add(name);
    this.log.warn(
      "hot backup behind: the oldest changes waiting were dropped; the next backup holds them",
      { target: name, dropped },
    );
  }

  private targets(): ResolvedTarget[] {
    return this.knownTargets() ?? [];
  }

  /** The targets, or undefined while this device's file of connections is damaged. */
  private knownTargets(): ResolvedTarget[] | undefined {
    return knownTargetsForDaemon(this.paths, this.node.db, this.node.deviceName, this.log);
  }

  private async repositoryOf(
    target: ResolvedTarget,
  ): Promise<{ backend: Backend; repository: Repository }> {
    const known = this.open.get(target.name);
    // A target removed and added again under its name is another repository; a key epoch
    // new since it was opened (a device revoked) is sealed under from the next file on.
    const epoch = newestStateEpoch(this.node.db);
    if (known && known.url === target.url && known.via === target.via && known.epoch === epoch)
      return known;
    if (known) {
      this.open.delete(target.name);
      await known.backend.close().catch(() => {});
    }
    const backend = await openBackend(target, nodeReach(this.node));
    try {
      const membership = this.node.membership();
      const keyring = await homeKeyring(
        this.paths,
        backupRoot(this.paths, this.log),
        backend,
        this.log,
        {
          sealing: true,
          zone: {
            zone: this.node.zoneId,
            db: this.node.db,
            nameOf: (id) => membership.byId.get(id)?.name ?? id,
          },
        },
      );
      const repository = await Repository.open(backend, keyring.roots, { withIndex: false });
      await keyring.fileOnTarget();
      const opened = { backend, repository, url: target.url, via: target.via, epoch };
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

/**
 * Every changeset shipped hot to a repository, oldest file first. A file that does not
 * open, or is larger than one can be, is left out and said (`unreadable`), not an error:
 * any holder of the backup key can write one, and it must not stop every restore. What it
 * held, if it was genuine, is seconds of zone state the devices' snapshots mostly hold.
 */
export async function hotChangesets(repository: Repository): Promise<{
  changesets: Uint8Array[];
  unreadable: { name: string; problem: string }[];
  /** Whether hot/ held more than a listing takes: only the files listed were replayed. */
  cut: boolean;
}> {
  // Cut, not refused, past the listing cap: hot/ grows by a file every 2 s of changes until
  // a prune clears it, and an honest one past the cap must not stop every restore.
  const listing = await repository.backend.listCut(HOT_DIR);
  const names = listing.names.sort(compareCodeUnits);
  const changesets: Uint8Array[] = [];
  const unreadable: { name: string; problem: string }[] = [];
  for (const name of names) {
    try {
      const sealed = await repository.backend.read(`${HOT_DIR}/${name}`, MAX_HOT_FILE_BYTES);
      changesets.push(...openChangesets(repository.keys, name, sealed));
    } catch (error) {
      if (error instanceof ProtocolError) unreadable.push({ name, problem: error.message });
      else if (error instanceof BuckyError && error.code === "E_TOO_LARGE")
        unreadable.push({ name, problem: "it is larger than a hot file can be" });
      else throw error;
    }
  }
  return { changesets, unreadable, cut: listing.cut };
}
