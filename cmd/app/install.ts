/** `bucky app install <dir>`: install (or upgrade) an app into the zone. */
import { resolve } from "node:path";
import type { Installed } from "../../lib/apps/admin.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "install",
    description: "Install an app from its directory (or upgrade it, keeping its data)",
    examples: ["bucky app install ./notes", "bucky app install ./site --device nas"],
  },
  args: {
    dir: {
      type: "positional",
      required: true,
      description: "The app's directory, with its bucky-app.json",
    },
    device: {
      type: "string",
      valueHint: "name",
      description: 'Run it on this device (default: the manifest\'s placement, else "any")',
    },
  },
  run: (args, context) =>
    requestDaemon<Installed>(context.home, "POST", "/v1/apps", {
      dir: resolve(args.dir),
      ...(args.device ? { device: args.device } : {}),
    }),
  text: (installed) =>
    `${installed.upgradedFrom ? `Upgraded ${installed.app} from ${installed.upgradedFrom} to` : `Installed ${installed.app}`} ${installed.version} (${installed.device === "any" ? "on any device" : `on ${installed.device}`}).\nSee it with \`bucky app status ${installed.app}\`.`,
});
