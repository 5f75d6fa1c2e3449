/** `bucky panel`: a link that opens the zone's control panel in a browser, signed in. */

import { PANEL_PATH } from "../lib/gateway/routing.ts";
import type { LoginLink } from "../lib/gateway/sessions.ts";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "./command.ts";
import { parseDuration } from "./duration.ts";

export default defineBuckyCommand({
  meta: {
    name: "panel",
    description: "Print a one-time link to the zone's control panel that signs the browser in",
    examples: ["bucky panel", "bucky panel --ttl 10m"],
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
      next: `${PANEL_PATH}/`,
    }),
  text: (link) =>
    `${link.url}\n\nOpen it once, before ${link.expiresAt}: the browser stays signed in for 30 days, and the panel is then at ${new URL(link.url).origin}${PANEL_PATH}/`,
});
