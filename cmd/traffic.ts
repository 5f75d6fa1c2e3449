/** `bucky traffic`: what each app sent and received through this device's gateway. */
import type { AppTraffic } from "../lib/gateway/accounting.ts";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "./command.ts";
import { parseDuration } from "./duration.ts";
import { plural } from "./text.ts";

export default defineBuckyCommand({
  meta: {
    name: "traffic",
    description: "Requests and bytes per app (and client) through this gateway",
  },
  args: {
    app: { type: "string", valueHint: "app", description: "Only this app" },
    since: { type: "string", valueHint: "duration", description: "Over the last … (default: 24h)" },
  },
  async run(args, context) {
    const since = context.now() - parseDuration(args.since ?? "24h", "--since");
    const query = `since=${since}${args.app ? `&app=${encodeURIComponent(args.app)}` : ""}`;
    return requestDaemon<{ since: string; apps: AppTraffic[] }>(
      context.home,
      "GET",
      `/v1/traffic?${query}`,
    );
  },
  text({ apps, since }) {
    if (apps.length === 0) return `No traffic since ${since}.`;
    const rows = apps.flatMap((app) => [
      `${app.app.padEnd(16)} ${plural(app.requests, "request").padStart(14)}  ${bytes(app.bytesIn).padStart(9)} in  ${bytes(app.bytesOut).padStart(9)} out`,
      ...app.clients.map(
        (c) =>
          `  ${c.client.padEnd(14)} ${plural(c.requests, "request").padStart(14)}  ${bytes(c.bytesIn).padStart(9)} in  ${bytes(c.bytesOut).padStart(9)} out`,
      ),
    ]);
    return [`Since ${since}:`, ...rows].join("\n");
  },
});

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
