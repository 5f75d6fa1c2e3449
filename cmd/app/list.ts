/** `bucky app list`: the zone's apps, where each runs and how it is doing. */
import type { AppStatus } from "../../lib/apps/status.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";
import { table } from "../text.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List the zone's apps and their state" },
  args: {},
  run: (_args, context) => requestDaemon<{ apps: AppStatus[] }>(context.home, "GET", "/v1/apps"),
  text({ apps }) {
    if (apps.length === 0) return "No apps. Install one with `bucky app install <dir>`.";
    return table(
      ["APP", "VERSION", "STATE", "DEVICE", "ACCESS"],
      apps.map((app) => [
        app.app,
        app.version,
        app.state,
        app.device ?? "-",
        app.exposure === "public" ? "public" : "zone-only",
      ]),
    );
  },
});
