/**
 * A standby's side of an app's replication: it asks the holder for its newest snapshot
 * (waiting there until there is one newer than its own), fetches the blobs it lacks,
 * checks each against its id, and moves its head only once the snapshot is whole; then it
 * tells the holder, and drops what no longer serves. Through relays as well as directly:
 * every call goes through the peer client.
 *
 * Between rounds it reads its whole copy back now and then (verifyEveryMs), a slice at a
 * time: a blob a failing disk damaged would otherwise be found only when the copy is
 * needed, at a failover, with the holder gone and nothing to fetch it again from. What it
 * finds damaged is fetched again from the holder at once, and said in its facts.
 */
import { decodeTree } from "../../protocol/backup/formats.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import {
  decodeBlobAnswer,
  decodeHead,
  encodeBlobRequest,
  encodeReplicaAck,
  MAX_BLOBS_PER_REQUEST,
} from "../../protocol/replica.ts";
import { parseJsonBytes } from "../../protocol/shape.ts";
import { BuckyError, isPassing } from "../errors.ts";
import type { Log } from "../log.ts";
import type { PeerClient } from "../node/peer-client.ts";
import type { Peer } from "../node/peers.ts";
import { runSliced } from "../sliced.ts";
import type { CopyVerification, ReplicaDb, ReplicaHead } from "./replica-db.ts";

/** How long the holder may keep a request for news. */
export const HEAD_WAIT_MS = 8_000;
/** How often a standby reads its whole copy back, unless told otherwise: once a day. */
export const VERIFY_EVERY_MS = 24 * 60 * 60 * 1000;
const RETRY_FIRST_MS = 500;

const RETRY_MAX_MS = 10_000;

export class ReplicaFollower {
  private stopped = false;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private problem: string | undefined;

  constructor(
    private readonly options: {
      readonly app: string;
      readonly db: ReplicaDb;
      /** The device holding the app now (it may change while following). */
      readonly holder: () => Peer | undefined;
      readonly client: PeerClient;
      readonly log: Log;
      /** Told after each whole snapshot. */
      readonly onCopy: (head: ReplicaHead) => void;
      /**
       * Told before the copy held (`own`) is replaced by a snapshot of another holder or
       * epoch, its blobs still there: a copy newer than where the holder began may be kept.
       */
      readonly beforeReplacing?: (own: ReplicaHead) => void;
      /** Told when a reading back of the copy found it whole, or damaged. */
      readonly onVerified: () => void;
      readonly verifyEveryMs: number;
      readonly now: () => number;
    },
  ) {}

  /** The last reading back of this copy, here or before a restart (kept in the replica). */
  verified(): CopyVerification | undefined {
    return this.options.db.verification();
  }

  private setVerified(verification: CopyVerification): void {
    this.options.db.setVerification(verification);
    this.options.onVerified();
  }

  /** Read back again when it is time, and at once while damage found is not repaired. */
  private verifyDue(): boolean {
    const last = this.verified();
    return (
      !last || last.damagedBlobs > 0 || this.options.now() - last.atMs >= this.options.verifyEveryMs
    );
  }

  /**
   * Reads back every blob of the copy, a slice at a time; those damaged (or missing) are
   * dropped and fetched again from the holder. A holder that moved on to a newer snapshot
   * meanwhile has them no more: the copy then says its damage until the next snapshot,
   * fetched whole with every blob dropped, makes it whole again.
   */
  private async verify(holder: Peer): Promise<void> {
    const { app, db, log } = this.options;
    const head = db.head();
    if (head?.holder !== holder.name) return;
    const damaged = await runSliced(db.damagedSteps(head.root), () => this.stopped);
    if (damaged === undefined) return;
    if (damaged.length > 0) {
      this.setVerified({ atMs: this.options.now(), damagedBlobs: damaged.length });
      log.warn("damaged blobs found in a copy of app data: fetched again from the holder", {
        app,
        holder: holder.name,
        blobs: damaged.length,
      });
      for (const id of damaged) db.drop(id);
      await this.fetchWhole(holder, head.root);
      log.info("copy of app data repaired", { app, blobs: damaged.length });
    }
    this.setVerified({ atMs: this.options.now(), damagedBlobs: 0 });
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Stops following; a request under way is called off, so this takes no longer than a moment. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.running;
  }

  /** The snapshot this standby has whole. */
  copy(): ReplicaHead | undefined {
    return this.options.db.head();
  }

  private async loop(): Promise<void> {
    let waitMs = RETRY_FIRST_MS;
    while (!this.stopped) {
      const holder = this.options.holder();
      try {
        if (!holder)
          throw new BuckyError("E_UNAVAILABLE", "the holder has published no address yet");
        await this.follow(holder);
        if (!this.stopped && this.verifyDue()) await this.verify(holder);
        waitMs = RETRY_FIRST_MS;
        if (this.problem) {
          this.options.log.info("following app data again", {
            app: this.options.app,
            holder: holder.name,
          });
          this.problem = undefined;
        }
      } catch (error) {
        if (this.stopped) return;
        // A full disk (or a database held elsewhere) passes too: waited out as a holder
        // away is. Thrown, it ended the daemon, at every start while the disk stayed full.
        if (
          !(error instanceof BuckyError) &&
          !(error instanceof ProtocolError) &&
          !isPassing(error)
        )
          throw error;
        if (this.problem !== (error as Error).message)
          this.options.log.warn("cannot follow app data", {
            app: this.options.app,
            holder: holder?.name,
            error: (error as Error).message,
          });
        this.problem = (error as Error).message;
        await this.pause(waitMs);
        waitMs = Math.min(RETRY_MAX_MS, waitMs * 2);
      }
    }
  }

  /** Waits `ms`, or less when stopped. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.abort.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** One round: the holder's next head, fetched whole if it is new. */
  private async follow(holder: Peer): Promise<void> {
    const { app, db, client } = this.options;
    // A snapshot this device took itself, when it held the app, is no copy of this holder's.
    const own = db.head();
    const have = own?.holder === holder.name ? own : undefined;
    const body = await client.get(
      holder,
      `/v1/replicas/${encodeURIComponent(app)}/head?epoch=${have?.epoch ?? 0}&seq=${have?.seq ?? 0}&waitMs=${HEAD_WAIT_MS}`,
      HEAD_WAIT_MS + 5_000,
      this.abort.signal,
    );
    if (this.stopped) return;
    // A 404: the holder holds no such app's data (restarting, before it takes the app up
    // again; an older version). Waited out like a holder not answering: asked again at
    // once, every standby would send it requests as fast as it answers them.
    if (!body)
      throw new BuckyError(
        "E_UNAVAILABLE",
        `${holder.name} does not hold ${app}'s data (yet)`,
        "The standby asks again shortly.",
      );
    // Nothing newer came while the holder waited.
    if (body.length === 0) return;
    const head: ReplicaHead = decodeHead(
      parseJsonBytes(body, `${holder.name}'s head of ${app}`),
      app,
    );
    // A head of another device, or none newer than asked for, is no answer: waited out as
    // one, since asked again at once, a peer answering so would keep this standby spinning.
    if (head.holder !== holder.name || (have && head.epoch === have.epoch && head.seq <= have.seq))
      throw new BuckyError(
        "E_UNAVAILABLE",
        `${holder.name} answered with a head of ${app} that is not its newer one`,
        "The standby asks again shortly.",
      );
    await this.fetchWhole(holder, head.root);
    if (own && (own.holder !== head.holder || own.epoch !== head.epoch))
      this.options.beforeReplacing?.(own);
    db.setHead(head);
    db.collect([head.root]);
    this.options.onCopy(head);
    await client.post(
      holder,
      `/v1/replicas/${encodeURIComponent(app)}/ack`,
      encodeReplicaAck({ epoch: head.epoch, seq: head.seq, at: head.at }),
      { contentType: "application/json", repeatable: true },
    );
  }

  /**
   * Fetches every blob of the snapshot at `root` that this replica lacks: trees first,
   * level by level, each distinct tree once (a tree naming one subtree many times, over
   * and over down a few levels, would otherwise be walked and asked for as many times as
   * it has paths: a few kilobytes from a hostile holder, billions of requests).
   */
  private async fetchWhole(holder: Peer, root: string): Promise<void> {
    const { db } = this.options;
    let trees = [root];
    const seen = new Set(trees);
    const data = new Set<string>();
    while (trees.length > 0) {
      await this.fetch(
        holder,
        trees.filter((id) => !db.has(id)),
      );
      const next: string[] = [];
      for (const tree of trees) {
        for (const node of decodeTree(await this.intactTree(holder, tree))) {
          if (node.type === "dir") {
            if (!seen.has(node.subtree)) next.push(node.subtree);
            seen.add(node.subtree);
          } else if (node.type === "file")
            for (const id of node.content) if (!db.has(id)) data.add(id);
        }
      }
      trees = next;
    }
    await this.fetch(holder, [...data]);
  }

  /**
   * The bytes of tree `id`, which the replica holds. One damaged on this device's disk is
   * dropped and fetched again: kept, it would stop every snapshot that shares it from being
   * read, and the standby would follow no more.
   */
  private async intactTree(holder: Peer, id: string): Promise<Uint8Array> {
    const { db } = this.options;
    try {
      return db.get(id) as Uint8Array;
    } catch (error) {
      if (!(error instanceof BuckyError && error.code === "E_INTEGRITY")) throw error;
      db.drop(id);
      this.options.log.warn("dropped a damaged blob of app data, to fetch it again", {
        app: this.options.app,
        blob: id.slice(0, 12),
      });
      await this.fetch(holder, [id]);
      return db.get(id) as Uint8Array;
    }
  }

  private async fetch(holder: Peer, ids: readonly string[]): Promise<void> {
    let rest = [...ids];
    while (rest.length > 0 && !this.stopped) {
      const asked = rest.slice(0, MAX_BLOBS_PER_REQUEST);
      const answer = decodeBlobAnswer(
        await this.options.client.post(
          holder,
          `/v1/replicas/${encodeURIComponent(this.options.app)}/blobs`,
          encodeBlobRequest(asked),
          { signal: this.abort.signal, repeatable: true },
        ),
        asked.length,
      );
      // The holder answers in order, as many as fit; a blob it no longer has is null.
      if (answer.length === 0 || answer.includes(null))
        throw new BuckyError(
          "E_UNAVAILABLE",
          "the holder has moved on to a newer snapshot",
          "The standby takes the newer one next.",
        );
      this.options.db.putVerified(
        answer.map((blob, i) => [asked[i] as string, blob as Uint8Array] as const),
      );
      rest = rest.slice(answer.length);
    }
    // Stopped half-way: what came is no whole snapshot, and must never be taken for one.
    if (rest.length > 0)
      throw new BuckyError("E_UNAVAILABLE", "stopped following before the snapshot was whole");
  }
}
