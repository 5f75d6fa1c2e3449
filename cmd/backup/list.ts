/** `bucky backup list`: the snapshots in a target. */
import { withRepository } from "../../lib/backup/run.ts";
import { chooseTarget } from "../../lib/backup/targets.ts";
import { homePaths } from "../../lib/home.ts";
import { defineBuckyCommand } from "../command.ts";
import { formatBytes } from "../units.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List the snapshots in a backup target, oldest first" },
  args: {
    target: {
      type: "string",
      valueHint: "name",
      description: "Which target (needed when there are several)",
    },
  },
  async run(args, context) {
    const paths = homePaths(context.home);
    const target = chooseTarget(paths, args.target);
    const snapshots = await withRepository(
      paths,
      target,
      context.log,
      (repository) => repository.snapshots(),
      {
        withIndex: false,
      },
    );
    return {
      target: target.name,
      snapshots: snapshots.map(({ name, snapshot }) => ({
        id: name,
        time: snapshot.time,
        device: snapshot.device,
        files: snapshot.stats.files,
        bytes: snapshot.stats.bytes,
        addedBytes: snapshot.stats.addedBytes,
      })),
    };
  },
  text: ({ target, snapshots }) =>
    snapshots.length === 0
      ? `${target} has no snapshots yet. Make one with \`bucky backup run\`.`
      : snapshots
          .map(
            (s) =>
              `${s.id.slice(0, 8)}  ${s.time}  ${s.device}  ${s.files} files  ${formatBytes(s.bytes)}  (+${formatBytes(s.addedBytes)})`,
          )
          .join("\n"),
});
