/**
 * `bucky traffic`: what each app had through the zone's gateways, the same on every device
 * (from the facts each gateway publishes, by whole hours); with --here, what it sent and
 * received through this device's gateway, per client.
 */
import type { AppTraffic } from "../lib/gateway/accounting.ts";
import type { ZoneTrafficTotals } from "../lib/gateway/zone-traffic.ts";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "./command.ts";
import { parseDuration } from "./duration.ts";
import { plural } from "./text.ts";

type TrafficResult =
  | ({ scope: "zone" } & ZoneTrafficTotals)
  | { scope: "here"; since: string; apps: AppTraffic[] };

export default defineBuckyCommand({
  meta: {
    name: "traffic",
    description:
      "Requests and bytes per app through the zone's gateways (--here: this gateway's, per client)",
    examples: [
      "bucky traffic                     # the zone's last 24 hours, the same on every device",
      "bucky traffic --here --since 1h   # this gateway's, per client",
    ],
  },
  args: {
    app: { type: "string", valueHint: "app", description: "Only this app" },
    since: {
      type: "string",
      valueHint: "duration",
      description: "Over the last … (default: 24h; the zone's figures go back 24h at most)",
    },
    here: {
      type: "boolean",
      description: "This device's gateway alone, per client, bytes in and out",
    },
  },
  async run(args, context): Promise<TrafficResult> {
    const since = context.now() - parseDuration(args.since ?? "24h", "--since");
    const query = `since=${since}${args.app ? `&app=${encodeURIComponent(args.app)}` : ""}`;
    if (!args.here)
      return {
        scope: "zone",
        ...(await requestDaemon<ZoneTrafficTotals>(
          context.home,
          "GET",
          `/v1/traffic/zone?${query}`,
        )),
      };
    return {
      scope: "here",
      ...(await requestDaemon<{ since: string; apps: AppTraffic[] }>(
        context.home,
        "GET",
        `/v1/traffic?${query}`,
      )),
    };
  },
  text(result) {
    return result.scope === "zone" ? zoneText(result) : hereText(result);
  },
});

function zoneText({ since, apps, gateways }: ZoneTrafficTotals): string {
  if (gateways.length === 0)
    return "No gateway of the zone has said of any traffic yet (`bucky gateway enable` makes one).";
  const said = gateways.map((g) => `${g.device} as of ${g.saidAt ?? "an unknown time"}`);
  const from = `through the zone's gateways since ${since} (${said.join(", ")})`;
  if (apps.length === 0) return `No traffic ${from}.`;
  const rows = apps.map(
    (app) =>
      `${app.app.padEnd(16)} ${plural(app.requests, "request").padStart(14)}  ${bytes(app.bytesOut).padStart(9)} out`,
  );
  return [
    `Traffic ${from}:`,
    ...rows,
    "Per client, bytes in too: `bucky traffic --here` on each gateway.",
  ].join("\n");
}

function hereText({ since, apps }: { since: string; apps: AppTraffic[] }): string {
  if (apps.length === 0) return `No traffic through this device's gateway since ${since}.`;
  const rows = apps.flatMap((app) => [
    `${app.app.padEnd(16)} ${plural(app.requests, "request").padStart(14)}  ${bytes(app.bytesIn).padStart(9)} in  ${bytes(app.bytesOut).padStart(9)} out`,
    ...app.clients.map(
      (c) =>
        `  ${c.client.padEnd(14)} ${plural(c.requests, "request").padStart(14)}  ${bytes(c.bytesIn).padStart(9)} in  ${bytes(c.bytesOut).padStart(9)} out`,
    ),
  ]);
  return [`Through this device's gateway since ${since}:`, ...rows].join("\n");
}

function bytes(count: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
