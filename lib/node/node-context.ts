/**
 * The running node's shared parts, made once by openNode: the open zone, this device's
 * TLS identity and store, what it knows of its peers, and the two ways state changes (a
 * local write, or changesets from a peer), each of which tells whoever listens.
 */

import { existsSync } from "node:fs";
import type { Changeset, Op } from "../../protocol/changeset.ts";
import { decodeOffer } from "../../protocol/checkpoint.ts";
import { type DeviceFacts, signFacts } from "../../protocol/device-facts.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { zoneIdFromPublicKey } from "../../protocol/ids.ts";
import { signPresence } from "../../protocol/presence.ts";
import type { VersionVector } from "../../protocol/sync-messages.ts";
import { WRITE_RULES_LEVEL } from "../../protocol/write-rules.ts";
import { AuditProgress } from "../agent/audit-progress.ts";
import { AppDoors } from "../apps/door.ts";
import { PurgeGrants, UnsandboxedGrants } from "../apps/owner-grants.ts";
import { type AppReport, appKeys, currentReport } from "../apps/spec.ts";
import { DEFAULT_HEARTBEAT_MS, LIVE_WINDOW_BEATS } from "../apps/status.ts";
import { stateEpochRoots } from "../backup/home-keyring.ts";
import { type OfferOutcome, takeOffer } from "../checkpoint/transfer.ts";
import { RoomReservations } from "../disk/room.ts";
import { BuckyError, isDiskFull, isPassing, isQuarantined } from "../errors.ts";
import { readPayload, type StoppedFacts } from "../facts/payload.ts";
import { readKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import { ObjectStore } from "../ndn/store.ts";
import type { RelayHub } from "../relay/hub.ts";
import { readRelays, touchesRelays } from "../relay/relays.ts";
import { isStateAltered } from "../state/altered.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import type { StateSeal } from "../state/seal.ts";
import type { StateDb } from "../store/db.ts";
import { BrokenChains } from "../sync/broken-chains.ts";
import { ClocksAhead } from "../sync/clock-ahead.ts";
import { type DeviceRecord, ownRecordAt, type RecordKind } from "../sync/device-records.ts";
import {
  forksKnown,
  proofsLacking,
  proofsNamed,
  receiveProofs,
  withheldFrom,
} from "../sync/equivocation.ts";
import { changesetsBelow } from "../sync/exchange.ts";
import {
  FACTS,
  factsNewerThan,
  factsRecordOf,
  factsVector,
  heldFacts,
  heldFactsOf,
  keepFacts,
  receiveFacts,
} from "../sync/facts.ts";
import { dropRevokedByOwnWrite, type IngestResult, ingestPage } from "../sync/ingest.ts";
import { loadMembership, type Membership, standingOf } from "../sync/membership.ts";
import { type OwnRefusal, ownRefusal } from "../sync/own-refusal.ts";
import {
  type AwaySpan,
  awayBefore,
  heardWithin,
  keepPresence,
  lastHeardAlive,
  PRESENCE,
  presenceToPass,
  receivePresence,
} from "../sync/presence.ts";
import { RefusedWrites } from "../sync/refused-writes.ts";
import { type Directory, readDirectory, touchesPeople } from "../users/directory.ts";
import type { OpenZone } from "../zone/open.ts";
import {
  checkedRevocation,
  keepRevocation,
  revocationIn,
  revokedHereError,
} from "../zone/revoked-here.ts";
import { PeerClient } from "./peer-client.ts";
import { HELD_ELSEWHERE_WITHIN_MS, PeerHoldings } from "./peer-holdings.ts";
import { Contacts, type Peer, readDeviceDocument, readPeers } from "./peers.ts";
import { SendingTurns } from "./sending-turns.ts";

/**
 * Whether another device holds what this device wrote: "held" once one said so, "not yet"
 * when none did within the bound (lost with this device, it is lost), "alone" in a zone
 * of this device alone.
 */
export type HeldElsewhere = "held" | "not yet" | "alone";

/** Who made a change: this device (a local write) or a peer (changesets it sent). */
export type ChangeOrigin = "local" | "remote";
/**
 * Told of a change of the state: the changesets applied, none when a peer's page changed
 * it otherwise (it quarantined a device).
 */
export type ChangeListener = (changesets: readonly Changeset[], origin: ChangeOrigin) => void;
/** Told of other devices' facts records kept, as they arrive from a peer. */
export type FactsListener = (records: readonly DeviceFacts[]) => void;
/** Told that this device must stop serving the zone: its state altered, or it revoked. */
export type DamageListener = (error: BuckyError) => void;

/** A checkpoint a peer offered that did not check out is not fetched from it again for this long. */
const REFUSED_OFFER_MS = 3_600_000;

/** The id of the checkpoint an offer carries, or "" when it is not one. */
function offerId(offer: Uint8Array): string {
  try {
    return decodeOffer(offer).checkpoint.id;
  } catch {
    return "";
  }
}

/** How often a full disk is said in the log while it stays full. */
const DISK_FULL_SAID_EVERY_MS = 60_000;

export class NodeContext {
  readonly db: StateDb;
  readonly zoneId: ZoneId;
  readonly deviceId: DeviceId;
  readonly deviceName: string;
  readonly contacts: Contacts;
  readonly store: ObjectStore;
  /** Calls to other devices, as this one. */
  readonly client: PeerClient;
  /** How to reach the apps this device runs (the gateway's and the ingress's way in). */
  readonly doors = new AppDoors();
  /** The disk's room that installs under way hold (lib/disk/room.ts). */
  readonly room = new RoomReservations();
  /** The owner's purge grants, each checked once for the node's life (lib/apps/owner-grants.ts). */
  readonly purgeGrants: PurgeGrants;
  /** The owner's grants to run a package unsandboxed, each checked once (lib/apps/unsandboxed.ts). */
  readonly unsandboxedGrants: UnsandboxedGrants;
  /** The devices whose records this one refuses for their clock (its facts say them). */
  readonly clocksAhead = new ClocksAhead();
  /** The members whose changesets this one refuses by a write rule (its facts say them). */
  readonly refusedWrites = new RefusedWrites();
  /** How far this device published its agent audit, and deleted it (lib/agent/audit.ts). */
  readonly auditProgress: AuditProgress;
  private cachedMembership: Membership | undefined;
  /** How long a device's heartbeat keeps it live (lib/apps/status.ts placementCandidates). */
  readonly liveWindowMs: number;
  /** How long a write waits for another device to hold it. */
  private readonly heldWaitMs: number;
  /** The level of write rules this device reads (WRITE_RULES_LEVEL; lower only in a test). */
  readonly writeRulesLevel: number;
  /** When this device was last away (see lastAway). */
  private away: AwaySpan | undefined;
  private cachedRelays: Peer[] | undefined;
  private cachedPeople: Directory | undefined;
  private cachedPeers: { membership: Membership; peers: readonly Peer[] } | undefined;
  /** This device's reports of its apps, as last read (see ownReport). */
  private readonly ownReports = new Map<string, AppReport>();
  private readonly changeListeners: ChangeListener[] = [];
  private readonly rebaseListeners: (() => void)[] = [];
  private readonly answeringListeners: ((peer: Peer) => void)[] = [];
  private readonly factsListeners: FactsListener[] = [];
  /** A checkpoint being fetched from a peer: one at a time. */
  private fetching: Promise<OfferOutcome> | undefined;
  /** Checkpoints a peer offered that did not check out, by peer: not fetched again for a while. */
  private readonly refusedOffers = new Map<DeviceId, { id: string; atMs: number }>();
  private readonly damageListeners: DamageListener[] = [];
  private diskFullSaidAt = Number.NEGATIVE_INFINITY;
  private quarantineSaidAt = Number.NEGATIVE_INFINITY;
  /** What this device last said of itself (device facts), as JSON. */
  private factsSaid: string | undefined;
  /** Whether this device said its last facts, as it stops for good (lastFacts). */
  private lastWordSaid = false;

  constructor(
    readonly zone: OpenZone,
    readonly log: Log,
    readonly now: () => number,
    readonly certificatePem: string,
    /** Where peers can reach this device: `https://host:port`, best first. */
    readonly addresses: readonly string[],
    options: {
      /** The relay this device runs for others, when it runs one. */
      readonly relayHub?: RelayHub;
      /** How long a device's heartbeat keeps it live: how long its answers' chunks count as hearing it. */
      readonly liveWindowMs?: number;
      /** Test hook: the write rules of an older bucky (NodeOptions.writeRulesLevel). */
      readonly writeRulesLevel?: number;
      /** How long a stream probe through a relay may take (lib/relay/stream-probe.ts). */
      readonly streamProbeTimeoutMs?: number;
      /** How long a write waits for another device to hold it (HELD_ELSEWHERE_WITHIN_MS). */
      readonly heldWaitMs?: number;
    } = {},
  ) {
    const { relayHub } = options;
    this.liveWindowMs = options.liveWindowMs ?? DEFAULT_HEARTBEAT_MS * LIVE_WINDOW_BEATS;
    this.writeRulesLevel = options.writeRulesLevel ?? WRITE_RULES_LEVEL;
    this.heldWaitMs = options.heldWaitMs ?? HELD_ELSEWHERE_WITHIN_MS;
    this.db = zone.db;
    this.zoneId = zone.zone.id;
    this.deviceId = zone.device.id;
    this.deviceName = zone.device.name;
    this.away = awayBefore(this.db, this.deviceId, now());
    this.peerHoldings = new PeerHoldings(this.deviceId, {
      ownHead: () => this.ownHead(),
      counts: (peer) => standingOf(this.membership(), peer) === "member",
    });
    this.purgeGrants = new PurgeGrants(this.zoneId);
    this.unsandboxedGrants = new UnsandboxedGrants(this.zoneId);
    this.auditProgress = new AuditProgress(this, this);
    this.contacts = new Contacts(zone.db);
    this.store = new ObjectStore(zone.paths.ndnDir);
    this.client = new PeerClient(
      zone.deviceKey,
      this.contacts,
      now,
      {
        relaysFor: () => this.relays(),
        document: () => readDeviceDocument(this.db, this.deviceName),
        ...(relayHub ? { hub: relayHub, pipeDoorDir: zone.paths.home } : {}),
        log: this.log,
        ...(options.streamProbeTimeoutMs
          ? { streamProbeTimeoutMs: options.streamProbeTimeoutMs }
          : {}),
      },
      zone.requestKeys,
      options.liveWindowMs,
    );
    const ownReports = appKeys.report(this.deviceName, "");
    this.onChange((changesets) => {
      const touched = (test: (key: string) => boolean) =>
        changesets.some((changeset) => changeset.ops.some((op) => test(op.key)));
      if (touched(touchesRelays)) this.cachedRelays = undefined;
      if (touched(touchesPeople)) this.cachedPeople = undefined;
      if (touched((key) => key.startsWith(ownReports))) this.ownReports.clear();
    });
    this.onRebase(() => this.ownReports.clear());
  }

  /** Calls `listener` after every change of the state, local or remote; returns how to stop. */
  onChange(listener: ChangeListener): () => void {
    this.changeListeners.push(listener);
    return () => {
      const index = this.changeListeners.indexOf(listener);
      if (index >= 0) this.changeListeners.splice(index, 1);
    };
  }

  /**
   * Calls `listener` after the state was replaced wholesale by a checkpoint fetched from a
   * peer (everything may have changed at once); returns how to stop.
   */
  onRebase(listener: () => void): () => void {
    this.rebaseListeners.push(listener);
    return () => {
      const index = this.rebaseListeners.indexOf(listener);
      if (index >= 0) this.rebaseListeners.splice(index, 1);
    };
  }

  /**
   * Calls `listener` when facts of other devices arrive (kept as newer than those held);
   * returns how to stop. Facts live beside the changeset log, so `onChange` never hears them.
   */
  onFactsArrived(listener: FactsListener): () => void {
    this.factsListeners.push(listener);
    return () => {
      const index = this.factsListeners.indexOf(listener);
      if (index >= 0) this.factsListeners.splice(index, 1);
    };
  }

  /**
   * Calls `listener` when a peer answers this device's sync: the first time since this
   * daemon started, and again after it did not (it was away, or refused); returns how to
   * stop. What could not be had from it may be asked again then, not at a timer's next turn.
   */
  onPeerAnswering(listener: (peer: Peer) => void): () => void {
    this.answeringListeners.push(listener);
    return () => {
      const index = this.answeringListeners.indexOf(listener);
      if (index >= 0) this.answeringListeners.splice(index, 1);
    };
  }

  /** Says that `peer` answers this device's sync again (the sync loop's word). */
  peerAnswering(peer: Peer): void {
    for (const listener of this.answeringListeners) listener(peer);
  }

  /**
   * Takes the checkpoint `peer` offered, if this device needs it: fetched, checked and
   * made the state (lib/checkpoint/transfer.ts). One at a time: a second offer waits for
   * the first and is then looked at afresh.
   */
  async takeCheckpoint(
    peer: Peer,
    offer: Uint8Array,
    /** Calls the fetching off (the sync loop stopping). */
    signal?: AbortSignal,
  ): Promise<OfferOutcome> {
    while (this.fetching) await this.fetching.catch(() => {});
    // One this peer offered and that did not check out is not fetched again at every round.
    const id = offerId(offer);
    const refused = this.refusedOffers.get(peer.id);
    if (refused && refused.id === id && this.now() - refused.atMs < REFUSED_OFFER_MS)
      return "not needed";
    this.fetching = this.watchingForDamageAsync(() =>
      takeOffer(
        {
          db: this.db,
          seal: this.zone.seal,
          zone: this.zoneId,
          now: this.now,
          log: this.log,
          source: peer.name,
          fetchPage: (request) =>
            this.client.post(peer, "/v1/sync/checkpoint", request, {
              repeatable: true,
              ...(signal ? { signal } : {}),
            }),
        },
        offer,
      ),
    );
    try {
      const outcome = await this.fetching.catch((error: unknown) => {
        if (error instanceof BuckyError && error.code === "E_INTEGRITY" && !isStateAltered(error))
          this.refusedOffers.set(peer.id, { id, atMs: this.now() });
        throw error;
      });
      if (outcome === "adopted") {
        this.cachedMembership = undefined;
        this.cachedRelays = undefined;
        this.cachedPeople = undefined;
        for (const listener of this.rebaseListeners) listener();
      }
      return outcome;
    } finally {
      this.fetching = undefined;
    }
  }

  get seal(): StateSeal {
    return this.zone.seal;
  }

  /**
   * Calls `listener` when this device must stop serving the zone (the daemon then stops):
   * its zone state turns out altered (E_INTEGRITY), or it learns it was revoked (E_REVOKED).
   */
  onDamage(listener: DamageListener): void {
    this.damageListeners.push(listener);
  }

  /** Says that the zone state was found altered: whoever listens stops serving it. */
  damaged(error: BuckyError): void {
    for (const listener of this.damageListeners) listener(error);
  }

  /**
   * Takes what claims to be the owner's revocation of this device (a peer's refusal carries
   * it: lib/zone/revoked-here.ts). Once it checks out, it is kept in the home and whoever
   * listens stops serving the zone; anything else is taken for nothing.
   */
  heardRevocation(jws: unknown): void {
    const revocation = checkedRevocation(jws, this.zoneId, this.deviceId);
    if (!revocation) return;
    // Stopped first: a home that cannot take the file (a full disk) stops all the same, and
    // started again, it is told again by the first peer it reaches.
    this.damaged(revokedHereError(revocation));
    try {
      keepRevocation(this.zone.paths.home, revocation);
    } catch (error) {
      this.log.warn("the revocation of this device could not be kept in its home", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** Whether this device's own state says the owner revoked it: then as a peer's word of it. */
  checkOwnStanding(): void {
    if (standingOf(this.membership(), this.deviceId) !== "revoked") return;
    this.heardRevocation(revocationIn(this.db, this.zoneId, this.deviceId)?.jws);
  }

  membership(): Membership {
    this.cachedMembership ??= loadMembership(this.db, this.zoneId);
    return this.cachedMembership;
  }

  /** The people of the zone and their credentials, as the state says now. */
  people(): Directory {
    this.cachedPeople ??= readDirectory(this.db, this.zoneId);
    return this.cachedPeople;
  }

  /**
   * The other devices of the zone this one can call: members in good standing that
   * published an address. Kept as long as the membership is: every change under
   * `devices/` (a document or a device's info; local, from a peer, or in a checkpoint
   * adopted: every write to the state goes through this node) makes a new one. Reading
   * them checks each one's certificate against its key, which the gateway would otherwise
   * do for every request it forwards to another device (half its time, measured); even
   * asking the database whether it changed was a query and two file locks per request.
   */
  peers(): Peer[] {
    return [...this.keptPeers()];
  }

  /** The peer named `name` that this device can call, if any (see peers). */
  peer(name: string): Peer | undefined {
    return this.keptPeers().find((peer) => peer.name === name);
  }

  private keptPeers(): readonly Peer[] {
    const membership = this.membership();
    if (this.cachedPeers?.membership !== membership)
      this.cachedPeers = { membership, peers: readPeers(this.db, membership, this.deviceId) };
    return this.cachedPeers.peers;
  }

  /**
   * What this device last reported of `app` running here (`nodes/<me>/apps/<app>`), for
   * the ingress, which asks at every request. Only this device writes those keys, and
   * only through this node, so it is kept until a change touches one of them.
   */
  ownReport(app: string): AppReport | undefined {
    const kept = this.ownReports.get(app);
    if (kept) return kept;
    const report = currentReport(this.db, this.deviceName, app);
    // Only reports that exist are kept: names asked for at random would fill memory.
    if (report) this.ownReports.set(app, report);
    return report;
  }

  /** The zone's relays (its gateways), this device included if it is one. */
  relays(): Peer[] {
    this.cachedRelays ??= readRelays(this.db, this.membership());
    return this.cachedRelays;
  }

  /** Signs, stores and applies a local write, then has it sent to the peers. */
  write(ops: readonly Op[]): Changeset {
    // A revocation keeps what the device wrote up to its cut, here as everywhere: what this
    // device holds past it is dropped in the revocation's own transaction.
    const revokes = ops.some((op) => op.key.startsWith("devices/") && op.key.endsWith("/revoked"));
    const changeset = this.watchingForDamage(() =>
      appendLocalChangeset(
        this.db,
        {
          zone: this.zoneId,
          name: this.deviceName,
          key: this.zone.deviceKey,
          seal: this.zone.seal,
        },
        ops,
        this.now(),
        revokes
          ? (written) =>
              dropRevokedByOwnWrite(this.db, written, {
                zone: this.zoneId,
                log: this.log,
                seal: this.zone.seal,
              })
          : undefined,
      ),
    );
    if (revokes) this.forgetMembership();
    else if (ops.some((op) => op.key.startsWith("devices/"))) this.cachedMembership = undefined;
    this.log.info("state changed", {
      seq: changeset.seq,
      ops: ops.length,
      keys: summarizeKeys(ops),
    });
    for (const listener of this.changeListeners) listener([changeset], "local");
    return changeset;
  }

  /**
   * Verifies and applies changesets a peer sent: their signatures on every core, each
   * batch applied while the next one's are checked. What keeps state read from the
   * database (membership, people, relays) and the listeners hear of each batch as it
   * commits, before any other request runs, as they would of a page.
   */
  async ingest(entries: readonly Uint8Array[], source: string): Promise<IngestResult> {
    const context = {
      zone: this.zoneId,
      nowMs: this.now(),
      log: this.log,
      source,
      seal: this.zone.seal,
      level: this.writeRulesLevel,
    };
    try {
      const result = await ingestPage(this.db, entries, context, {
        batchApplied: ({ applied, membershipChanged }) => {
          if (membershipChanged) this.forgetMembership();
          // A batch that applied nothing may still have changed the state: a device it
          // quarantined is no member now, and what was worked out from its standing (a
          // session its gateway signed) must be looked at again.
          if (applied.length > 0 || membershipChanged)
            for (const listener of this.changeListeners) listener(applied, "remote");
        },
      });
      // A changeset refused for its time names no device's clock: its time is its author's
      // hybrid clock, which carries the latest time it has seen from any device (a clock
      // ahead elsewhere). A device's own presence and facts say its clock.
      this.noteRefusedWrites(result, context.nowMs);
      return result;
    } catch (error) {
      // As watchingForDamage, across the batches.
      if (error instanceof BuckyError && error.code === "E_INTEGRITY") this.damaged(error);
      throw error;
    }
  }

  /** A member's changesets refused by a write rule here, and those taken since (RefusedWrites). */
  private noteRefusedWrites(result: IngestResult, nowMs: number): void {
    for (const { author, seq, reason, byRule } of result.rejected)
      if (byRule && author !== undefined && seq !== undefined)
        this.refusedWrites.refusedAt(author as DeviceId, seq, reason, nowMs);
    for (const { author, seq } of result.applied) this.refusedWrites.taken(author, seq);
  }

  private forgetMembership(): void {
    this.cachedMembership = undefined;
    // A revocation may drop changesets that wrote accounts or credentials.
    this.cachedPeople = undefined;
  }

  /**
   * Runs a change of the state. One refused as an integrity error found the state altered
   * (its seal, or a changeset read back, did not verify): that is said, and thrown on.
   */
  private watchingForDamage<T>(change: () => T): T {
    try {
      return change();
    } catch (error) {
      if (error instanceof BuckyError && error.code === "E_INTEGRITY") this.damaged(error);
      throw error;
    }
  }

  private async watchingForDamageAsync<T>(change: () => Promise<T>): Promise<T> {
    try {
      return await change();
    } catch (error) {
      // A checkpoint that did not check out is the peer's doing, not damage here.
      if (isStateAltered(error)) this.damaged(error as BuckyError);
      throw error;
    }
  }

  /**
   * When this device's next record of `kind` is dated (ownRecordAt): after the last one,
   * should its clock have gone back, unless a member heard alive says in its facts that it
   * refuses this device's records for their clock (that last one was dated ahead).
   */
  private ownRecordAt(kind: RecordKind<DeviceRecord>, nowMs: number): number {
    return ownRecordAt(this.db, kind, this.deviceId, nowMs, () => {
      const alive = lastHeardAlive(this.db);
      return heldFacts(this.db).some(
        (held) =>
          held.device !== this.deviceId &&
          heardWithin(alive.get(held.device), nowMs, this.liveWindowMs) &&
          readPayload(held.facts).clockAhead?.[this.deviceName] !== undefined,
      );
    });
  }

  /**
   * When this device was last away: off before this run, or asleep since (its heartbeats
   * stopped for longer than a live window: a laptop's lid closed, the process paused),
   * up to `nowMs` when it has not beaten since. What it heard of others stops there (a
   * takeover's loss figure, lib/replica/loss-bound.ts).
   */
  lastAway(nowMs = this.now()): AwaySpan | undefined {
    const since = awayBefore(this.db, this.deviceId, nowMs);
    return since && since.untilMs - since.fromMs > this.liveWindowMs ? since : this.away;
  }

  /** Says this device is alive now: a fresh presence record, passed on with every sync. */
  beat(): void {
    try {
      const now = this.now();
      this.away = this.lastAway(now);
      const at = this.ownRecordAt(PRESENCE, now);
      keepPresence(this.db, signPresence(this.zoneId, at, this.zone.deviceKey), now);
    } catch (error) {
      this.diskFull(error);
    }
  }

  /**
   * For work that cannot be done while the disk is full, or while another process holds
   * the state database: says so (once a minute at most) and returns, so the daemon
   * carries on and picks up once it can. Any other error is thrown on.
   */
  diskFull(error: unknown): void {
    if (!isPassing(error)) throw error;
    if (isQuarantined(error)) {
      this.sayQuarantined();
      return;
    }
    const now = this.now();
    if (now - this.diskFullSaidAt < DISK_FULL_SAID_EVERY_MS) return;
    this.diskFullSaidAt = now;
    this.log.error(
      isDiskFull(error)
        ? "the disk is full: changes wait until there is room"
        : "the zone state is held by another process: changes wait until it lets go",
      {
        home: this.zone.paths.home,
        error: error instanceof Error ? error.message : String(error),
      },
    );
  }

  /**
   * Whether every device refuses what this device writes (a proof of its own fork held:
   * quarantined, or revoked too), the same answer its local writes get (ownRefusal): its
   * background work then writes nothing.
   */
  quarantined(): boolean {
    return this.refusal() !== undefined;
  }

  /** Why every device refuses what this device writes, if it does (lib/sync/own-refusal.ts). */
  refusal(): OwnRefusal | undefined {
    return ownRefusal(
      this.db,
      this.zoneId,
      { id: this.deviceId, name: this.deviceName },
      this.membership(),
    );
  }

  /**
   * Says, once a minute at most, that this device is quarantined (or revoked) and writes
   * nothing: its writes are refused (E_QUARANTINED) and the daemon carries on, serving status.
   */
  sayQuarantined(): void {
    const refusal = this.refusal();
    if (!refusal) return;
    const now = this.now();
    if (now - this.quarantineSaidAt < DISK_FULL_SAID_EVERY_MS) return;
    this.quarantineSaidAt = now;
    if (refusal.kind === "revoked")
      this.log.error(
        "this device was revoked, and signed two histories: it writes nothing to the zone",
        {
          keptSeq: refusal.keptSeq,
        },
      );
    else
      this.log.error("this device is quarantined: it writes nothing to the zone", {
        fromSeq: refusal.fromSeq,
      });
  }

  /** The presence records this node holds, with how long ago each was heard, to send with a sync message. */
  presence(): { presence: Uint8Array[]; presenceAgesMs: number[] } {
    return presenceToPass(this.db, this.now());
  }

  /** Takes the presence records a peer sent (those that verify and are newer). */
  receivePresence(message: {
    readonly presence?: readonly Uint8Array[];
    readonly presenceAgesMs?: readonly number[];
  }): void {
    if (!message.presence?.length) return;
    receivePresence(this.db, message.presence, {
      zone: this.zoneId,
      membership: this.membership(),
      nowMs: this.now(),
      clockAhead: this.clockAhead,
      ...(message.presenceAgesMs ? { agesMs: message.presenceAgesMs } : {}),
    });
  }

  /**
   * How far `device`'s clock is ahead of this one's (less than 0: behind), as its requests
   * here lately said, or, refused for it, its records; 0 when neither said anything.
   */
  clockAheadOf(device: DeviceId): number {
    return (
      this.contacts.clockOffsetMs(device) ??
      this.clocksAhead.current(this.now()).get(device)?.aheadMs ??
      0
    );
  }

  /**
   * A record of `device`'s, dated `atMs` by its clock, was refused as too far ahead: how
   * far is what its requests last said (their time against this clock), or, when that is
   * less or not known, what the record says.
   */
  private readonly clockAhead = (device: DeviceId, atMs: number): void => {
    const now = this.now();
    const aheadMs = Math.max(atMs - now, this.contacts.clockOffsetMs(device) ?? 0);
    this.clocksAhead.refused(device, aheadMs, now);
  };

  /**
   * Signs and keeps this device's facts, if they differ from those it last said; peers
   * get them with the next exchange. Returns whether anything new was said.
   */
  publishFacts(facts: Readonly<Record<string, unknown>>): boolean {
    // Its last word said (lastFacts): nothing newer may say it runs while it stops.
    if (this.lastWordSaid) return false;
    const text = JSON.stringify(facts);
    if (text === this.factsSaid) return false;
    try {
      const now = this.now();
      const at = this.ownRecordAt(FACTS, now);
      keepFacts(this.db, signFacts(this.zoneId, at, facts, this.zone.deviceKey), now);
      this.factsSaid = text;
      return true;
    } catch (error) {
      this.diskFull(error);
      return false;
    }
  }

  /**
   * The facts this device says last, as its daemon stops for good: what it said before,
   * and why it stops (lib/node/last-word.ts). Kept here too if its database takes it; what
   * matters is that the peers hear it.
   */
  lastFacts(stopped: StoppedFacts): DeviceFacts {
    this.lastWordSaid = true;
    const now = this.now();
    let at = now;
    try {
      at = this.ownRecordAt(FACTS, now);
    } catch {
      // A database SQLite finds corrupt: dated by the clock alone.
    }
    const record = signFacts(
      this.zoneId,
      at,
      { ...this.factsBefore(), stopped },
      this.zone.deviceKey,
    );
    try {
      keepFacts(this.db, record, now);
    } catch {
      // Not kept here: it stops all the same.
    }
    return record;
  }

  /**
   * What this device said of itself last: this run's facts, or, stopped before it said
   * any, the last it said before (its backups, its disk), kept here. Said anew without
   * them, the zone would take the device for one with no backup.
   */
  private factsBefore(): object {
    if (this.factsSaid !== undefined) return JSON.parse(this.factsSaid) as object;
    try {
      return heldFactsOf(this.db, this.deviceId)?.facts ?? {};
    } catch {
      // A database SQLite finds corrupt: said without them.
      return {};
    }
  }

  /** This device's newest facts, as signed: to tell the peers (SyncLoop.tellFacts). */
  ownFactsRecord(): Uint8Array | undefined {
    return factsRecordOf(this.db, this.deviceId);
  }

  /** The `at` of the newest facts held of each device, to tell a peer. */
  factsHave(): VersionVector {
    return factsVector(this.db);
  }

  /** The facts records held that a peer, by what it says it has, lacks. */
  factsFor(theirs: VersionVector | undefined): Uint8Array[] {
    return theirs ? factsNewerThan(this.db, theirs) : [];
  }

  /** Takes the facts records a peer sent (those that verify and are newer). */
  receiveFacts(records: readonly Uint8Array[] | undefined): void {
    if (!records?.length) return;
    const kept: DeviceFacts[] = [];
    receiveFacts(this.db, records, {
      zone: this.zoneId,
      membership: this.membership(),
      nowMs: this.now(),
      clockAhead: this.clockAhead,
      kept: (record) => kept.push(record as DeviceFacts),
    });
    if (kept.length === 0) return;
    for (const listener of this.factsListeners) listener(kept);
  }

  /** The devices this node holds an equivocation proof of (in effect or not), to tell a peer. */
  proofsHave(): VersionVector {
    return proofsNamed(this.db, this.zoneId);
  }

  /**
   * Of each author, the seq from which no changeset is sent to a peer (`theirs`: the
   * proofs it said it holds, when it said): lib/sync/equivocation.ts withheldFrom. A
   * quarantined device's changesets from its fork on go to nobody: a peer that holds the
   * proof refuses them, and one that lacks it gets the proof with them.
   */
  withheldFrom(theirs: VersionVector | undefined): VersionVector {
    return withheldFrom(this.membership(), theirs);
  }

  /** Of each author, the seq of the fork this node or a peer (`theirs`) holds the proof of. */
  forksKnownWith(theirs: VersionVector | undefined): VersionVector {
    return forksKnown(this.membership(), theirs);
  }

  /**
   * The equivocation proofs held that a peer, by what it says it has, lacks; for a peer
   * that is itself quarantined (`only`, its id), its own proof alone.
   */
  proofsFor(theirs: VersionVector | undefined, only?: DeviceId): Uint8Array[] {
    return theirs ? proofsLacking(this.db, this.membership(), theirs, only) : [];
  }

  /**
   * Takes the equivocation proofs a peer sent (those that verify, of a member, of a lower
   * seq than any held): each not past its revocation's cut quarantines its device here, as
   * if both halves had met here: what it signed from the fork on is refused, none dropped;
   * of a device the owner revoked, within what its revocation keeps, it drops and refuses
   * nothing more: it is said, for the owner to revoke it again (lib/sync/membership.ts).
   */
  receiveProofs(records: readonly Uint8Array[] | undefined, source: string): void {
    if (!records?.length) return;
    const kept = this.watchingForDamage(() =>
      receiveProofs(this.db, records, {
        zone: this.zoneId,
        nowMs: this.now(),
        log: this.log,
        source,
        seal: this.zone.seal,
        membership: this.membership(),
      }),
    );
    if (kept === 0) return;
    // As a batch that quarantined a device: who may write changed.
    this.forgetMembership();
    if (this.quarantined()) this.sayQuarantined();
    this.brokenChains.settled(this.membership());
    for (const listener of this.changeListeners) listener([], "remote");
  }

  /**
   * `author`'s changesets held below `belowSeq`: what a peer that met a broken chain asks,
   * a page of them at most (lib/sync/exchange.ts). Only of a member, and never from a
   * proof's fork on (those go to no peer), nor, of one revoked, past what its revocation
   * keeps (what every device takes of it): no history of anyone else.
   */
  changesetsBelow(author: DeviceId, belowSeq: number): Uint8Array[] {
    const member = this.membership().byId.get(author);
    if (!member) return [];
    return changesetsBelow(
      this.db,
      author,
      Math.min(
        belowSeq,
        member.forkSeq ?? Number.POSITIVE_INFINITY,
        (member.revokedAfterSeq ?? Number.POSITIVE_INFINITY) + 1,
      ),
    );
  }

  /**
   * Notes the broken chains of members' changesets `result` refused from `peer`: the next
   * exchange with it asks for their changesets below, to find the fork (BrokenChains).
   */
  noteBrokenChains(result: IngestResult | undefined, peer: string): void {
    if (!result) return;
    const membership = this.membership();
    for (const rejection of result.rejected) {
      if (rejection.forkBelow === undefined || rejection.author === undefined) continue;
      const member = membership.byId.get(rejection.author as DeviceId);
      // Below a proof held, a broken chain is a second, lower fork: searched too (its
      // proof replaces the higher one, and the refusal starts lower). Of a device revoked,
      // one in what its revocation keeps: devices hold two histories there, which every
      // device then says, for the owner to cut before it (lib/sync/membership.ts).
      if (!member) continue;
      if (rejection.forkBelow > (member.revokedAfterSeq ?? Number.POSITIVE_INFINITY)) continue;
      if (rejection.forkBelow >= (member.forkSeq ?? Number.POSITIVE_INFINITY)) continue;
      this.brokenChains.note(peer, member, rejection.forkBelow, this.now());
    }
  }

  /** Broken chains met, found in no proof yet: said by `bucky status` until the proof is formed. */
  readonly brokenChains = new BrokenChains();

  /**
   * The sending of missing pages to each peer: the sync loop's, one at a time, and a pull
   * of the peer's answered with none of them while one is under way (lib/node/peer-api.ts).
   */
  readonly sendingTurns = new SendingTurns((peer, have) => this.peerHoldings.said(peer, have));

  /** Which of this device's writes another device holds yet, as the peers said. */
  private readonly peerHoldings: PeerHoldings;

  /**
   * `peer` said what it holds (`have`) as it pulled or pushed: of this device's writes,
   * those are held there. A peer this device cannot push to (its pushes held up, the peer
   * just back) may still pull, and push, and a write it holds so is no less held.
   */
  saidHolding(peer: DeviceId, have: VersionVector): void {
    this.peerHoldings.said(peer, have);
  }

  /** Whether the zone has a member besides this device (one a write can be held by). */
  private hasOtherMembers(): boolean {
    const membership = this.membership();
    return [...membership.byId.keys()].some(
      (id) => id !== this.deviceId && standingOf(membership, id) === "member",
    );
  }

  /** This device's newest changeset (0 before its first). */
  private ownHead(): number {
    return (
      this.db.$client
        .query<{ seq: number | null }, [string]>(
          "SELECT max(seq) AS seq FROM changesets WHERE author = ?",
        )
        .get(this.deviceId)?.seq ?? 0
    );
  }

  /**
   * Waits, heldWaitMs at most (HELD_ELSEWHERE_WITHIN_MS), for another device to hold what this device has
   * written so far: a write whose answer says it holds on every device (a sign-out, a
   * revocation) is then not lost with this one. "alone" at once in a zone of this device
   * alone; past the bound ("not yet") the log says this device alone holds `what` for now
   * (it goes with the next exchange). A member this device cannot call yet (it joined and
   * has not said where it listens) is no less a device the write is lost to: its pull may
   * still come within the bound.
   */
  async untilHeldElsewhere(what: string): Promise<HeldElsewhere> {
    if (!this.hasOtherMembers()) return "alone";
    if (await this.peerHoldings.heldElsewhere(this.ownHead(), this.heldWaitMs)) return "held";
    this.log.warn(`${what}: held by this device alone for now`, {
      waitedMs: this.heldWaitMs,
    });
    return "not yet";
  }

  /**
   * Whether another device holds what this device has written so far, asked at once (a
   * write answered without waiting, `--no-wait`): "not yet" unless one already said so,
   * and the log says this device alone holds `what` for now.
   */
  heldElsewhereNow(what: string): HeldElsewhere {
    if (!this.hasOtherMembers()) return "alone";
    if (this.peerHoldings.holds(this.ownHead())) return "held";
    this.log.warn(`${what}: held by this device alone for now (not waited for)`, { waitedMs: 0 });
    return "not yet";
  }

  /**
   * Waits, heldWaitMs at most (HELD_ELSEWHERE_WITHIN_MS), for the peer `device` to hold what this device
   * has written so far: whether it does ("not yet" at once when it is no peer this device
   * can call). For a write only that device acts on (an invitation's revocation: only its
   * issuer admits with it).
   */
  async untilHeldBy(device: DeviceId, what: string): Promise<"held" | "not yet"> {
    if (!this.peers().some((peer) => peer.id === device)) return "not yet";
    if (await this.peerHoldings.heldElsewhere(this.ownHead(), this.heldWaitMs, device))
      return "held";
    this.log.warn(`${what}: not held by ${this.membership().byId.get(device)?.name} yet`, {
      waitedMs: this.heldWaitMs,
    });
    return "not yet";
  }

  /**
   * Whether the peer `device` holds what this device has written so far, asked at once (a
   * write answered without waiting, `--no-wait`): "not yet" unless it already said so.
   */
  heldByNow(device: DeviceId, what: string): "held" | "not yet" {
    if (this.peerHoldings.holds(this.ownHead(), device)) return "held";
    this.log.warn(
      `${what}: not held by ${this.membership().byId.get(device)?.name} yet (not waited for)`,
      {
        waitedMs: 0,
      },
    );
    return "not yet";
  }

  /** The zone's backup root, when this device holds it (it can back up and give it on). */
  backupRoot(): Uint8Array | undefined {
    if (!existsSync(this.zone.paths.backupKey)) return undefined;
    return readKeyFile(this.zone.paths.backupKey, "backup", this.log);
  }

  backupEpochRoots(): ReadonlyMap<string, Uint8Array> {
    return stateEpochRoots(this.zone.paths, this.db, this.zoneId, this.log);
  }

  /** The owner key, for devices that hold it; others cannot admit or revoke devices. */
  ownerKey(): SigningKey {
    if (!this.zone.holdsOwnerKey) {
      throw new BuckyError(
        "E_PERMISSION",
        "this device does not hold the owner key",
        "Run this on the device where the zone was created (or recovered with `bucky init --recover`).",
      );
    }
    const key = signingKeyFromSeed(readKeyFile(this.zone.paths.ownerKey, "owner", this.log));
    if (zoneIdFromPublicKey(key.publicKey) !== this.zoneId) {
      throw new BuckyError(
        "E_INTEGRITY",
        `the owner key ${this.zone.paths.ownerKey} is not the key of this zone`,
      );
    }
    return key;
  }
}

function summarizeKeys(ops: readonly Op[]): string {
  const keys = ops.map((op) => op.key);
  return keys.length <= 3 ? keys.join(",") : `${keys.slice(0, 3).join(",")},…`;
}
