/**
 * Keeping this node in sync with its peers. Every local change is pushed to every peer
 * at once; every few seconds the node exchanges with each peer (anti-entropy): it pulls
 * what it lacks, then sends what the peer lacks, so one side calling is enough for both
 * to converge. Presence (who is alive) rides along both ways in each exchange.
 * A peer that does not answer, or refuses, is waited out (lib/node/peer-backoff.ts), and
 * said when that changes, not on every attempt.
 */
import type { Changeset } from "../../protocol/changeset.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import {
  decodeAck,
  decodeEntries,
  encodeEarlierRequest,
  encodeEntries,
  encodePullRequest,
  PAGE_BYTES,
  type VersionVector,
} from "../../protocol/sync-messages.ts";
import { behindCheckpoint } from "../checkpoint/transfer.ts";
import { BuckyError, isPassing } from "../errors.ts";
import {
  entriesMissingFrom,
  headHashes,
  lacksAny,
  newestOf,
  versionVector,
} from "../sync/exchange.ts";
import { searchFork } from "../sync/fork-search.ts";
import type { NodeContext } from "./node-context.ts";
import { PeerBackoff, type PeerTrouble } from "./peer-backoff.ts";
import { PeerAnswerError, type PeerClient } from "./peer-client.ts";
import type { Peer } from "./peers.ts";

/** One exchange moves at most this many pages each way; the next round continues. */
const MAX_PAGES_PER_EXCHANGE = 1000;

/**
 * How long a device with no peer waits between rounds: a peer appears with a change of the
 * zone state (a device joins, is restored), which wakes the loop at once (wake).
 */
export const IDLE_ROUND_MS = 60_000;

/**
 * How many intervals a round waits for its slowest exchange before the next round begins
 * without it: a peer's answer may take up to MAX_ANSWER_MS while it keeps coming
 * (lib/node/answer-watch.ts), and one slow or hostile member would otherwise hold back
 * the rounds with every other peer as long. Its own exchange goes on, and is not begun
 * again while it does (exchange()).
 */
export const ROUND_PATIENCE_INTERVALS = 10;

/** What an exchange sends a peer beside the pages it lacks (sendPages()). */
interface SendRecords {
  /** Signed records it lacks: device facts, equivocation proofs. */
  readonly facts: readonly Uint8Array[];
  readonly proofs: readonly Uint8Array[];
  /**
   * Its own writes were just pulled: it is told that this device holds them (a push's
   * `have`) even with nothing else to send. A write of its that waits for another device
   * to hold it (a revocation, a sign-out) is answered then, not at its next exchange with
   * this device, which waits out its backoff when this one was away.
   */
  readonly sayHolding?: boolean;
}

/** A peer that refuses this device's sync requests, as its facts say it (lib/facts/payload.ts). */
export interface SyncRefusal {
  readonly code: string;
  readonly message: string;
  /** When it started refusing (RFC 3339). */
  readonly since: string;
}

export class SyncLoop {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the loop waits IDLE_ROUND_MS, having had no peer at its last round. */
  private idle = false;
  private stopped = false;
  private readonly exchanging = new Map<DeviceId, Promise<void>>();
  /** The peers a push of this device's own changes is under way to (push()). */
  private readonly pushing = new Set<DeviceId>();
  /** Peers to which more was written while a push was under way: pushed again after it. */
  private readonly pushAgain = new Set<DeviceId>();
  /** Peers this device's presence is on its way to alone (sayAlive()). */
  private readonly sayingAlive = new Set<DeviceId>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /**
   * Calls off every call to a peer when the loop stops: a peer's answer may take up to
   * MAX_ANSWER_MS while it keeps coming (lib/node/answer-watch.ts), and the daemon's stop,
   * which waits for what is in flight, would wait as long.
   */
  private readonly calls = new AbortController();
  /** What was last said of each peer: answering, not answering, or refusing with a code. */
  private readonly said = new Map<DeviceId, string>();
  /**
   * Peers that could not be reached, or refused: waited out (lib/node/peer-backoff.ts). An
   * offline device then costs a probe now and then, not a failed call (and, through a
   * relay, a refused stream) every round; one that refuses, a request now and then, not a
   * refused one and a warning every round. A peer that comes back need not wait to sync:
   * it calls this node, and one side calling is enough.
   */
  private readonly backoff: PeerBackoff;

  private readonly client: PeerClient;

  /** Settled once the first round is over (firstRoundOver()). */
  private readonly firstRound = Promise.withResolvers<void>();
  private roundsBegun = false;

  constructor(
    private readonly node: NodeContext,
    private readonly intervalMs: number,
    /** Told of a fault that is not an ordinary network failure: the daemon crashes. */
    private readonly onBug: (error: unknown) => void,
    options: {
      /** Told when the peers refusing this device's requests change (its facts say them). */
      readonly onRefusals?: () => void;
      /** A number in [0, 1) for the backoff's jitter: Math.random unless a test sets it. */
      readonly random?: () => number;
    } = {},
  ) {
    this.client = node.client;
    this.backoff = new PeerBackoff(intervalMs, options.random);
    this.onRefusals = options.onRefusals ?? (() => {});
  }

  private readonly onRefusals: () => void;

  /** The peers refusing this device's sync requests now, by name: what its facts say. */
  refusals(): Record<string, SyncRefusal> {
    const refusing = this.backoff.refusing();
    const out: Record<string, SyncRefusal> = {};
    for (const peer of this.peers()) {
      const refusal = refusing.get(peer.id);
      if (refusal)
        out[peer.name] = {
          code: refusal.code,
          message: refusal.message,
          since: new Date(refusal.sinceMs).toISOString(),
        };
    }
    return out;
  }

  /**
   * Settles once this device's first round with its peers is over: each peer answered (what
   * it had that this device lacked is here) or did not, or the loop stopped. A device just
   * started knows the zone as it was when it stopped; what it must not act on before
   * hearing the rest (starting an app removed or moved meanwhile) waits for this.
   */
  firstRoundOver(): Promise<void> {
    return this.firstRound.promise;
  }

  start(): void {
    this.node.onChange((changesets, origin) => {
      if (origin === "local") for (const changeset of changesets) this.localChange(changeset);
      this.wake();
    });
    this.round();
  }

  /** Starts a round now if the loop waits for a peer and one has appeared. */
  private wake(): void {
    if (!this.idle || this.stopped || this.peers().length === 0) return;
    this.idle = false;
    clearTimeout(this.timer);
    this.round();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.firstRound.resolve();
    clearTimeout(this.timer);
    this.calls.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Pushes a changeset written here to every peer at once; to a peer a push is still under
   * way to, right after it, with whatever else was written meanwhile. A push each, all at
   * once, was a new connection each on a slow uplink (an app writing ten changes a second
   * had over a hundred open to its standby, half of them still sending their SYN), each
   * then sending again all the peer lacked: the device's own pushes filled its uplink with
   * megabytes of copies, and its presence, which rides them, came 40 s late.
   */
  private localChange(changeset: Changeset): void {
    if (this.stopped) return;
    const body = encodeEntries({
      have: versionVector(this.node.db),
      entries: [changeset.bytes],
      more: false,
      ...this.node.presence(),
    });
    // A peer waiting out a failure gets it with the next exchange instead.
    for (const peer of this.peers().filter((p) => this.due(p))) {
      if (this.pushing.has(peer.id)) this.pushAgain.add(peer.id);
      else this.push(peer, changeset, body);
    }
  }

  /**
   * Sends every peer this device's newest facts at once, not with the next round: what it
   * says of itself just changed (a backup a command of its own ran, say), and it may be
   * switched off before that round. Said as the daemon stops too.
   */
  tellFacts(timeoutMs?: number): Promise<void> {
    const record = this.node.ownFactsRecord();
    // Quarantined, every peer refuses its pushes (sayAlive).
    if (this.stopped || !record || this.node.quarantined()) return Promise.resolve();
    const body = encodeEntries({
      have: versionVector(this.node.db),
      entries: [],
      more: false,
      facts: [record],
      ...this.node.presence(),
    });
    const told = Promise.allSettled(
      this.peers()
        .filter((peer) => this.due(peer))
        .map((peer) =>
          this.call(peer, async () => {
            const ack = decodeAck(
              await this.client.post(peer, "/v1/sync/push", body, {
                repeatable: true,
                signal: this.calls.signal,
                ...(timeoutMs ? { timeoutMs } : {}),
              }),
            );
            this.node.receivePresence(ack);
          }),
        ),
    );
    this.track(told);
    return told.then(() => {});
  }

  /**
   * Sends `peer` this device's presence alone, while an exchange with it is held up: its
   * pages cross a slow uplink in minutes (a 4 MiB page at 1 Mbit/s, 34 s), and the presence
   * that rides its requests would wait as long, and the peer take this device for gone.
   * A small request of its own still waits in the link's queue (seconds), not for the bulk.
   */
  private sayAlive(peer: Peer): void {
    // Quarantined, this device only pulls: every peer refuses its pushes, and each refusal
    // would be warned of, waited out and counted among the refusals its facts tell.
    if (this.sayingAlive.has(peer.id) || this.node.quarantined()) return;
    this.sayingAlive.add(peer.id);
    const body = encodeEntries({
      have: versionVector(this.node.db),
      entries: [],
      more: false,
      ...this.node.presence(),
    });
    this.track(
      this.call(peer, async () => {
        const ack = decodeAck(
          await this.client.post(peer, "/v1/sync/push", body, {
            repeatable: true,
            signal: this.calls.signal,
          }),
        );
        this.node.receivePresence(ack);
      }).finally(() => this.sayingAlive.delete(peer.id)),
    );
  }

  /**
   * One push to `peer`, then what it lacks, again while more was written meanwhile; each
   * in its turn of sending to it (sendMissing()). A changeset the peer said it holds by
   * then (another sending carried it) is not posted again.
   */
  private push(peer: Peer, changeset: Changeset, body: Uint8Array): void {
    this.pushing.add(peer.id);
    const pushed = this.call(peer, async () => {
      try {
        let theirs = await this.inTurn(peer, async (acked) => {
          if (acked && (acked.get(changeset.author) ?? 0) >= changeset.seq)
            return this.sendPages(peer, acked, undefined);
          const ack = decodeAck(
            await this.client.post(peer, "/v1/sync/push", body, {
              repeatable: true,
              signal: this.calls.signal,
            }),
          );
          this.node.receivePresence(ack);
          return this.sendPages(peer, ack.have, undefined);
        });
        while (this.pushAgain.delete(peer.id) && !this.stopped)
          theirs = await this.sendMissing(peer, theirs, undefined);
      } finally {
        // In the same turn as the last look at pushAgain, so no change falls between: one
        // written from here on finds no push under way and starts its own. Cleared once the
        // call had ended (a few turns later), the mark of a change written meanwhile was
        // lost, and the change waited for the next round. A push that failed leaves the
        // rest to the next exchange (the peer is waited out).
        this.pushing.delete(peer.id);
        this.pushAgain.delete(peer.id);
      }
    });
    this.track(pushed);
  }

  /** One anti-entropy round with every peer, then the next one later. */
  private round(): void {
    if (this.stopped) return;
    // Not woken while it goes round: one round at a time, the next decided when it ends.
    this.idle = false;
    const exchanges = this.peers()
      .filter((peer) => this.due(peer))
      .map((peer) => {
        if (this.exchanging.has(peer.id)) this.sayAlive(peer);
        return this.exchange(peer);
      });
    if (!this.roundsBegun) void Promise.allSettled(exchanges).then(() => this.firstRound.resolve());
    this.roundsBegun = true;
    let patience: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => {
      patience = setTimeout(resolve, this.intervalMs * ROUND_PATIENCE_INTERVALS);
    });
    this.track(
      Promise.race([Promise.allSettled(exchanges), waited]).then(() => {
        clearTimeout(patience);
        if (this.stopped) return;
        // Its own revocation heard in a sync (before the peers stopped answering it).
        this.node.checkOwnStanding();
        if (this.stopped) return;
        this.idle = this.peers().length === 0;
        this.timer = setTimeout(() => this.round(), this.idle ? IDLE_ROUND_MS : this.intervalMs);
      }),
    );
  }

  /** Pulls what `peer` has that this node lacks, then sends what it lacks; one at a time per peer. */
  private exchange(peer: Peer): Promise<void> {
    const running = this.exchanging.get(peer.id);
    if (running) return running;
    const exchange = this.call(peer, async () => {
      const { theirs, theirFacts, theirProofs, tookTheirs } = await this.pull(peer);
      // Quarantined, this device only listens: every peer refuses what it would send.
      if (this.node.quarantined()) return;
      await this.sendMissing(peer, theirs, theirProofs, {
        facts: this.node.factsFor(theirFacts),
        proofs: this.node.proofsFor(theirProofs),
        sayHolding: tookTheirs,
      });
      // After the rest: a search that fails holds back nothing else of the exchange.
      await this.searchForks(peer);
    }).finally(() => this.exchanging.delete(peer.id));
    this.exchanging.set(peer.id, exchange);
    return exchange;
  }

  /**
   * Pulls what `peer` has that this node lacks, now, whatever the backoff says, and
   * returns what it holds (its version vector as it said it last); throws when it does not
   * answer or refuses. For a step that must know what the zone holds before it acts (a
   * revocation), not for keeping in sync.
   */
  async pullNow(peer: Peer): Promise<VersionVector> {
    // One pull at a time from a peer: a round's under way is let finish first.
    await this.exchanging.get(peer.id);
    // Its addresses probed again: one that failed a moment ago (as this device came back,
    // say) is remembered as unreachable for a while, and would not even be tried.
    await this.client.directAddress(peer, true);
    const { theirs } = await this.pull(peer);
    // It answers: what this device writes next goes to it at once, not after its backoff.
    this.answered(peer);
    return theirs;
  }

  /**
   * Pulls from `peer` page by page, until it has nothing more this node lacks. Says too
   * whether it took any of the peer's own changesets.
   */
  private async pull(peer: Peer): Promise<{
    theirs: VersionVector;
    theirFacts: VersionVector | undefined;
    theirProofs: VersionVector | undefined;
    tookTheirs: boolean;
  }> {
    let tookTheirs = false;
    let theirs: VersionVector = new Map();
    let theirFacts: VersionVector | undefined;
    let theirProofs: VersionVector | undefined;
    for (let page = 0; page < MAX_PAGES_PER_EXCHANGE && !this.stopped; page++) {
      const request = encodePullRequest({
        have: versionVector(this.node.db),
        ...this.node.presence(),
        factsHave: this.node.factsHave(),
        proofsHave: this.node.proofsHave(),
        heads: headHashes(this.node.db),
      });
      const message = decodeEntries(
        await this.client.post(peer, "/v1/sync/pull", request, {
          repeatable: true,
          signal: this.calls.signal,
        }),
      );
      // A device proven to equivocate is quarantined before its changesets are looked at.
      this.node.receiveProofs(message.proofs, peer.name);
      const before = versionVector(this.node.db);
      if (message.entries.length > 0) {
        const result = await this.node.ingest(message.entries, peer.name);
        this.node.noteBrokenChains(result, peer.name);
        tookTheirs ||= result.applied.some((changeset) => changeset.author === peer.id);
      }
      this.node.receivePresence(message);
      this.node.receiveFacts(message.facts);
      theirs = message.have;
      theirFacts = message.factsHave;
      theirProofs = message.proofsHave;
      // This device lacks what the peer compacted away: its checkpoint first, then the rest.
      if (message.checkpoint) {
        if (
          (await this.node.takeCheckpoint(peer, message.checkpoint, this.calls.signal)) ===
          "adopted"
        )
          continue;
        break;
      }
      if (!message.more) break;
      // A page that moved nothing here (all refused, or waiting on a gap) would come again
      // the same: an older peer sends a quarantined device's past the cut every time.
      if (!lacksAny(before, versionVector(this.node.db))) break;
    }
    return { theirs, theirFacts, theirProofs, tookTheirs };
  }

  /**
   * Asks `peer` for the changesets below each broken chain it sent (lib/sync/broken-chains.ts)
   * and compares them with those held: a fork point found is the proof that quarantines
   * the author; else the next round asks further below. A peer that does not know the
   * route (an older bucky) is not asked again for that chain.
   */
  private async searchForks(peer: Peer): Promise<void> {
    for (const chain of this.node.brokenChains.toSearch(peer.name)) {
      if (this.stopped) return;
      let answer: Uint8Array[] = [];
      try {
        const request = encodeEarlierRequest({ author: chain.author, below: chain.below });
        answer = [
          ...decodeEntries(
            await this.client.post(peer, "/v1/sync/earlier", request, {
              repeatable: true,
              signal: this.calls.signal,
            }),
          ).entries,
        ];
      } catch (error) {
        if (!(error instanceof BuckyError || error instanceof ProtocolError)) throw error;
        // Not known there (an older bucky): not asked again. Anything else: asked next round.
        if (error instanceof BuckyError && error.code === "E_NOT_FOUND")
          this.node.brokenChains.searched(chain, { kind: "none" });
        else
          this.node.log.debug("fork search failed; asked again next round", {
            peer: peer.name,
            device: chain.device,
            error: error.message,
          });
        continue;
      }
      const found = searchFork(this.node.db, this.node.zoneId, chain.author, answer);
      this.node.brokenChains.searched(chain, found);
      if (found.kind === "proof") this.node.receiveProofs([found.proof], peer.name);
    }
  }

  /**
   * Pushes whatever `theirs` lacks, after any sending of missing pages to `peer` already
   * under way, and from what the peer said it holds at the end of that one: an exchange's
   * and a push's sending at once sent the same pages. Returns what the peer holds, as it
   * last said.
   */
  private sendMissing(
    peer: Peer,
    theirs: VersionVector,
    theirProofs: VersionVector | undefined,
    records?: SendRecords,
  ): Promise<VersionVector> {
    return this.inTurn(peer, (acked) =>
      this.sendPages(peer, acked ? newestOf(theirs, acked) : theirs, theirProofs, records),
    );
  }

  /** Runs `send` in its turn of sending to `peer` (lib/node/sending-turns.ts). */
  private inTurn(
    peer: Peer,
    send: (acked: VersionVector | undefined) => Promise<VersionVector>,
  ): Promise<VersionVector> {
    return this.node.sendingTurns.take(peer.id, send);
  }

  /**
   * Pushes whatever `theirs` lacks, page by page, until the peer has it all or takes no
   * more; `facts` and `proofs` (records it lacks) go with the first push, alone if nothing
   * else is due, and so does `sayHolding`. Returns what the peer holds, as it last said.
   */
  private async sendPages(
    peer: Peer,
    theirs: VersionVector,
    theirProofs: VersionVector | undefined,
    records: SendRecords = { facts: [], proofs: [] },
  ): Promise<VersionVector> {
    let unsent: SendRecords = records;
    for (let page = 0; page < MAX_PAGES_PER_EXCHANGE && !this.stopped; page++) {
      // Quarantined, this device only listens: every peer refuses what it would send. (It
      // may have become so while its turn to send came.)
      if (this.node.quarantined()) return theirs;
      // A peer that lacks what this device compacted away fetches its checkpoint when it
      // pulls; until then nothing pushed would chain to what it holds.
      const lacking =
        lacksAny(theirs, versionVector(this.node.db)) &&
        !behindCheckpoint(this.node.db.$client, theirs);
      const records = unsent.facts.length + unsent.proofs.length + (unsent.sayHolding ? 1 : 0);
      if (!lacking && records === 0) return theirs;
      const message = lacking
        ? entriesMissingFrom(this.node.db, theirs, PAGE_BYTES, this.node.withheldFrom(theirProofs))
        : { have: versionVector(this.node.db), entries: [], more: false };
      // What it lacks may be only what this device holds back (a quarantined device's).
      if (message.entries.length === 0 && records === 0) return theirs;
      const body = encodeEntries({ ...message, facts: unsent.facts, proofs: unsent.proofs });
      unsent = { facts: [], proofs: [] };
      const ack = decodeAck(
        await this.client.post(peer, "/v1/sync/push", body, {
          repeatable: true,
          signal: this.calls.signal,
        }),
      );
      this.node.receivePresence(ack);
      // A peer that applies nothing refuses what we send (it logs why); do not insist.
      if (ack.applied === 0) return ack.have;
      theirs = ack.have;
    }
    return theirs;
  }

  /**
   * Runs a call to a peer: a peer that does not answer, or refuses, is waited out and said
   * once when that changes; bugs crash.
   */
  private async call(peer: Peer, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
      this.answered(peer);
    } catch (error) {
      // Called off as the loop stops: nothing to say of the peer.
      if (this.calls.signal.aborted) return;
      if (error instanceof ProtocolError) {
        this.node.log.warn("peer sent a malformed sync message", {
          peer: peer.name,
          error: error.message,
        });
      } else if (isPassing(error)) {
        // The state database was busy (or the disk full): the next round tries again.
        this.node.diskFull(error);
      } else if (!(error instanceof BuckyError)) {
        this.onBug(error);
      } else if (error.code === "E_UNAVAILABLE") {
        this.failed(peer, { kind: "unreachable", message: error.message });
      } else if (!(error instanceof PeerAnswerError && error.refused)) {
        // It failed on its side (its disk is full, a bug of its own), or this device found
        // its answer wrong: no refusal of this device, which its facts would tell the
        // whole zone of.
        this.failed(peer, { kind: "failing", code: error.code, message: error.message });
      } else {
        // Revoked: the owner's word, checked before it stops anything (lib/zone/revoked-here.ts).
        if (error.revocation !== undefined) this.node.heardRevocation(error.revocation);
        // A refusal (4xx): asked again every round, it would be refused every round.
        this.failed(peer, {
          kind: "refusing",
          code: error.code,
          message: error.message,
          sinceMs: this.node.now(),
        });
      }
    }
  }

  /** Whether to exchange with `peer` this round. */
  private due(peer: Peer): boolean {
    const heardAt = this.node.contacts.get(peer.id)?.lastSeenAt ?? 0;
    return this.backoff.due(peer.id, this.node.now(), heardAt);
  }

  private answered(peer: Peer): void {
    const before = this.backoff.answered(peer.id);
    if (before?.kind === "refusing") this.onRefusals();
    if (this.said.get(peer.id) === "answering") return;
    this.said.set(peer.id, "answering");
    this.node.peerAnswering(peer);
    if (before?.kind === "refusing")
      this.node.log.info(`${peer.name} takes this device's sync requests again`, {
        peer: peer.name,
      });
    else this.node.log.info(`${peer.name} is answering again`, { peer: peer.name });
  }

  private failed(peer: Peer, trouble: PeerTrouble): void {
    const before = this.backoff.failed(peer.id, trouble, this.node.now());
    const saying = trouble.kind === "refusing" ? `refusing ${trouble.code}` : trouble.kind;
    if (trouble.kind === "refusing" || before?.kind === "refusing") {
      const changed =
        before?.kind !== trouble.kind ||
        (trouble.kind === "refusing" &&
          before.kind === "refusing" &&
          (before.code !== trouble.code || before.message !== trouble.message));
      if (changed) this.onRefusals();
    }
    if (this.said.get(peer.id) === saying) return;
    this.said.set(peer.id, saying);
    if (trouble.kind === "unreachable") this.node.log.warn(trouble.message, { peer: peer.name });
    else if (trouble.kind === "failing")
      this.node.log.warn(`sync with ${peer.name} failed; asking less often`, {
        peer: peer.name,
        code: trouble.code,
        error: trouble.message,
      });
    else
      this.node.log.warn(
        trouble.code === "E_CLOCK"
          ? `${peer.name} refuses this device's sync requests: the two clocks are too far apart; set the right time here, or there; asking less often`
          : `${peer.name} refuses this device's sync requests; asking less often`,
        {
          peer: peer.name,
          code: trouble.code,
          error: trouble.message,
        },
      );
  }

  private peers(): Peer[] {
    return this.node.peers();
  }

  private track(promise: Promise<unknown>): void {
    this.inFlight.add(promise);
    promise.finally(() => this.inFlight.delete(promise));
  }
}
