/** `bucky backup list`: the snapshots in a target. */
import { listSnapshots } from "../../lib/backup/run.ts";
import { chooseTarget } from "../../lib/backup/targets.ts";
import { homePaths } from "../../lib/home.ts";
import { formatBytes } from "../../lib/units.ts";
import { defineBuckyCommand } from "../command.ts";
import { plural } from "../text.ts";
import { targetArg } from "./target-arg.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List the snapshots in a backup target, oldest first" },
  args: targetArg,
  async run(args, context) {
    const paths = homePaths(context.home);
    const target = chooseTarget(paths, args.target).name;
    return { target, snapshots: await listSnapshots(paths, args.target, context.log) };
  },
  text: ({ target, snapshots }) =>
    snapshots.length === 0
      ? `${target} has no snapshots yet. Make one with \`bucky backup run\`.`
      : snapshots
          .map(
            (s) =>
              `${s.id.slice(0, 8)}  ${s.time}  ${s.device}  ${plural(s.files, "file")}  ${formatBytes(s.bytes)}  (+${formatBytes(s.addedBytes)})`,
          )
          .join("\n"),
});
