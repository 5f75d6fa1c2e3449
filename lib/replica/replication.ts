/**
 * This device's part in keeping the zone's app data on more than one device. For each
 * app with data, the convergence loop asks where it stands (zone-holding.ts), then has
 * this do its part: take the app over (write the copy out as the app's data, then claim
 * the next epoch), ship snapshots as holder, follow the holder as standby, send the last
 * snapshot on a planned move, or step down when another device holds a newer epoch. A
 * copy that never shipped is kept as a conflict copy, never deleted.
 */

import { randomBytes } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { eq } from "drizzle-orm";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { checkAppName } from "../../protocol/names.ts";
import type { HeadOnWire } from "../../protocol/replica.ts";
import { BLOB_ANSWER_BYTES, conflictCopyName, isConflictCopyName } from "../../protocol/replica.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import type { AppSpec } from "../apps/spec.ts";
import { fsyncDirectory, writeFileAtomic } from "../atomic-file.ts";
import { entriesUnder } from "../disk/tree.ts";
import { BuckyError } from "../errors.ts";
import { CONFLICTS_LISTED, type ReplicaFacts, readPayload } from "../facts/payload.ts";
import type { NodeContext } from "../node/node-context.ts";
import { runAll } from "../sliced.ts";
import { stateValue } from "../store/reads.ts";
import { presence } from "../store/schema.ts";
import { heldFactsOf } from "../sync/facts.ts";
import { claimKey, type HolderClaim } from "./claims.ts";
import { ReplicaFollower, VERIFY_EVERY_MS } from "./follower.ts";
import { type CopyPosition, copyOf, type Holding } from "./holding.ts";
import { type LossBound, lossBound, NO_FIGURE } from "./loss-bound.ts";
import { holdsFiles, materialize, replaceData } from "./materialize.ts";
import { ReplicaDb, type ReplicaHead } from "./replica-db.ts";
import { clearRestoredHeld, restoredHeldAt } from "./restored-copy.ts";
import { takeSnapshot } from "./snapshot.ts";
import { ReplicaSource } from "./source.ts";

export interface ConflictCopy {
  readonly name: string;
  readonly at: string;
  readonly bytes: number;
  /** The epoch in which its writes were made. */
  readonly epoch: number;
}

export class Replication {
  private readonly dbs = new Map<string, ReplicaDb>();
  private readonly sources = new Map<string, ReplicaSource>();
  private readonly followers = new Map<string, { follower: ReplicaFollower; holder: string }>();
  /**
   * Apps whose replica database was damaged and started anew here: held here, its
   * snapshots begin a new epoch (see renumber).
   */
  private readonly startedAnew = new Set<string>();
  /** The apps replicated (restAllBut): those whose copies every device weighs. */
  private replicated: ReadonlySet<string> = new Set();
  /** Each app's holder, as this device last arranged it: what a standby's copy is weighed against. */
  private readonly holders = new Map<string, HolderClaim>();

  constructor(
    private readonly node: NodeContext,
    private readonly options: {
      /** Told when this device's copies or heads change (its facts should say so). */
      readonly onChange: () => void;
      readonly snapshotEveryMs?: number;
      /** How often a standby reads its whole copy back (lib/replica/follower.ts). */
      readonly verifyEveryMs?: number;
    },
  ) {}

  /**
   * This device's own copy of an app's data, as it knows it now. One found damaged (and
   * not fetched again yet) is none: nothing is taken over from it (see takeOver).
   */
  ownCopy(app: string): CopyPosition | undefined {
    const db = this.existingDb(app);
    const head = db?.head();
    if ((db?.verification()?.damagedBlobs ?? 0) > 0) return undefined;
    return head && head.holder !== this.node.deviceName
      ? { holder: head.holder, epoch: head.epoch, seq: head.seq, final: head.final }
      : undefined;
  }

  /**
   * Takes an app over before it runs here: writes this device's copy out as the app's
   * data (when it has one to start from) and claims the next epoch.
   */
  takeOver(spec: AppSpec, holding: Holding): void {
    const me = this.node.deviceName;
    const app = spec.app;
    const db = this.db(app);
    // The epoch claimed here is new in any case.
    this.startedAnew.delete(app);
    clearRestoredHeld(this.appDir(app));
    const copy = db.head();
    const holder = holding.holder;
    const usable = copy && copy.holder !== me && (!holder || copyOf(copy, holder));
    if (holder && !usable)
      throw new BuckyError("E_INTERNAL", `no copy of ${app}'s data to take over from`);
    const dataDir = this.dataDir(app);
    if (usable) {
      // Whatever this device still has of the app is older, or never shipped: kept aside.
      if (holdsFiles(dataDir))
        this.keepConflict(app, dataDir, copy.epoch, holder?.device ?? copy.holder);
      try {
        replaceData(db, copy.root, dataDir);
      } catch (error) {
        if (!(error instanceof BuckyError && error.code === "E_INTEGRITY")) throw error;
        throw this.damagedAtTakeOver(app, db, copy.root);
      }
    }
    const epoch = Math.max(holder?.epoch ?? 0, copy?.epoch ?? 0) + 1;
    const loss = usable ? this.lossBound(copy, holder, holding.movingTo === me) : NO_FIGURE;
    this.claim(app, {
      epoch,
      from: usable
        ? {
            device: copy.holder,
            epoch: copy.epoch,
            seq: copy.seq,
            at: copy.at,
            content: copy.content,
          }
        : null,
      lostAtMostMs: loss.lostAtMostMs,
      ...(loss.lostUnknownReason !== null ? { lostUnknownReason: loss.lostUnknownReason } : {}),
    });
    if (holder)
      this.node.log.info("app taken over", {
        app,
        from: holder.device,
        epoch,
        lostAtMostMs: loss.lostAtMostMs ?? undefined,
        lost: loss.lostUnknownReason !== null ? "unknown" : undefined,
        why: loss.lostUnknownReason ?? undefined,
      });
    else
      this.node.log.info("app data held", { app, epoch, from: usable ? copy.holder : undefined });
    this.options.onChange();
  }

  /**
   * A copy found damaged as it was written out for a takeover: the app does not start on
   * it. How much is damaged is kept with the copy, so that it counts as none (ownCopy, and
   * in this device's facts for every other device: lib/replica/zone-holding.ts) and the
   * app's status says it, until the holder is back and the follower fetches it again.
   */
  private damagedAtTakeOver(app: string, db: ReplicaDb, root: string): BuckyError {
    const damaged = runAll(db.damagedSteps(root)).length;
    db.setVerification({ atMs: this.node.now(), damagedBlobs: damaged });
    this.options.onChange();
    return new BuckyError(
      "E_INTEGRITY",
      `${damaged} blob${damaged === 1 ? "" : "s"} of ${this.node.deviceName}'s copy of ${app}'s data ${damaged === 1 ? "is" : "are"} damaged: the app is not taken over from it`,
      "Another device with a whole copy takes it over; or bring back the device that held it, and this copy is fetched again from it.",
    );
  }

  /**
   * Whether this device's copy of the app's data is still `holder`'s newest snapshot, as the
   * holder answers now (asked not to wait for news). Not when it cannot say: a move then
   * arrives at a later pass.
   */
  async holdsNewestOf(app: string, holder: HolderClaim): Promise<boolean> {
    const copy = this.existingDb(app)?.head();
    const peer = this.node.peer(holder.device);
    if (!copy || copy.holder !== holder.device || !peer) return false;
    try {
      const newer = await this.node.client.get(
        peer,
        `/v1/replicas/${encodeURIComponent(app)}/head?epoch=${copy.epoch}&seq=${copy.seq}&waitMs=0`,
      );
      // Empty (204): nothing newer; none (404): it holds no such data.
      return newer !== undefined && newer.length === 0;
    } catch (error) {
      if (error instanceof BuckyError || error instanceof ProtocolError) return false;
      throw error;
    }
  }

  /** Whether the owner asked for a conflict copy of the app this device keeps. */
  wantsRestore(spec: AppSpec): boolean {
    const asked = spec.restoreCopy;
    return (
      asked?.device === this.node.deviceName &&
      this.conflicts(spec.app).some((copy) => copy.name === asked.name)
    );
  }

  /**
   * Brings a conflict copy back as the app's data (the app stopped here first) and claims
   * the epoch past every other: the holder until now steps down and keeps what it had as
   * a conflict copy in turn, so nothing is lost either way. A snapshot of the data under
   * way is let finish first: the data is not moved from under it.
   */
  async restoreCopy(spec: AppSpec, claims: readonly HolderClaim[]): Promise<void> {
    const asked = spec.restoreCopy;
    if (!asked) return;
    const app = spec.app;
    const dataDir = this.dataDir(app);
    const mine = claims.find((claim) => claim.device === this.node.deviceName);
    await this.stopSource(app);
    // Still there, and a copy (not a link, not deleted meanwhile): else nothing is moved.
    if (!this.conflicts(app).some((copy) => copy.name === asked.name)) return;
    if (holdsFiles(dataDir))
      this.keepConflict(app, dataDir, mine?.epoch ?? 0, this.node.deviceName);
    else rmSync(dataDir, { recursive: true, force: true });
    renameSync(join(this.conflictsDir(app), asked.name), dataDir);
    // In place for good before the epoch it starts is claimed.
    fsyncDirectory(dirname(dataDir));
    fsyncDirectory(this.conflictsDir(app));
    rmSync(join(this.conflictsDir(app), `${asked.name}.json`), { force: true });
    const epoch = Math.max(0, ...claims.map((claim) => claim.epoch)) + 1;
    this.claim(app, { epoch, from: null, lostAtMostMs: null, restoredCopy: asked.name });
    this.node.log.info("conflict copy restored", { app, copy: asked.name, epoch });
    this.options.onChange();
  }

  /**
   * Deletes a conflict copy this device keeps, on the owner's word at this device (`bucky
   * app delete-copy`): asked through this device's own daemon only, never by the zone
   * state, which any member writes. The copy is named as the zone lists it; a name not of a
   * copy's shape (`../data`) is refused before any path is made of it.
   */
  deleteCopy(app: string, name: string): ConflictCopy {
    const found =
      checkAppName(app).ok && isConflictCopyName(name)
        ? this.conflicts(app).find((copy) => copy.name === name)
        : undefined;
    if (!found)
      throw new BuckyError(
        "E_NOT_FOUND",
        `${this.node.deviceName} keeps no conflict copy ${name} of ${app}`,
        "See where each copy is kept with `bucky app status <app>`, and delete it on that device.",
      );
    rmSync(join(this.conflictsDir(app), name), { recursive: true, force: true });
    rmSync(join(this.conflictsDir(app), `${name}.json`), { force: true });
    this.node.log.info("conflict copy deleted", { app, copy: name, bytes: found.bytes });
    this.options.onChange();
    return found;
  }

  /**
   * Does this device's part for an app with data, the app itself being run or stopped by
   * the caller first: ship or follow snapshots, send the last one when the app moves
   * away, step down when another device holds a newer epoch.
   */
  async arrange(spec: AppSpec, holding: Holding, myClaim: HolderClaim | undefined): Promise<void> {
    const me = this.node.deviceName;
    const app = spec.app;
    const holder = holding.holder;
    if (holder && holder.device !== me && myClaim) await this.stepDown(app, myClaim, holder);
    if (holder) this.holders.set(app, holder);
    // A restored holder's mark is for the epoch it held: another holds the app now.
    if (holder && holder.device !== me) clearRestoredHeld(this.appDir(app));
    if (holder?.device === me) {
      // Opened first: a replica found damaged now starts anew before its epoch is chosen.
      this.db(app);
      const restoredAtMs = restoredHeldAt(this.appDir(app));
      const epoch =
        this.startedAnew.delete(app) || restoredAtMs !== undefined
          ? this.renumber(app, holder, restoredAtMs)
          : holder.epoch;
      const source = await this.source(app, epoch);
      if (holding.movingTo && holding.runner !== me) await source.snapshot(true);
    } else await this.stopSource(app);
    if (holder && holder.device !== me && holding.standbys.includes(me))
      await this.follow(app, holder.device);
    else await this.stopFollowing(app);
  }

  /**
   * An app removed from the zone: its snapshots and following stop. Its copy here and its
   * conflict copies go only when the owner purged it (its data is the caller's; the caller
   * checked the owner's grant), and with them this device's claim to
   * hold the app's data: a claim of data no longer there would have a new install of the app
   * start on this device, or wait for it, by an epoch of before the purge. Otherwise both
   * stay: the copy a leftover (`bucky status --disk`) that a new install goes on from.
   */
  async forget(app: string, purge: boolean): Promise<void> {
    await this.rest(app);
    if (!purge) return;
    if (existsSync(this.replicaDir(app))) {
      rmSync(this.replicaDir(app), { recursive: true, force: true });
      this.node.log.info("app data copy purged", { app });
    }
    // Its conflict copies are its data too: the owner's purge deletes them with the rest.
    if (existsSync(this.conflictsDir(app))) {
      rmSync(this.conflictsDir(app), { recursive: true, force: true });
      this.node.log.info("app conflict copies purged", { app });
    }
    const claim = claimKey(this.node.deviceName, app);
    if ((stateValue(this.node.db, claim) ?? null) === null) return;
    this.node.write([{ key: claim, value: null }]);
    this.node.log.info("app data claim dropped", { app, purge: true });
  }

  /**
   * Stops snapshotting and following every app but `apps` (those with a readable spec that
   * is not removed and has data): a spec deleted, or not of a spec's shape (any member
   * writes specs), stops them here as on every device, and deletes nothing: whatever copy
   * this device keeps stays, and a readable spec written back starts them again.
   */
  async restAllBut(apps: ReadonlySet<string>): Promise<void> {
    if (!sameSet(apps, this.replicated)) this.options.onChange();
    this.replicated = apps;
    for (const app of [...new Set([...this.sources.keys(), ...this.followers.keys()])])
      if (!apps.has(app)) await this.rest(app);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sources.keys()].map((app) => this.stopSource(app)));
    await Promise.all([...this.followers.keys()].map((app) => this.stopFollowing(app)));
    for (const db of this.dbs.values()) db.close();
    this.dbs.clear();
  }

  // The holder's side, for the peer API ------------------------------------------------

  /** `after` is the copy of this holder's that `standby` has whole, asking for a newer one. */
  async nextHead(
    app: string,
    standby: string,
    after: { epoch: number; seq: number },
    waitMs: number,
  ): Promise<HeadOnWire | undefined> {
    const source = this.sources.get(app);
    if (!source)
      throw new BuckyError(
        "E_NOT_FOUND",
        `this device does not hold ${app}'s data`,
        "Ask the device that does.",
      );
    if (source.asked(standby, after)) this.options.onChange();
    // Asked at once (holdsNewestOf): "nothing newer" only of data no write has changed since.
    return waitMs === 0 ? source.newestNow(after) : source.nextHead(after, waitMs);
  }

  /** The blobs asked for, in order, as many as fit in one answer; null for one not held. */
  blobs(app: string, ids: readonly string[]): (Uint8Array | null)[] {
    const db = this.sources.has(app) ? this.existingDb(app) : undefined;
    if (!db) throw new BuckyError("E_NOT_FOUND", `this device does not hold ${app}'s data`);
    const answer: (Uint8Array | null)[] = [];
    let bytes = 0;
    for (const id of ids) {
      if (bytes >= BLOB_ANSWER_BYTES) break;
      const blob = this.heldBlob(app, db, id);
      answer.push(blob);
      bytes += blob?.length ?? 0;
    }
    this.sources.get(app)?.served(bytes);
    return answer;
  }

  /**
   * A blob of the holder's replica, or null. One found damaged is dropped and said not
   * held, and the next snapshot reads the data again, which puts it back: it failed every
   * standby's fetch of every snapshot holding it, until the file it came from changed.
   */
  private heldBlob(app: string, db: ReplicaDb, id: string): Uint8Array | null {
    try {
      return db.get(id) ?? null;
    } catch (error) {
      if (!(error instanceof BuckyError && error.code === "E_INTEGRITY")) throw error;
      db.drop(id);
      this.sources.get(app)?.readAgain();
      this.node.log.warn("a damaged blob of app data dropped: read again from the data", {
        app,
        blob: id.slice(0, 12),
      });
      return null;
    }
  }

  acknowledge(app: string, device: string, body: { epoch: number; seq: number; at: number }): void {
    this.sources.get(app)?.acknowledge(device, body.epoch, body.seq, body.at);
    this.options.onChange();
  }

  // What this device says of itself ------------------------------------------------

  facts(): ReplicaFacts {
    const held: ReplicaFacts["held"] = {};
    for (const [app, source] of this.sources) {
      const head = source.head();
      if (!head) continue;
      held[app] = {
        epoch: head.epoch,
        seq: head.seq,
        // As each standby's position is timed: a snapshot found unchanged since holds more.
        at: source.heldAt() ?? head.at,
        bytes: head.bytes,
        servedBytes: source.servedBytes,
        standbys: Object.fromEntries(source.positions()),
      };
    }
    const copies: ReplicaFacts["copies"] = {};
    // Every copy kept here, followed or not: this device weighs its own in each decision
    // (ownCopy), and every device must weigh the same. Said only while followed, a device
    // that let go of following (a standby back from offline ranked before it) still took
    // the app over from its newer copy when the holder died, and so did that standby from
    // its older one, each knowing only its own: two in one epoch, and the older won.
    for (const app of this.keptCopies()) {
      const db = this.existingDb(app);
      const head = db?.head();
      const verified = db?.verification();
      if (head && head.holder !== this.node.deviceName)
        copies[app] = {
          epoch: head.epoch,
          seq: head.seq,
          at: head.at,
          final: head.final,
          holder: head.holder,
          bytes: head.bytes,
          ...(verified ? { verifiedAt: verified.atMs, damagedBlobs: verified.damagedBlobs } : {}),
        };
    }
    const conflicts: ReplicaFacts["conflicts"] = {};
    const conflictsKept: NonNullable<ReplicaFacts["conflictsKept"]> = {};
    for (const app of this.appsWithConflicts()) {
      const kept = this.conflicts(app);
      conflicts[app] = kept.slice(-CONFLICTS_LISTED);
      conflictsKept[app] = kept.length;
    }
    return { held, copies, conflicts, conflictsKept };
  }

  /**
   * The conflict copies of an app kept on this device, oldest first. Only a copy named as
   * a copy is (its description's own name, the file's), held as a directory of its own, not
   * a link: a home restored from the zone's backups takes copies other devices' snapshots
   * hold, and a name or link there must not lead a restore elsewhere on this device.
   */
  conflicts(app: string): ConflictCopy[] {
    const dir = this.conflictsDir(app);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((file) => file.endsWith(".json"))
      .flatMap((file) => {
        try {
          const copy = JSON.parse(readFileSync(join(dir, file), "utf8")) as ConflictCopy;
          const named = typeof copy.name === "string" && isConflictCopyName(copy.name);
          return named && file === `${copy.name}.json` && isDirectory(join(dir, copy.name))
            ? [copy]
            : [];
        } catch {
          return [];
        }
      })
      .sort((a, b) => compareCodeUnits(a.at, b.at));
  }

  // Inside ----------------------------------------------------------------------------

  /**
   * Another device holds a newer epoch: this one stops being the holder. Its data goes if
   * the new holder started from its last snapshot and nothing was written since; else it
   * is kept, whole, as a conflict copy.
   */
  private async stepDown(app: string, mine: HolderClaim, holder: HolderClaim): Promise<void> {
    await this.stopSource(app);
    const dataDir = this.dataDir(app);
    if (holdsFiles(dataDir)) {
      if (await this.shipped(app, mine, holder)) rmSync(dataDir, { recursive: true, force: true });
      else this.keepConflict(app, dataDir, mine.epoch, holder.device);
    } else rmSync(dataDir, { recursive: true, force: true });
    this.node.write([{ key: claimKey(this.node.deviceName, app), value: null }]);
    this.node.log.info("app data handed over", { app, to: holder.device, epoch: holder.epoch });
    this.options.onChange();
  }

  /**
   * Whether the new holder has everything this device's data holds: it started from a
   * snapshot of this device's, of this epoch, whose contents are the data's as it is now.
   */
  private async shipped(app: string, mine: HolderClaim, holder: HolderClaim): Promise<boolean> {
    const from = holder.from;
    if (from?.device !== this.node.deviceName || from.epoch !== mine.epoch || !from.content) {
      this.node.log.debug("the new holder did not take this device's data", {
        app,
        from: JSON.stringify(from),
        epoch: mine.epoch,
      });
      return false;
    }
    const db = this.db(app);
    const now = await takeSnapshot({
      db,
      dataDir: this.dataDir(app),
      cacheDir: join(this.replicaDir(app), "cache"),
      head: {
        app,
        epoch: mine.epoch,
        seq: 0,
        holder: this.node.deviceName,
        at: this.node.now(),
        final: false,
      },
    });
    this.node.log.debug("comparing data with what the new holder took", {
      app,
      mine: now.content,
      theirs: from.content,
    });
    return now.content === from.content;
  }

  /** Writes this device's claim on `app`'s data (lib/replica/claims.ts), from now. */
  private claim(
    app: string,
    claim: Pick<
      HolderClaim,
      "epoch" | "from" | "lostAtMostMs" | "lostUnknownReason" | "restoredCopy"
    >,
  ): void {
    const since = new Date(this.node.now()).toISOString();
    this.node.write([
      { key: claimKey(this.node.deviceName, app), value: JSON.stringify({ ...claim, since }) },
    ]);
  }

  /**
   * The holder's replica started anew (the damaged one moved aside, or a home restore
   * brought the data back without it): its snapshots would be numbered from 1 again in the
   * same epoch, and a standby's copy of an old snapshot taken for one of the new under the
   * same number (told caught up, or never told of newer data), or replaced by one of them
   * unseen. So it claims the next epoch, from the data it has, saying when that data is from
   * (now, or the backup's time): every copy of the epoch before is then older, each standby
   * fetches the new snapshots, and one whose copy is newer than that keeps it as a conflict
   * copy first (keepAsideIfNewer).
   */
  private renumber(app: string, mine: HolderClaim, restoredAtMs?: number): number {
    const epoch = mine.epoch + 1;
    const at = restoredAtMs ?? this.node.now();
    const restored =
      restoredAtMs === undefined
        ? undefined
        : `its data came back from a backup taken ${restoredAtMs > 0 ? new Date(restoredAtMs).toISOString() : "at a time not known"}: what was written after it may be missing here (a standby's newer copy is kept as a conflict copy)`;
    this.claim(app, {
      epoch,
      from: { device: this.node.deviceName, epoch: mine.epoch, seq: 0, at },
      lostAtMostMs: null,
      ...(restored ? { lostUnknownReason: restored } : {}),
    });
    clearRestoredHeld(this.appDir(app));
    this.node.log.info("app data held anew", {
      app,
      epoch,
      why: restored ? "its data came back from a backup" : "its replica was damaged",
    });
    this.options.onChange();
    return epoch;
  }

  /**
   * Before a standby's copy is replaced by a snapshot of another epoch: a copy newer than
   * the data the holder started that epoch from (copyNewerThan) may hold writes the holder
   * never had (it was away when the holder took over from an older copy, or the holder came
   * back from a backup), so it is kept whole as a conflict copy, to restore or delete. A
   * copy of this device's own snapshots is not: stepping down kept its data already.
   */
  private keepAsideIfNewer(app: string, own: ReplicaHead, db: ReplicaDb): void {
    if (own.holder === this.node.deviceName) return;
    // Replaced by a holder that began from nothing, it was the only copy: it went.
    if (!copyNewerThan(own, this.holders.get(app)?.from)) return;
    const aside = join(this.replicaDir(app), `aside-${randomBytes(4).toString("hex")}`);
    try {
      materialize(db, own.root, aside);
    } catch (error) {
      // Damaged, or not whole (a repair that failed): it cannot be kept whole, but what of
      // it was written out may hold the only writes of its holder left: kept, and said.
      // Thrown, it held this standby back at every round; dropped, those writes went.
      if (!(error instanceof BuckyError && ["E_INTEGRITY", "E_NOT_FOUND"].includes(error.code))) {
        rmSync(aside, { recursive: true, force: true });
        throw error;
      }
      this.node.log.warn(
        "a newer copy of app data is damaged or not whole: kept as far as it goes",
        {
          app,
          epoch: own.epoch,
          seq: own.seq,
          error: error.message,
        },
      );
    }
    this.keepConflict(app, aside, own.epoch, own.holder);
  }

  private keepConflict(app: string, dir: string, epoch: number, holder: string): void {
    const name = conflictCopyName(this.node.now(), this.node.deviceName, epoch);
    const target = join(this.conflictsDir(app), name);
    mkdirSync(this.conflictsDir(app), { recursive: true, mode: 0o700 });
    const bytes = sizeOf(dir);
    renameSync(dir, target);
    // Moved out for good before the data that replaces it moves in (the copy's record,
    // below, makes its new place durable).
    fsyncDirectory(dirname(dir));
    const copy: ConflictCopy = { name, at: new Date(this.node.now()).toISOString(), bytes, epoch };
    writeFileAtomic(
      join(this.conflictsDir(app), `${name}.json`),
      `${JSON.stringify(copy)}\n`,
      0o600,
    );
    this.node.log.warn("kept a conflict copy of app data", { app, copy: name, holder, bytes });
  }

  /**
   * At most how long the holder may have written after its last shipped snapshot was
   * taken, or why that is not known (lib/replica/loss-bound.ts). A move's last snapshot holds
   * everything only when the move arrives (`arrival`: the holder live, its app stopped for
   * it); taken over from a holder gone quiet, it says nothing of what the holder wrote
   * after: the move may have been given up, the app run there again.
   */
  private lossBound(
    copy: ReplicaHead,
    holder: HolderClaim | undefined,
    arrival: boolean,
  ): LossBound {
    if (copy.final && (arrival || !holder)) return { lostAtMostMs: 0, lostUnknownReason: null };
    if (!holder) return NO_FIGURE;
    const last = this.node.db
      .select({ at: presence.at, heardAt: presence.heardAt })
      .from(presence)
      .where(eq(presence.device, holder.deviceId as DeviceId))
      .get();
    if (!last) return NO_FIGURE;
    // The holder's own clock for its last presence and the snapshot's time; this device's
    // for when that was heard and when it was away.
    return lossBound({
      copyAtMs: this.heldUntil(copy, holder),
      holderSaidAtMs: last.at,
      holderHeardAtMs: last.heardAt,
      away: this.node.lastAway(),
      liveWindowMs: this.node.liveWindowMs,
    });
  }

  /**
   * Until when `copy` holds every write of the holder: when it was taken, or later, when
   * the holder said since (its facts) that its looks found the data unchanged from it.
   */
  private heldUntil(copy: ReplicaHead, holder: HolderClaim): number {
    const said = heldFactsOf(this.node.db, holder.deviceId);
    const held = said ? readPayload(said.facts).replicas?.held[copy.app] : undefined;
    return held?.epoch === copy.epoch && held.seq === copy.seq
      ? Math.max(copy.at, held.at)
      : copy.at;
  }

  /**
   * The app's snapshots at `epoch`, started if they are not: one of an older epoch is
   * stopped first, and a snapshot of it under way let finish, so that two never write the
   * replica database at once.
   */
  private async source(app: string, epoch: number): Promise<ReplicaSource> {
    const running = this.sources.get(app);
    if (running?.epoch === epoch) return running;
    await this.stopSource(app);
    const source = new ReplicaSource({
      app,
      epoch,
      device: this.node.deviceName,
      db: this.db(app),
      dataDir: this.dataDir(app),
      replicaDir: this.replicaDir(app),
      log: this.node.log,
      now: this.node.now,
      ...(this.options.snapshotEveryMs ? { everyMs: this.options.snapshotEveryMs } : {}),
    });
    this.sources.set(app, source);
    source.start();
    return source;
  }

  /** Stops the app's snapshots; settles once one under way is done. */
  private stopSource(app: string): Promise<void> {
    const source = this.sources.get(app);
    this.sources.delete(app);
    return source?.stop() ?? Promise.resolve();
  }

  /** Stops the app's snapshots and following, and lets go of its copy (kept on disk). */
  private async rest(app: string): Promise<void> {
    const held = this.sources.has(app);
    const followed = this.followers.has(app);
    await this.stopSource(app);
    await this.stopFollowing(app);
    this.dbs.get(app)?.close();
    this.dbs.delete(app);
    if (!held && !followed) return;
    this.node.log.info("app data replication stopped", {
      app,
      role: held ? "holder" : "standby",
    });
    this.options.onChange();
  }

  /** Follows `holder`'s snapshots of the app; following another holder stops first, its fetch under way let end. */
  private async follow(app: string, holder: string): Promise<void> {
    const current = this.followers.get(app);
    if (current?.holder === holder) return;
    await this.stopFollowing(app);
    const db = this.db(app);
    const follower = new ReplicaFollower({
      app,
      db,
      beforeReplacing: (own) => this.keepAsideIfNewer(app, own, db),
      holder: () => this.node.peer(holder),
      client: this.node.client,
      log: this.node.log,
      onCopy: () => this.options.onChange(),
      onVerified: () => this.options.onChange(),
      verifyEveryMs: this.options.verifyEveryMs ?? VERIFY_EVERY_MS,
      now: this.node.now,
    });
    this.followers.set(app, { follower, holder });
    follower.start();
  }

  private async stopFollowing(app: string): Promise<void> {
    const current = this.followers.get(app);
    this.followers.delete(app);
    await current?.follower.stop();
  }

  private db(app: string): ReplicaDb {
    let db = this.dbs.get(app);
    if (!db) {
      db = this.openReplica(app);
      this.dbs.set(app, db);
    }
    return db;
  }

  /**
   * Opens the app's replica database. One that is damaged (a failing disk, a file cut short)
   * is moved aside whole, never deleted, and the replica starts empty: it is a copy, fetched
   * again from the holder (or, held here, taken again from the data), and one app's damaged
   * copy must not stop the device with all else it does for the zone.
   */
  private openReplica(app: string): ReplicaDb {
    const path = join(this.replicaDir(app), "replica.db");
    try {
      return new ReplicaDb(path);
    } catch (error) {
      if (!(error instanceof BuckyError && error.code === "E_INTEGRITY")) throw error;
      this.startedAnew.add(app);
      const aside = join(
        this.replicaDir(app),
        `damaged-${new Date(this.node.now()).toISOString().replaceAll(":", "-")}`,
      );
      mkdirSync(aside, { recursive: true, mode: 0o700 });
      for (const suffix of ["", "-wal", "-shm"])
        if (existsSync(`${path}${suffix}`))
          renameSync(`${path}${suffix}`, join(aside, `replica.db${suffix}`));
      this.node.log.error("app data copy damaged: moved aside, and started anew", {
        app,
        aside,
        error: error.message,
      });
      return new ReplicaDb(path);
    }
  }

  private existingDb(app: string): ReplicaDb | undefined {
    return (
      this.dbs.get(app) ??
      (existsSync(join(this.replicaDir(app), "replica.db")) ? this.db(app) : undefined)
    );
  }

  /**
   * The apps replicated that this device keeps data of (a copy, or its own as holder): a
   * leftover of an app removed, or whose spec is garbled, is not weighed by anyone.
   */
  private keptCopies(): string[] {
    return [...this.replicated].filter((app) =>
      existsSync(join(this.replicaDir(app), "replica.db")),
    );
  }

  private appsWithConflicts(): string[] {
    const { appsDir } = this.node.zone.paths;
    if (!existsSync(appsDir)) return [];
    return readdirSync(appsDir).filter((app) => existsSync(this.conflictsDir(app)));
  }

  private appDir(app: string): string {
    return join(this.node.zone.paths.appsDir, app);
  }

  private dataDir(app: string): string {
    return join(this.appDir(app), "data");
  }

  private conflictsDir(app: string): string {
    return join(this.node.zone.paths.appsDir, app, "conflicts");
  }

  private replicaDir(app: string): string {
    return join(this.node.zone.paths.home, "replicas", app);
  }
}

/**
 * Whether a copy may hold writes that the data a holder started an epoch from does not: a
 * later snapshot of the snapshot it started from, or one taken after that data's time
 * (another holder's or epoch's, or where it started from no snapshot: seq 0, a backup's
 * data or data of its own). A holder that started from nothing known (`from` null: the
 * app started anew, its holder gone, or its copy restored) may lack any copy's writes.
 */
export function copyNewerThan(
  copy: Pick<ReplicaHead, "holder" | "epoch" | "seq" | "at">,
  from: HolderClaim["from"] | undefined,
): boolean {
  if (!from) return true;
  if (copy.holder === from.device && copy.epoch === from.epoch && from.seq > 0)
    return copy.seq > from.seq;
  return copy.at > from.at;
}

/** The bytes of the files under `dir` (links are not followed, nor counted). */
function sizeOf(dir: string): number {
  let total = 0;
  for (const { stats } of entriesUnder(dir)) if (stats.isFile()) total += stats.size;
  return total;
}

/** Whether `path` is a directory itself, not a link to one (nor anything else). */
function isDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}
