/** `bucky app remove <app> [--purge]`: uninstall an app; its data stays unless purged. */
import type { Removal } from "../../lib/apps/admin.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "remove",
    description: "Remove an app from the zone (its data is kept unless --purge)",
  },
  args: {
    app: { type: "positional", required: true, description: "The app's id" },
    purge: {
      type: "boolean",
      description:
        "Also delete the app's data, every copy of it and its conflict copies, on every device (only on a device holding the owner key)",
    },
    force: {
      type: "boolean",
      description: "Remove it even when a newer bucky installed it (its spec is of a newer format)",
    },
    ...waitArgs(),
  },
  async run(args, context) {
    const removal = await requestDaemon<Removal & HeldAnswer>(
      context.home,
      "DELETE",
      pathAsked(
        `/v1/apps/${encodeURIComponent(args.app)}${query({ purge: args.purge, force: args.force })}`,
        args,
      ),
    );
    const { heldElsewhere, waited } = removal;
    const held = { heldElsewhere, ...(waited === false ? { waited } : {}) };
    return "unreadable" in removal
      ? {
          app: removal.app,
          removed: true,
          purged: false,
          unreadable: removal.unreadable,
          ...held,
        }
      : { app: removal.app, removed: true, purged: removal.purge === true, ...held };
  },
  text: (result) =>
    [
      "unreadable" in result
        ? `Removed ${result.app}, whose spec in the zone state could not be read (${result.unreadable}). Any data of it a device kept stays there: \`bucky status --disk\` on that device shows it as a leftover, and how to remove it.`
        : `Removed ${result.app}.${result.purged ? " Its data is being deleted." : " Its data is kept; reinstall it to use it again, or remove it with --purge."}`,
      ...notHeldYetNote(result, "removal"),
    ].join("\n"),
});

function query(flags: Record<string, boolean | undefined>): string {
  const set = Object.keys(flags).filter((flag) => flags[flag]);
  return set.length > 0 ? `?${set.map((flag) => `${flag}=1`).join("&")}` : "";
}
