/** `bucky app install <dir>`: install (or upgrade) an app into the zone. */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Installed } from "../../lib/apps/admin.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "install",
    description: "Install an app from its directory (or upgrade it, keeping its data)",
    examples: [
      "bucky app install ./notes",
      "bucky app install ./site --device nas",
      "bucky app install notes.tar.gz",
      "bucky app install clist:3f2a…",
    ],
  },
  args: {
    dir: {
      type: "positional",
      required: true,
      description:
        "The app's directory (with its bucky-app.json), an archive of it (.tar, .tar.gz), or a stored package's id",
    },
    device: {
      type: "string",
      valueHint: "name",
      description: 'Run it on this device (default: the manifest\'s placement, else "any")',
    },
  },
  run(args, context) {
    const device = args.device ? { device: args.device } : {};
    if (/^(sha256|clist):/.test(args.dir))
      return requestDaemon<Installed>(context.home, "POST", "/v1/apps", {
        package: args.dir,
        ...device,
      });
    if (
      /\.(tar|tgz|tar\.gz)$/.test(args.dir) &&
      statSync(args.dir, { throwIfNoEntry: false })?.isFile()
    ) {
      const query = args.device ? `?device=${encodeURIComponent(args.device)}` : "";
      return requestDaemon<Installed>(
        context.home,
        "POST",
        `/v1/apps/archive${query}`,
        new Uint8Array(readFileSync(args.dir)),
      );
    }
    return requestDaemon<Installed>(context.home, "POST", "/v1/apps", {
      dir: resolve(args.dir),
      ...device,
    });
  },
  text: (installed) =>
    [
      `${installed.upgradedFrom ? `Upgraded ${installed.app} from ${installed.upgradedFrom} to` : `Installed ${installed.app}`} ${installed.version} (${installed.device === "any" ? "on any device" : `on ${installed.device}`}).`,
      ...(installed.device === "any"
        ? [
            "Its data stays on the device that runs it: if that device goes offline, the app runs on another without it until it is back. Pin it with --device <name> to keep it in one place.",
          ]
        : []),
      `See it with \`bucky app status ${installed.app}\`.`,
    ].join("\n"),
});
