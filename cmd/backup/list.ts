/** `bucky backup list`: the snapshots in a target, of every device or of one. */
import { listSnapshots } from "../../lib/backup/run.ts";
import { chooseTarget, homeTargets } from "../../lib/backup/zone-targets.ts";
import { homePaths } from "../../lib/home.ts";
import { formatBytes } from "../../lib/units.ts";
import { defineBuckyCommand } from "../command.ts";
import { plural, table } from "../text.ts";
import { targetArg } from "./target-arg.ts";

export default defineBuckyCommand({
  meta: {
    name: "list",
    description: "List the snapshots in a backup target, oldest first, with the device each is of",
    examples: ["bucky backup list", "bucky backup list --device laptop"],
  },
  args: {
    ...targetArg,
    device: { type: "string", valueHint: "name", description: "Only this device's snapshots" },
  },
  async run(args, context) {
    const paths = homePaths(context.home);
    const target = chooseTarget(homeTargets(paths, context.log), args.target).name;
    return {
      target,
      snapshots: await listSnapshots(paths, target, context.log, {
        ...(args.device ? { device: args.device } : {}),
      }),
    };
  },
  text: ({ target, snapshots }) =>
    snapshots.length === 0
      ? `${target} has no snapshots yet. Make one with \`bucky backup run\`.`
      : table(
          ["SNAPSHOT", "TIME", "DEVICE", "FILES", "SIZE", "NEW"],
          snapshots.map((s) => [
            s.id.slice(0, 8),
            s.time,
            s.device,
            plural(s.files, "file"),
            formatBytes(s.bytes),
            `+${formatBytes(s.addedBytes)}`,
          ]),
        ),
});
