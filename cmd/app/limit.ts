/** `bucky app limit <app>`: cap an app's requests and bandwidth at the gateways. */
import type { AppLimits } from "../../lib/gateway/table.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "limit",
    description: "Limit an app's requests per second and bandwidth at every gateway",
    examples: ["bucky app limit notes --rps 20 --bandwidth 10MB/s"],
  },
  args: {
    app: { type: "positional", required: true, description: "The app's id" },
    rps: { type: "string", valueHint: "n", description: "Requests per second; more get 429" },
    bandwidth: {
      type: "string",
      valueHint: "rate",
      description: "Bytes per second, like 10MB/s; more is slowed down",
    },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<{ app: string; limits: AppLimits } & HeldAnswer>(
      context.home,
      "PUT",
      pathAsked(`/v1/apps/${encodeURIComponent(args.app)}/limits`, args),
      {
        ...(args.rps !== undefined ? { rps: Number(args.rps) } : {}),
        ...(args.bandwidth !== undefined ? { bandwidth: args.bandwidth } : {}),
      },
    ),
  text: ({ app, limits, ...held }) =>
    [
      `${app}: ${limits.rps ? `${limits.rps} requests/s` : "no request limit"}, ${limits.bandwidthBytesPerSecond ? `${limits.bandwidthBytesPerSecond} bytes/s` : "no bandwidth limit"}.`,
      ...notHeldYetNote(held, "limit"),
    ].join("\n"),
});
