/**
 * `bucky app limit`: an app's request and bandwidth limits, set by the owner over what
 * its manifest asks for, at `users/<user>/apps/<app>/limits`.
 */
import { parseBandwidth } from "../../protocol/app-manifest.ts";
import { readSpec } from "../apps/spec.ts";
import { BuckyError } from "../errors.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { type AppLimits, limitsKey } from "./table.ts";

export interface LimitsRequest {
  readonly rps?: number | null;
  /** Like "10MB/s"; null or "none" lifts the limit. */
  readonly bandwidth?: string | null;
}

// What a wrong limit is told, in words the panel's form and the command both fit (the
// panel shows the daemon's own error).
const REQUESTS_A_SECOND = "the request limit is a whole number of requests a second";
const BANDWIDTH_LIKE = "A rate like 10MB/s, or none.";

/** The limits a request's body asks for, each checked for its type where it is read. */
export function limitsRequest(body: Readonly<Record<string, unknown>>): LimitsRequest {
  const { rps, bandwidth } = body;
  if (rps !== undefined && rps !== null && typeof rps !== "number")
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

export function setLimits(
  zone: ZoneWriter,
  app: string,
  request: LimitsRequest,
): { app: string; limits: AppLimits } {
  const spec = readSpec(zone.db, app);
  if (!spec || spec.desired === "removed")
    throw new BuckyError(
      "E_NOT_FOUND",
      `no app ${app} is installed`,
      "See the apps with `bucky app list`.",
    );
  const limits: { rps?: number; bandwidthBytesPerSecond?: number } = {};
  if (request.rps !== undefined && request.rps !== null) {
    if (!(Number.isInteger(request.rps) && request.rps > 0))
      throw new BuckyError("E_INVALID_INPUT", REQUESTS_A_SECOND);
    limits.rps = request.rps;
  }
  if (
    request.bandwidth !== undefined &&
    request.bandwidth !== null &&
    request.bandwidth !== "none"
  ) {
    const rate = parseBandwidth(request.bandwidth);
    if (!rate)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${JSON.stringify(request.bandwidth)} is not a bandwidth`,
        BANDWIDTH_LIKE,
      );
    limits.bandwidthBytesPerSecond = rate;
  }
  zone.write([{ key: limitsKey(app), value: JSON.stringify(limits) }]);
  zone.log.info("app limits set", {
    app,
    rps: limits.rps,
    bandwidth: limits.bandwidthBytesPerSecond,
  });
  return { app, limits };
}
