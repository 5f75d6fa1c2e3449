/** `bucky app remove <app> [--purge]`: uninstall an app; its data stays unless purged. */
import type { AppSpec } from "../../lib/apps/spec.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "remove",
    description: "Remove an app from the zone (its data is kept unless --purge)",
  },
  args: {
    app: { type: "positional", required: true, description: "The app's id" },
    purge: {
      type: "boolean",
      description: "Also delete the app's data, on every device that has it",
    },
  },
  async run(args, context) {
    const spec = await requestDaemon<AppSpec>(
      context.home,
      "DELETE",
      `/v1/apps/${encodeURIComponent(args.app)}${args.purge ? "?purge=1" : ""}`,
    );
    return { app: spec.app, removed: true, purged: spec.purge === true };
  },
  text: (result) =>
    `Removed ${result.app}.${result.purged ? " Its data is being deleted." : " Its data is kept; reinstall it to use it again, or remove it with --purge."}`,
});
