/** `bucky backup target rm <name>`: stop backing up there, on every device (what is there stays). */
import { removeTargetForZone } from "../../lib/backup/target-records.ts";
import { homePaths } from "../../lib/home.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "rm",
    description:
      "Stop backing up to a target, on every device of the zone (its backups are left in place)",
  },
  args: {
    name: { type: "positional", required: true, description: "The target's name" },
    ...waitArgs(),
  },
  run: (args, context) =>
    removeTargetForZone(homePaths(context.home), args.name, context.log, context.now, args),
  text: (r) =>
    [
      `No device of the zone backs up to ${r.removed} any more; what is at ${r.url} was left as it is.`,
      ...notHeldYetNote(r, "removal"),
    ].join("\n"),
});
