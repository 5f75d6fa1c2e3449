/** `bucky backup target list`: the zone's backup targets, and how this device reaches each. */
import { listTargets } from "../../lib/backup/zone-targets.ts";
import { homePaths } from "../../lib/home.ts";
import { defineBuckyCommand } from "../command.ts";
import { table } from "../text.ts";

export default defineBuckyCommand({
  meta: {
    name: "list",
    description:
      "List the zone's backup targets: where each is, the device that reaches it, and this device's last backup there",
  },
  args: {},
  run: (_args, context) => ({ targets: listTargets(homePaths(context.home), context.log) }),
  text: ({ targets }) =>
    targets.length === 0
      ? "No backup targets. Add one with `bucky backup target add <name> <dir | sftp://…>`."
      : table(
          ["TARGET", "WHERE", "REACHED", "LAST BACKUP FROM HERE"],
          targets.map((t) => [
            t.name,
            t.url,
            t.reach === "direct" ? `directly (${t.via})` : `through ${t.via}`,
            t.lastBackup ?? "never",
          ]),
        ),
});
