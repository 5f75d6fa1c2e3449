/** `bucky backup prune`: forget old snapshots by the retention policy and free their space. */
import { DEFAULT_RETENTION, pruneRepository } from "../../lib/backup/prune.ts";
import { withRepository } from "../../lib/backup/run.ts";
import { updateTargetStatus } from "../../lib/backup/status.ts";
import { chooseTarget } from "../../lib/backup/targets.ts";
import { homePaths } from "../../lib/home.ts";
import { formatBytes } from "../../lib/units.ts";
import { defineBuckyCommand } from "../command.ts";
import { plural } from "../text.ts";
import { targetArg } from "./target-arg.ts";

const { last, hourly, daily, weekly, monthly } = DEFAULT_RETENTION;

export default defineBuckyCommand({
  meta: {
    name: "prune",
    description: `Forget old snapshots (keeping the ${last} latest, ${hourly} hourly, ${daily} daily, ${weekly} weekly, ${monthly} monthly) and free their space`,
  },
  args: targetArg,
  async run(args, context) {
    const paths = homePaths(context.home);
    const target = chooseTarget(paths, args.target);
    const result = await withRepository(
      paths,
      target,
      context.log,
      (repository) => pruneRepository(repository, DEFAULT_RETENTION),
      { lock: "prune" },
    );
    updateTargetStatus(paths, target.name, (status) => ({
      ...status,
      lastPrune: { at: new Date(context.now()).toISOString() },
    }));
    context.log.info("backup pruned", {
      target: target.name,
      removed: result.removedSnapshots,
      freed: result.freedBytes,
    });
    return { target: target.name, ...result };
  },
  text: (r) =>
    `${r.target}: kept ${plural(r.keptSnapshots, "snapshot")}, forgot ${r.removedSnapshots}; freed ${formatBytes(r.freedBytes)} (${plural(r.removedPacks, "pack")} deleted, ${r.rewrittenPacks} rewritten).`,
});
