/** `bucky backup run`: back the home up now. */
import { measure } from "../../lib/backup/archiver.ts";
import { homeEntries } from "../../lib/backup/home-sources.ts";
import { progressWriter } from "../../lib/backup/progress-file.ts";
import { runBackup } from "../../lib/backup/run.ts";
import { homePaths } from "../../lib/home.ts";
import { formatBytes } from "../../lib/units.ts";
import { defineBuckyCommand } from "../command.ts";
import { plural } from "../text.ts";
import { progressFileArg, progressLine } from "./progress.ts";
import { targetArg } from "./target-arg.ts";

export default defineBuckyCommand({
  meta: {
    name: "run",
    description:
      "Back up this device now: identity, zone state, app data and user data, encrypted, to a target of the zone",
    examples: ["bucky backup run", "bucky backup run --target offsite"],
  },
  args: { ...targetArg, ...progressFileArg },
  async run(args, context) {
    const paths = homePaths(context.home);
    const show = !context.json && process.stderr.isTTY === true;
    const file = progressWriter(args["progress-file"]);
    const total = show || args["progress-file"] ? measure(homeEntries(paths)) : undefined;
    const line = progressLine(show, "backed up");
    try {
      return await runBackup({
        paths,
        ...(args.target ? { target: args.target } : {}),
        log: context.log,
        now: context.now,
        onProgress: (done) => {
          line.update(done, total);
          file.update({ done: done.bytes, total: total?.bytes ?? null, unit: "bytes" });
        },
      });
    } finally {
      line.finish();
      file.finish();
    }
  },
  text: (r) =>
    [
      `Snapshot ${r.snapshot.slice(0, 8)} in ${r.target}${r.via ? ` (through ${r.via})` : ""}: ${plural(r.files, "file")}, ${formatBytes(r.bytes)}.`,
      `New: ${formatBytes(r.addedBytes)} (${formatBytes(r.storedBytes)} written, compressed and encrypted)${r.addedBytes < r.bytes ? "; the rest was already there" : ""}. Took ${(r.durationMs / 1000).toFixed(1)} s.`,
      ...(r.changing.length > 0
        ? [
            `${plural(r.changing.length, "file")} kept changing while read and were taken as last read: ${r.changing.slice(0, 3).join(", ")}${r.changing.length > 3 ? ", …" : ""}`,
          ]
        : []),
      ...(r.leftOut.length > 0
        ? [
            `${plural(r.leftOut.length, "file or folder", "files or folders")} not backed up (with all under them): their names are not UTF-8; rename them to keep them: ${r.leftOut.slice(0, 3).join(", ")}${r.leftOut.length > 3 ? ", …" : ""}`,
          ]
        : []),
    ].join("\n"),
});
