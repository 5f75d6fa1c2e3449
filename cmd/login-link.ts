/** `bucky login-link`: a one-time link that signs a browser in to the zone's apps. */
import type { LoginLink } from "../lib/gateway/sessions.ts";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "./command.ts";
import { parseDuration } from "./duration.ts";

export default defineBuckyCommand({
  meta: {
    name: "login-link",
    description: "Print a one-time link that signs a browser in to the zone's apps",
    examples: ["bucky login-link", "bucky login-link --ttl 10m"],
  },
  args: {
    ttl: {
      type: "string",
      valueHint: "duration",
      description: "How long the link works (default: 1h)",
    },
  },
  run: (args, context) =>
    requestDaemon<LoginLink>(context.home, "POST", "/v1/login-links", {
      ttlMs: parseDuration(args.ttl ?? "1h", "--ttl"),
    }),
  text: (link) =>
    `${link.url}\n\nOpen it once, before ${link.expiresAt}; it signs that browser in for 30 days.`,
});
