/** `bucky backup target rm <name>`: stop backing up there (what is there stays). */
import { removeTarget } from "../../lib/backup/targets.ts";
import { homePaths } from "../../lib/home.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "rm", description: "Stop backing up to a target (its backups are left in place)" },
  args: { name: { type: "positional", required: true, description: "The target's name" } },
  run(args, context) {
    const target = removeTarget(homePaths(context.home), args.name);
    context.log.info("backup target removed", { target: target.name });
    return { removed: target.name, url: target.url };
  },
  text: (r) => `Backups no longer go to ${r.removed}; what is at ${r.url} was left as it is.`,
});
