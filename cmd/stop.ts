/** `bucky stop`: stop the node that `bucky up` (or `bucky join`) runs in the background. */
import { stopBackground } from "../lib/node/background.ts";
import { defineBuckyCommand } from "./command.ts";
import { backgroundOptions } from "./daemon/command-line.ts";

export default defineBuckyCommand({
  meta: {
    name: "stop",
    description: "Stop this home's node (its apps stop with it); `bucky up` starts it again",
    examples: ["bucky stop", "bucky stop --home /srv/bucky"],
  },
  args: {},
  run: (_args, context) => stopBackground(backgroundOptions(context)),
  text: (result) =>
    result.stopped
      ? `Stopped the node (pid ${result.pid})${result.supervisor === "systemd" ? "; systemd starts it again at boot" : ""}. \`bucky up\` starts it again.`
      : "The node was not running.",
});
