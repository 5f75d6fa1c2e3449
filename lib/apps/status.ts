/**
 * What the zone's apps are doing, as any device can tell from the state: where each one
 * should run (computed exactly as the devices compute it), and what that device reported.
 */
import { isImageRun } from "../../protocol/app-manifest.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import type { Candidate } from "../../protocol/placement.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import { saidBy } from "../facts/said-by.ts";
import { readZoneFacts } from "../facts/zone-facts.ts";
import type { EngineFacts } from "../images/engine-facts.ts";
import { type AppDataStatus, appDataStatus } from "../replica/data-status.ts";
import type { Holding } from "../replica/holding.ts";
import { appHasData, claimedHolding, readHoldingFacts } from "../replica/zone-holding.ts";
import type { StateQueries } from "../store/db.ts";
import { type Membership, standingOf } from "../sync/membership.ts";
import { heardWithin, lastHeardAlive } from "../sync/presence.ts";
import { type AppSpec, type DesiredState, type RunState, readReport, readSpecs } from "./spec.ts";
import { APP_STATE_MAX_BYTES, countedSegments, stateBytesUnder } from "./state-quota.ts";
import { failedUpgradeSentence } from "./upgrade-rollback.ts";
import { upgradeWaitOf } from "./upgrade-wait.ts";

/** A device not heard alive for this long no longer holds `any` apps, by default. */
export const DEFAULT_HEARTBEAT_MS = 30_000;
export const LIVE_WINDOW_BEATS = 3;

export interface ZoneView {
  readonly db: StateQueries;
  readonly deviceId: DeviceId;
  now(): number;
  membership(): Membership;
}

export interface AppStatus {
  readonly app: string;
  readonly version: string;
  readonly state: RunState;
  /**
   * The device that runs it (or should), or null when none can. Of an app with data, its
   * holder until another device claims it, even when a takeover is due (data.takeover).
   */
  readonly device: string | null;
  readonly url: string | null;
  readonly sandboxed: boolean;
  /** What runs it: "podman 4.3.1" (an image app), "bubblewrap" (a sandboxed process), or null. */
  readonly engine: string | null;
  /** An image app's image, by its digest. */
  readonly image: string | null;
  readonly restarts: number;
  /** What went wrong: the zone's words, or those of `reportedBy` (its report). */
  readonly error: string | null;
  /**
   * The device whose report `url` and `error` come from, as it wrote them: a member writes
   * its reports as it likes, so whoever shows them says they are its words (saidBy). Null
   * when they are the zone's own (why no device runs it) or there are none.
   */
  readonly reportedBy: string | null;
  readonly placement: string;
  readonly desired: DesiredState;
  readonly package: string;
  readonly exposure: "public" | "zone";
  /** Whom a zone-only app is shared with beside the admins (people and roles); null: everyone. */
  readonly shared: readonly string[] | null;
  /** For an app with data: who holds it, its standbys and how far behind, conflict copies. */
  readonly data: AppDataStatus | null;
  /**
   * The live zone state counted against the app's cap (state-quota.ts): key and value bytes
   * under each apps/<name>/ it may write. From the zone state alone, so every device says
   * the same.
   */
  readonly stateBytes: number;
  readonly stateMaxBytes: number;
}

/** Members in good standing, and those of them alive lately (this device always is). */
export function placementCandidates(
  zone: ZoneView,
  liveWindowMs: number,
): { members: Candidate[]; live: Candidate[] } {
  const membership = zone.membership();
  const members = [...membership.byId.values()]
    .filter((member) => standingOf(membership, member.id) === "member")
    .map((member) => ({ name: member.name as string, id: member.id as string }));
  const alive = lastHeardAlive(zone.db);
  const nowMs = zone.now();
  const live = members.filter(
    (member) =>
      member.id === zone.deviceId ||
      heardWithin(alive.get(member.id as DeviceId), nowMs, liveWindowMs),
  );
  return { members, live };
}

/**
 * Every app's status. `sayOffline: false` keeps the last report of a device not heard
 * lately as it is (the gateways' routing: they try a pinned device whose presence is late
 * rather than refuse a request it may well answer).
 */
export function appStatuses(
  zone: ZoneView,
  liveWindowMs: number,
  { sayOffline = true }: { readonly sayOffline?: boolean } = {},
): AppStatus[] {
  const candidates = placementCandidates(zone, liveWindowMs);
  const live = new Set(candidates.live.map((candidate) => candidate.name));
  const facts = readHoldingFacts(zone.db, zone.membership());
  const devices = readZoneFacts(zone.db, zone.membership(), zone.now(), liveWindowMs);
  /** How long the holder has not been heard alive, or null: never (no presence of it held). */
  const silentMs = (holding: Holding) => {
    const heardAt = devices.find((d) => d.name === holding.holder?.device)?.heardAliveAt ?? null;
    return heardAt === null ? null : Math.max(0, zone.now() - heardAt);
  };
  return readSpecs(zone.db)
    .filter((spec) => spec.desired !== "removed")
    .map((spec) => {
      const { holding, takeoverBy } = claimedHolding(spec, candidates, facts);
      const takeover = takeoverBy ? { by: takeoverBy, holderSilentMs: silentMs(holding) } : null;
      const data = appHasData(spec) ? appDataStatus(spec, holding, devices, takeover) : null;
      // A takeover due says it beside the holder's last report (data.takeover) instead.
      const offline =
        sayOffline && holding.runner !== undefined && !live.has(holding.runner) && !takeover;
      return statusOf(zone, spec, holding, data, facts.engines, offline);
    })
    .sort((a, b) => compareCodeUnits(a.app, b.app));
}

function statusOf(
  zone: ZoneView,
  spec: AppSpec,
  holding: Holding,
  data: AppDataStatus | null,
  engines: ReadonlyMap<string, EngineFacts>,
  /**
   * Its device (a pinned app's, or the holder of its data with no takeover due) is not
   * heard alive lately.
   */
  offline: boolean,
): AppStatus {
  const device = holding.runner ?? null;
  const report = device ? readReport(zone.db, device, spec.app) : undefined;
  const current = report?.package === spec.package ? report : undefined;
  const run = spec.manifest.run;
  const image = isImageRun(run) ? run.image : null;
  const engine = image
    ? ((device ? engines.get(device)?.engine : null) ?? "podman")
    : current?.sandboxed
      ? "bubblewrap"
      : null;
  const base = {
    app: spec.app,
    version: spec.version,
    device,
    placement: spec.placement,
    desired: spec.desired,
    package: spec.package,
    exposure: spec.manifest.exposure,
    shared: spec.shared ?? null,
    data,
    sandboxed: current?.sandboxed ?? false,
    engine,
    image,
    restarts: current?.restarts ?? 0,
    stateBytes: stateBytesUnder(zone.db, countedSegments(spec.app, spec.manifest.permissions)),
    stateMaxBytes: APP_STATE_MAX_BYTES,
  };
  if (spec.desired === "stopped") {
    return { ...base, state: "stopped", url: null, error: null, reportedBy: null };
  }
  if (!device) {
    return {
      ...base,
      state: "pending",
      url: null,
      error: holding.waiting ?? "no live device of the zone can run it now",
      reportedBy: null,
    };
  }
  if (offline) {
    // What it said last is stale: as `bucky app logs` says it, every device but that one
    // (which always counts itself live) tells it is offline rather than showing it running.
    return {
      ...base,
      state: "pending",
      url: null,
      error: `${device} is offline${current ? `: when last heard, it said the app was ${current.state}` : ""}`,
      reportedBy: null,
    };
  }
  if (!current) {
    // The version before goes on until the device holds the new one (Convergence.upgradeWaits),
    // at its address, where the gateways still send requests (answersAt). Not named: a
    // report's version is its device's words, and this is the zone's.
    // Why it waits is the device's words, quoted as such (its report says it).
    const before = report?.state === "running" || report?.state === "unhealthy";
    const why = upgradeWaitOf(report, spec);
    return {
      ...base,
      state: "pending",
      url: before ? report.url : null,
      error: before
        ? `the version before runs on ${device} until ${spec.version} is ready there${why ? `: ${saidBy(device, why)}` : ""}`
        : (failedUpgradeSentence(spec) ?? null),
      reportedBy: null,
    };
  }
  // An upgrade given up is the zone's to say (its spec), while the version back says nothing.
  const failed = current.error === null ? failedUpgradeSentence(spec) : undefined;
  return {
    ...base,
    state: current.state,
    url: current.url,
    error: failed ?? current.error,
    reportedBy: failed ? null : device,
  };
}

/**
 * Whether requests for the app are to be sent to its device: it runs there, or its version
 * before does while the new one is on its way (pending, with the address it answers at).
 */
export function answersAt(status: AppStatus): boolean {
  return (
    status.state === "running" ||
    status.state === "unhealthy" ||
    (status.state === "pending" && status.url !== null)
  );
}

export function appStatus(zone: ZoneView, app: string, liveWindowMs: number): AppStatus {
  const status = appStatuses(zone, liveWindowMs).find((candidate) => candidate.app === app);
  if (!status)
    throw new BuckyError(
      "E_NOT_FOUND",
      `no app ${app} is installed`,
      "See the apps with `bucky app list`.",
    );
  return status;
}
