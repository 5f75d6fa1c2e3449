/** `bucky panel`: a link that opens the zone's control panel in a browser, signed in. */
import { PANEL_PATH } from "../lib/gateway/routing.ts";
import { defineBuckyCommand } from "./command.ts";
import { linkTtlArg, offlineNote, requestLoginLink, signsInAs } from "./login-link.ts";

export default defineBuckyCommand({
  meta: {
    name: "panel",
    description: "Print a one-time link to the zone's control panel that signs the browser in",
    examples: ["bucky panel", "bucky panel --ttl 10m"],
  },
  args: linkTtlArg,
  run: (args, context) => requestLoginLink(context.home, args.ttl, `${PANEL_PATH}/`),
  text: (link) =>
    [
      ...offlineNote(link),
      `${link.url}\n\nOpen it once, before ${link.expiresAt}: the browser stays signed in for 30 days, ${signsInAs(link)}, and the panel is then at ${new URL(link.url).origin}${PANEL_PATH}/`,
    ].join("\n"),
});
