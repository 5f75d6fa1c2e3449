/**
 * `bucky app limit`: an app's request and bandwidth limits, set by the owner over what
 * its manifest asks for (owner-limits.ts): each a number, null (lifted: none, whatever the
 * manifest says), or not named (the manifest's).
 */
import { parseBandwidth } from "../../protocol/app-manifest.ts";
import { type AppSpec, readSpec } from "../apps/spec.ts";
import { BuckyError } from "../errors.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import {
  type LimitName,
  type OwnerLimits,
  ownerLimitsOps,
  readOwnerLimits,
} from "./owner-limits.ts";
import { type AppLimits, limitsInForce } from "./table.ts";

export interface LimitsRequest {
  /** Requests a second; "none" (or null) lifts the limit, "default" is the manifest's. */
  readonly rps?: number | "none" | "default" | null;
  /** Like "10MB/s"; "none" (or null) lifts the limit, "default" is the manifest's. */
  readonly bandwidth?: string | null;
}

/** An app's limits: those in force at every gateway, the manifest's, and what the owner set. */
export interface LimitsAnswer {
  readonly app: string;
  readonly limits: AppLimits;
  readonly manifest: AppLimits;
  readonly set: OwnerLimits;
}

// What a wrong limit is told, in words the panel's form and the command both fit (the
// panel shows the daemon's own error).
const REQUESTS_A_SECOND =
  "the request limit is a whole number of requests a second, none, or default";
const BANDWIDTH_LIKE = "A rate like 10MB/s, none, or default (the manifest's).";

/** The limits a request's body asks for, each checked for its type where it is read. */
export function limitsRequest(body: Readonly<Record<string, unknown>>): LimitsRequest {
  const { rps, bandwidth } = body;
  if (
    rps !== undefined &&
    rps !== null &&
    typeof rps !== "number" &&
    rps !== "none" &&
    rps !== "default"
  )
    throw new BuckyError("E_INVALID_INPUT", REQUESTS_A_SECOND);
  if (bandwidth !== undefined && bandwidth !== null && typeof bandwidth !== "string")
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${JSON.stringify(bandwidth)?.slice(0, 40)} is not a bandwidth`,
      BANDWIDTH_LIKE,
    );
  return {
    ...(rps !== undefined ? { rps } : {}),
    ...(bandwidth !== undefined ? { bandwidth } : {}),
  };
}

/** `app`'s limits, read from the zone state: the same on every device. */
export function appLimits(db: ZoneWriter["db"], app: string): LimitsAnswer {
  const spec = installedSpec(db, app);
  const set = readOwnerLimits(db, app);
  return {
    app,
    limits: limitsInForce(spec.manifest.limits, set),
    manifest: spec.manifest.limits,
    set,
  };
}

/**
 * Sets the limits `request` names, over what the owner set before (a limit it does not
 * name stays as it was).
 */
export function setLimits(zone: ZoneWriter, app: string, request: LimitsRequest): LimitsAnswer {
  installedSpec(zone.db, app);
  const set: { rps?: number | null; bandwidthBytesPerSecond?: number | null } = {
    ...readOwnerLimits(zone.db, app),
  };
  const changed: LimitName[] = [];
  if (request.rps !== undefined) {
    const rps = request.rps;
    if (rps === "default") delete set.rps;
    else if (rps === "none" || rps === null) set.rps = null;
    else if (Number.isInteger(rps) && rps > 0) set.rps = rps;
    else throw new BuckyError("E_INVALID_INPUT", REQUESTS_A_SECOND);
    changed.push("rps");
  }
  if (request.bandwidth !== undefined) {
    const bandwidth = request.bandwidth;
    if (bandwidth === "default") delete set.bandwidthBytesPerSecond;
    else if (bandwidth === "none" || bandwidth === null) set.bandwidthBytesPerSecond = null;
    else {
      const rate = parseBandwidth(bandwidth);
      if (!rate)
        throw new BuckyError(
          "E_INVALID_INPUT",
          `${JSON.stringify(bandwidth)} is not a bandwidth`,
          BANDWIDTH_LIKE,
        );
      set.bandwidthBytesPerSecond = rate;
    }
    changed.push("bandwidthBytesPerSecond");
  }
  // Each limit named under its own key: one set at once on another device stands beside it.
  zone.write(ownerLimitsOps(zone.db, app, set, changed));
  const answer = appLimits(zone.db, app);
  zone.log.info("app limits set", {
    app,
    rps: answer.limits.rps,
    bandwidth: answer.limits.bandwidthBytesPerSecond,
  });
  return answer;
}

function installedSpec(db: ZoneWriter["db"], app: string): AppSpec {
  const spec = readSpec(db, app);
  if (!spec || spec.desired === "removed")
    throw new BuckyError(
      "E_NOT_FOUND",
      `no app ${app} is installed`,
      "See the apps with `bucky app list`.",
    );
  return spec;
}
