/** `bucky app logs <app>`: the app's latest output, from the device that runs it. */
import type { AppLogs } from "../../lib/apps/logs.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { LOG_LINES, wholeNumberQuery } from "../../lib/node/query-number.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "logs", description: "Print an app's latest output" },
  args: {
    app: { type: "positional", required: true, description: "The app's id" },
    lines: { type: "string", valueHint: "n", description: "How many lines (default: 100)" },
  },
  run: (args, context) =>
    requestDaemon<AppLogs>(
      context.home,
      "GET",
      `/v1/apps/${encodeURIComponent(args.app)}/logs?lines=${wholeNumberQuery(args.lines, "--lines", LOG_LINES)}`,
    ),
  text: (logs) =>
    logs.lines.length === 0
      ? `(${logs.app} has written nothing on ${logs.device})`
      : logs.lines.join("\n"),
});
