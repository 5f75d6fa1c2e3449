/**
 * Says what this device knows of itself to the zone, as device facts: gathered every few
 * seconds from where each part is kept (the backup status the backup runs write, the
 * disk, a gateway's traffic by complete hours), signed and passed on only when something changed. Amounts that drift all the
 * time (free space) are rounded, so that they do not make a new record every time.
 */

import type { PurgeGrants } from "../apps/owner-grants.ts";
import { asCarriedOut } from "../apps/purge.ts";
import { type AppSpec, readSpecs } from "../apps/spec.ts";
import { type AppUsage, homeUsageSteps, type UsageSpecs } from "../disk/usage.ts";
import { trafficFacts } from "../gateway/zone-traffic.ts";
import type { HomePaths } from "../home.ts";
import type { NodeContext } from "../node/node-context.ts";
import { runAll, runSliced } from "../sliced.ts";
import { standingOf } from "../sync/membership.ts";
import { ownFacts } from "./own-facts.ts";
import {
  type CertificateFacts,
  type ClockAheadFacts,
  type DeviceFactsPayload,
  MAX_BROKEN_CHAINS_SAID,
  MAX_LEFTOVERS,
  MAX_REFUSAL_CHARS,
  MAX_USAGE_APPS,
  type ReplicaFacts,
  type SyncRefusedFacts,
  type UsageFacts,
  type WritesRefusedFacts,
} from "./payload.ts";

export const FACTS_EVERY_MS = 5_000;
/** How soon a change worth telling is said. */
const SOON_MS = 200;
/** Traffic counts move with every request: they are said at most this often. */
const TRAFFIC_EVERY_MS = 60_000;
/** Where the space goes is measured (a walk of the home) this often. */
const USAGE_EVERY_MS = 10 * 60_000;

/** Where the facts other parts keep are read from, each when the facts are gathered. */
export interface FactsSources {
  /** The app data this device holds and keeps copies of. */
  readonly replicas: () => ReplicaFacts;
  /** A gateway's certificates: expiry and last error, per name. */
  readonly certificates?: () => Record<string, CertificateFacts>;
  /** The names a gateway has no certificate for, past the most it keeps. */
  readonly certificatesLeftOut?: () => DeviceFactsPayload["certificatesLeftOut"];
  /** Why the gateway this device is to run does not serve (lib/gateway/host.ts). */
  readonly gatewayDown?: () => DeviceFactsPayload["gatewayDown"];
  /** The broken chains this device met and found in no proof yet (lib/sync/broken-chains.ts). */
  readonly brokenChains?: () => NonNullable<DeviceFactsPayload["brokenChains"]>;
  /** The devices refusing this one's sync requests (lib/node/sync-loop.ts). */
  readonly syncRefused?: () => Record<string, SyncRefusedFacts>;
  /** How often the facts are gathered. */
  readonly everyMs?: number;
  /** How often a gateway's traffic is counted anew for them (TRAFFIC_EVERY_MS). */
  readonly trafficEveryMs?: number;
  /** Tells the peers this device's facts at once (soon(), told). */
  readonly tell?: () => void;
}

export class FactsPublisher {
  private timer: ReturnType<typeof setInterval> | undefined;
  private traffic: { atMs: number; facts: DeviceFactsPayload["traffic"] } | undefined;
  private usage: { atMs: number; facts: UsageFacts } | undefined;
  private measuring = false;
  private stopped = false;

  private soonTimer: ReturnType<typeof setTimeout> | undefined;
  /** The next soon() publish is told to the peers at once. */
  private telling = false;

  constructor(
    private readonly node: NodeContext,
    private readonly sources: FactsSources,
  ) {}

  start(): void {
    this.publish();
    this.timer = setInterval(() => this.publish(), this.sources.everyMs ?? FACTS_EVERY_MS);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.soonTimer);
  }

  /**
   * Publishes shortly (a change worth telling; several close together are said once).
   * `told`: and tells the peers at once, not with the next round (what a command of its
   * own did, which the device may be switched off right after).
   */
  soon(told = false): void {
    this.telling ||= told;
    this.soonTimer ??= setTimeout(() => {
      this.soonTimer = undefined;
      this.publish();
      if (this.telling) this.sources.tell?.();
      this.telling = false;
    }, SOON_MS);
  }

  /** Gathers and publishes now; whether that said anything new. */
  publish(): boolean {
    const now = this.node.now();
    if (
      !this.traffic ||
      now - this.traffic.atMs >= (this.sources.trafficEveryMs ?? TRAFFIC_EVERY_MS)
    )
      this.traffic = { atMs: now, facts: trafficFacts(this.node.db, now) };
    const traffic = this.traffic.facts;
    if (!this.usage || now - this.usage.atMs >= USAGE_EVERY_MS) this.measure(now);
    const certificates = this.sources.certificates?.() ?? {};
    const certificatesLeftOut = this.sources.certificatesLeftOut?.();
    const gatewayDown = this.sources.gatewayDown?.();
    const brokenChains = (this.sources.brokenChains?.() ?? []).slice(0, MAX_BROKEN_CHAINS_SAID);
    const syncRefused = this.sources.syncRefused?.() ?? {};
    const clockAhead = clockAheadFacts(this.node, now);
    const writesRefused = writesRefusedFacts(this.node);
    return this.node.publishFacts({
      ...ownFacts(this.node.zone.paths, this.node.db, this.node.deviceName, {
        zone: this.node.zoneId,
        device: this.node.deviceId,
        root: () => this.node.backupRoot(),
      }),
      replicas: this.sources.replicas(),
      ...(traffic ? { traffic } : {}),
      ...(this.usage ? { usage: this.usage.facts } : {}),
      ...(Object.keys(certificates).length > 0 ? { certificates } : {}),
      ...(certificatesLeftOut ? { certificatesLeftOut } : {}),
      ...(brokenChains.length > 0 ? { brokenChains } : {}),
      // Its own error text, cut to what facts carry.
      ...(gatewayDown
        ? { gatewayDown: { message: gatewayDown.message.slice(0, 500), since: gatewayDown.since } }
        : {}),
      ...(Object.keys(syncRefused).length > 0 ? { syncRefused } : {}),
      ...(Object.keys(clockAhead).length > 0 ? { clockAhead } : {}),
      ...(Object.keys(writesRefused).length > 0 ? { writesRefused } : {}),
    });
  }

  /**
   * Takes figures measured just now by someone else (`bucky status --disk` here) as this
   * device's, and says them: the other devices then show what this one was just shown.
   */
  measured(usage: UsageFacts): void {
    this.usage = { atMs: this.node.now(), facts: usage };
    this.soon();
  }

  /** Measures where the space goes again at the next publish (after a compaction, a purge). */
  remeasure(): void {
    this.usage = undefined;
    this.soon();
  }

  /**
   * Walks the home for where its space goes, a slice at a time (a library of photos is many
   * files: walked at once, the gateway and sync would wait for it), then says it.
   */
  private measure(now: number): void {
    if (this.measuring) return;
    this.measuring = true;
    runSliced(usageFactsSteps(this.node, now), () => this.stopped)
      .then((facts) => {
        if (!facts) return;
        this.usage = { atMs: now, facts };
        this.soon();
      })
      // A full disk waits for the next measure; anything else is a bug (thrown on).
      .catch((error: unknown) => this.node.diskFull(error))
      .finally(() => {
        this.measuring = false;
      });
  }
}

/** The members whose records this device refuses for their clock, by name, as its facts say them. */
function clockAheadFacts(node: NodeContext, nowMs: number): Record<string, ClockAheadFacts> {
  const membership = node.membership();
  const out: Record<string, ClockAheadFacts> = {};
  for (const [device, { aheadMs, sinceMs }] of node.clocksAhead.current(nowMs)) {
    const member = membership.byId.get(device);
    if (member && standingOf(membership, device) === "member")
      out[member.name] = { aheadMs: Math.round(aheadMs), since: new Date(sinceMs).toISOString() };
  }
  return out;
}

/** The members whose changesets this device refuses by a write rule, by name, as its facts say them. */
function writesRefusedFacts(node: NodeContext): Record<string, WritesRefusedFacts> {
  const membership = node.membership();
  const out: Record<string, WritesRefusedFacts> = {};
  for (const [author, { seq, reason, sinceMs }] of node.refusedWrites.current()) {
    const member = membership.byId.get(author);
    if (member && standingOf(membership, author) === "member" && member.id !== node.deviceId)
      out[member.name] = {
        seq,
        reason: reason.slice(0, MAX_REFUSAL_CHARS),
        since: new Date(sinceMs).toISOString(),
      };
  }
  return out;
}

/** Where this device's space goes, as its facts say it: the largest apps, the first leftovers. */
export function usageFacts(node: UsageSubject, nowMs: number): UsageFacts {
  return runAll(usageFactsSteps(node, nowMs));
}

interface UsageSubject {
  readonly zone: { readonly paths: HomePaths };
  readonly db: NodeContext["db"];
  readonly purgeGrants: PurgeGrants;
  readonly deviceName: string;
}

/**
 * The apps' specs as this device carries them out: what is left of a removal whose purge
 * the owner did not grant is its data, kept, and said as such.
 */
function usageSpecs(node: UsageSubject): UsageSpecs {
  const specs: AppSpec[] = [];
  const ungrantedPurges = new Set<string>();
  for (const written of readSpecs(node.db)) {
    const spec = asCarriedOut(node.db, node.purgeGrants, written);
    if (written.purge === true && spec.purge !== true) ungrantedPurges.add(spec.app);
    specs.push(spec);
  }
  return { specs, ungrantedPurges };
}

/** The same, a step at a time, for a daemon to run in slices. */
export function* usageFactsSteps(
  node: UsageSubject,
  nowMs: number,
): Generator<void, UsageFacts, void> {
  const usage = yield* homeUsageSteps(node.zone.paths, node.db, usageSpecs(node), node.deviceName);
  const total = (app: AppUsage) =>
    app.dataBytes +
    app.upgradeCopiesBytes +
    app.packagesBytes +
    app.conflictsBytes +
    app.replicaBytes +
    app.logsBytes;
  return {
    ...usage,
    apps: Object.fromEntries(
      Object.entries(usage.apps)
        .sort(([, a], [, b]) => total(b) - total(a))
        .slice(0, MAX_USAGE_APPS),
    ),
    leftovers: [...usage.leftovers].sort((a, b) => b.bytes - a.bytes).slice(0, MAX_LEFTOVERS),
    measuredAt: new Date(nowMs).toISOString(),
  };
}
