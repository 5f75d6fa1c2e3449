/**
 * `bucky backup list`: the snapshots in a target, of every device or of one, and whose last
 * backup (as that device said it) the target lacks.
 */
import { listTarget } from "../../lib/backup/list.ts";
import type { SnapshotSummary } from "../../lib/backup/run.ts";
import { homePaths } from "../../lib/home.ts";
import { formatBytes } from "../../lib/units.ts";
import { defineBuckyCommand } from "../command.ts";
import { plural, table } from "../text.ts";
import { missingLatestText } from "./missing-latest.ts";
import { targetArg } from "./target-arg.ts";

export default defineBuckyCommand({
  meta: {
    name: "list",
    description:
      "List the snapshots in a backup target, oldest first, with the device each is of and who signed it",
    examples: ["bucky backup list", "bucky backup list --device laptop"],
  },
  args: {
    ...targetArg,
    device: { type: "string", valueHint: "name", description: "Only this device's snapshots" },
  },
  run: (args, context) =>
    listTarget(homePaths(context.home), args.target, context.log, args.device),
  text: ({ target, snapshots, missingLatest }) => {
    const missing =
      missingLatest.length > 0
        ? [
            `${target} lacks the last backup of ${plural(missingLatest.length, "device")}:`,
            ...missingLatestText(missingLatest),
          ]
        : [];
    if (snapshots.length === 0)
      return [
        `${target} has no snapshots yet. Make one with \`bucky backup run\`.`,
        ...missing,
      ].join("\n");
    const untrusted = snapshots.filter((s) => s.trust !== "signed");
    return [
      table(
        ["SNAPSHOT", "TIME", "DEVICE", "FILES", "SIZE", "NEW", "SIGNED BY"],
        snapshots.map((s) => [
          s.id.slice(0, 8),
          s.time,
          s.device,
          plural(s.files, "file"),
          formatBytes(s.bytes),
          `+${formatBytes(s.addedBytes)}`,
          signedByText(s),
        ]),
      ),
      ...untrusted.map((s) => `${s.id.slice(0, 8)} is ${s.trust.toUpperCase()}: ${s.why}.`),
      ...(untrusted.length > 0
        ? [
            "A home restore leaves these out. One may be restored into a directory to look at: `bucky backup restore <id> --to <dir>`.",
          ]
        : []),
      ...missing,
    ].join("\n");
  },
});

/** Who signed a snapshot, with a flag where that is not the device it names. */
function signedByText(s: SnapshotSummary): string {
  const by = s.signedBy === null ? "-" : shortId(s.signedBy);
  return s.trust === "signed" ? by : `${by} (${s.trust.toUpperCase()})`;
}

/** A device's name as is; a bare device id (of no device of the zone) cut short. */
function shortId(signer: string): string {
  return signer.length > 20 ? `${signer.slice(0, 12)}…` : signer;
}
