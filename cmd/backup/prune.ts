/** `bucky backup prune`: forget old snapshots by the retention policy and free their space. */
import { DEFAULT_RETENTION, pruneTarget } from "../../lib/backup/prune.ts";
import { homePaths } from "../../lib/home.ts";
import { formatBytes } from "../../lib/units.ts";
import { defineBuckyCommand } from "../command.ts";
import { plural } from "../text.ts";
import { targetArg } from "./target-arg.ts";

const { last, hourly, daily, weekly, monthly } = DEFAULT_RETENTION;

export default defineBuckyCommand({
  meta: {
    name: "prune",
    description: `Forget old snapshots (keeping, of each device, the ${last} latest, ${hourly} hourly, ${daily} daily, ${weekly} weekly, ${monthly} monthly) and free their space`,
  },
  args: targetArg,
  run: (args, context) =>
    pruneTarget({
      paths: homePaths(context.home),
      target: args.target,
      log: context.log,
      now: context.now,
    }),
  text: (r) =>
    [
      `${r.target}: kept ${plural(r.keptSnapshots, "snapshot")}, forgot ${r.removedSnapshots}; freed ${formatBytes(r.freedBytes)} (${plural(r.removedPacks, "pack")} deleted, ${r.rewrittenPacks} rewritten).`,
      ...r.removedIndexFiles.map(
        (f) =>
          `  deleted index file ${f.file.slice(0, 8)}, left out: ${f.problem}${f.signedBy ? ` (signed by ${f.signedBy})` : ""}.`,
      ),
    ].join("\n"),
});
