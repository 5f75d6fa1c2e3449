/** `bucky backup target list`: where backups go. */
import { readBackupStatus } from "../../lib/backup/status.ts";
import { readTargets } from "../../lib/backup/targets.ts";
import { homePaths } from "../../lib/home.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List the backup targets, with their last backup" },
  args: {},
  run(_args, context) {
    const paths = homePaths(context.home);
    const status = readBackupStatus(paths);
    return {
      targets: readTargets(paths).map((t) => ({
        name: t.name,
        url: t.url,
        lastBackup: status[t.name]?.lastBackup?.at ?? null,
        lastVerify: status[t.name]?.lastVerify ?? null,
      })),
    };
  },
  text: ({ targets }) =>
    targets.length === 0
      ? "No backup targets. Add one with `bucky backup target add <name> <dir | sftp://…>`."
      : targets
          .map(
            (t) =>
              `${t.name}  ${t.url}  ${t.lastBackup ? `last backup ${t.lastBackup}` : "never backed up"}`,
          )
          .join("\n"),
});
