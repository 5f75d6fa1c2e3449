import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import type { DeviceFactsPayload } from "../facts/payload.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import { zoneTraffic, zoneTrafficSince } from "./zone-traffic.ts";

const HOUR_MS = 3_600_000;
const NOW = Date.parse("2026-11-29T14:30:00.000Z");
/** The first of the 24 hours a gateway's facts hold at NOW (the one under way is the last). */
const FROM = Date.parse("2026-11-28T15:00:00.000Z");

/** A device that said these requests per app in the last hours (oldest first, ending now). */
function gateway(
  name: string,
  standing: DeviceStanding["standing"],
  apps: Record<string, number[]>,
): DeviceStanding {
  const traffic: NonNullable<DeviceFactsPayload["traffic"]> = { fromMs: FROM, apps: {} };
  for (const [app, last] of Object.entries(apps))
    traffic.apps[app] = [...Array.from({ length: 24 - last.length }, () => 0), ...last].map(
      (requests) => ({ requests, bytesOut: requests * 100 }),
    );
  return {
    name,
    id: `d${name}` as DeviceId,
    standing,
    live: true,
    heardAliveAt: NOW,
    facts: { traffic },
    factsAt: NOW - 60_000,
  };
}

describe("the zone's traffic", () => {
  const nas = gateway("nas", "member", { notes: [1, 2, 3], photos: [5, 0, 0] });
  const vps = gateway("vps", "member", { notes: [10, 20, 30] });
  const laptop: DeviceStanding = { ...gateway("laptop", "member", {}), facts: {} };
  const gone = gateway("old-vps", "revoked", { notes: [1000, 1000, 1000], chat: [7, 7, 7] });

  test("sums every gateway's figures and leaves out what a revoked device last said", () => {
    const series = zoneTraffic([nas, vps, laptop, gone], NOW);
    expect(
      series.map(({ app, points }) => ({
        app,
        last: points.slice(-3).map((p) => p.requests),
      })),
    ).toEqual([
      { app: "notes", last: [11, 22, 33] },
      { app: "photos", last: [5, 0, 0] },
    ]);
  });

  test("since a time: the whole hours from the one it falls in, and which gateways said them", () => {
    expect(zoneTrafficSince([gone, vps, laptop, nas], NOW, NOW - HOUR_MS)).toEqual({
      since: "2026-11-29T13:00:00.000Z",
      apps: [{ app: "notes", requests: 55, bytesOut: 5500 }],
      gateways: [
        { device: "nas", saidAt: "2026-11-29T14:29:00.000Z" },
        { device: "vps", saidAt: "2026-11-29T14:29:00.000Z" },
      ],
    });
    const all = zoneTrafficSince([nas, vps, gone], NOW, NOW - 7 * 24 * HOUR_MS, "photos");
    expect({ since: all.since, apps: all.apps }).toEqual({
      since: new Date(FROM).toISOString(),
      apps: [{ app: "photos", requests: 5, bytesOut: 500 }],
    });
  });

  test("is the same on every device: it reads only what the gateways said", () => {
    const onNas = zoneTrafficSince([nas, vps, laptop], NOW, NOW - 24 * HOUR_MS);
    const onLaptop = zoneTrafficSince([laptop, vps, nas], NOW, NOW - 24 * HOUR_MS);
    expect(onLaptop).toEqual(onNas);
    expect(onNas.apps).toEqual([
      { app: "notes", requests: 66, bytesOut: 6600 },
      { app: "photos", requests: 5, bytesOut: 500 },
    ]);
  });

  test("a time a gateway gave that is no time is said as none, not a failure", () => {
    const odd = { ...nas, factsAt: 1e20 };
    expect(zoneTrafficSince([odd], NOW, NOW - HOUR_MS).gateways).toEqual([
      { device: "nas", saidAt: null },
    ]);
  });
});
