/**
 * Traffic across the zone: each gateway says, in its device facts, how many requests
 * each app had in each of the last 24 hours (the one under way included, as of when it
 * last said it); summed over the gateways, that is the zone's traffic, the same on every
 * device.
 */

import { compareCodeUnits } from "../../protocol/text-order.ts";
import type { DeviceFactsPayload } from "../facts/payload.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import type { StateDb } from "../store/db.ts";
import { type TrafficSeries, trafficSeries } from "./accounting.ts";

const HOUR_MS = 3_600_000;
export const TRAFFIC_HOURS = 24;
/** The facts record is small: past this many apps, the busiest are said. */
const MAX_APPS = 50;

/** This gateway's last hours, for its device facts; undefined when it served nothing. */
export function trafficFacts(db: StateDb, nowMs: number): DeviceFactsPayload["traffic"] {
  const untilMs = Math.floor(nowMs / HOUR_MS) * HOUR_MS + HOUR_MS;
  const fromMs = untilMs - TRAFFIC_HOURS * HOUR_MS;
  const series = trafficSeries(db, fromMs, HOUR_MS)
    .map((s) => ({ ...s, points: s.points.filter((p) => Date.parse(p.at) < untilMs) }))
    .filter((s) => s.points.length > 0)
    .sort((a, b) => total(b) - total(a))
    .slice(0, MAX_APPS);
  if (series.length === 0) return undefined;
  const apps: NonNullable<DeviceFactsPayload["traffic"]>["apps"] = {};
  for (const s of series) {
    const hours = Array.from({ length: TRAFFIC_HOURS }, () => ({ requests: 0, bytesOut: 0 }));
    for (const point of s.points) {
      const hour = Math.floor((Date.parse(point.at) - fromMs) / HOUR_MS);
      if (hour >= 0 && hour < TRAFFIC_HOURS)
        hours[hour] = { requests: point.requests, bytesOut: point.bytesOut };
    }
    apps[s.app] = hours;
  }
  return { fromMs, apps };
}

/**
 * The zone's traffic per app and hour over the last 24 hours, summed over its gateways. A
 * revoked device is no gateway of the zone: what it last said is left out.
 */
export function zoneTraffic(devices: readonly DeviceStanding[], nowMs: number): TrafficSeries[] {
  const fromMs = Math.floor(nowMs / HOUR_MS) * HOUR_MS + HOUR_MS - TRAFFIC_HOURS * HOUR_MS;
  const apps = new Map<string, { requests: number; bytesOut: number }[]>();
  for (const device of devices) {
    const traffic = device.facts.traffic;
    if (!traffic || device.standing === "revoked") continue;
    for (const [app, hours] of Object.entries(traffic.apps)) {
      const sums =
        apps.get(app) ??
        Array.from({ length: TRAFFIC_HOURS }, () => ({ requests: 0, bytesOut: 0 }));
      hours.forEach((point, i) => {
        const hour = Math.round((traffic.fromMs + i * HOUR_MS - fromMs) / HOUR_MS);
        const sum = sums[hour];
        if (!sum) return;
        sum.requests += point.requests;
        sum.bytesOut += point.bytesOut;
      });
      apps.set(app, sums);
    }
  }
  return [...apps]
    .map(([app, sums]) => ({
      app,
      points: sums.map((sum, i) => ({ at: new Date(fromMs + i * HOUR_MS).toISOString(), ...sum })),
    }))
    .sort((a, b) => compareCodeUnits(a.app, b.app));
}

function total(series: TrafficSeries): number {
  return series.points.reduce((sum, p) => sum + p.requests, 0);
}

/** The zone's requests and bytes sent per app since a time, and which gateways said them. */
export interface ZoneTrafficTotals {
  /** The start of the first hour counted (RFC 3339): the figures are by whole hours. */
  readonly since: string;
  readonly apps: readonly {
    readonly app: string;
    readonly requests: number;
    readonly bytesOut: number;
  }[];
  /** The gateways whose figures these are, and when each last said them (RFC 3339). */
  readonly gateways: readonly { readonly device: string; readonly saidAt: string | null }[];
}

/**
 * The zone's traffic since `sinceMs` per app, summed over its gateways' facts, the same on
 * every device: the hours that end after `sinceMs`, at most the last 24 (all the facts keep);
 * with `app`, that app's alone.
 */
export function zoneTrafficSince(
  devices: readonly DeviceStanding[],
  nowMs: number,
  sinceMs: number,
  app?: string,
): ZoneTrafficTotals {
  const series = zoneTraffic(devices, nowMs).filter((s) => app === undefined || s.app === app);
  const fromMs = Math.floor(nowMs / HOUR_MS) * HOUR_MS + HOUR_MS - TRAFFIC_HOURS * HOUR_MS;
  const firstMs = Math.max(fromMs, Math.floor(sinceMs / HOUR_MS) * HOUR_MS);
  const apps = series
    .map(({ app, points }) => {
      const counted = points.filter((p) => Date.parse(p.at) >= firstMs);
      return {
        app,
        requests: counted.reduce((sum, p) => sum + p.requests, 0),
        bytesOut: counted.reduce((sum, p) => sum + p.bytesOut, 0),
      };
    })
    .filter((app) => app.requests > 0 || app.bytesOut > 0);
  const gateways = devices
    .filter((device) => device.facts.traffic && device.standing !== "revoked")
    .map((device) => ({
      device: device.name,
      saidAt: timeOf(device.factsAt),
    }))
    .sort((a, b) => compareCodeUnits(a.device, b.device));
  return { since: new Date(firstMs).toISOString(), apps, gateways };
}

/** A time another device gave, in RFC 3339, or null when it is no time a Date can hold. */
function timeOf(ms: number | null): string | null {
  const at = new Date(ms ?? Number.NaN);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}
