/** `bucky backup verify`: prove the backups restore: read them back and check every blob. */

import { progressWriter } from "../../lib/backup/progress-file.ts";
import { type ReadData, type VerifyResult, verifyTarget } from "../../lib/backup/verify.ts";
import { BuckyError, ERROR_CODES } from "../../lib/errors.ts";
import { homePaths } from "../../lib/home.ts";
import { defineBuckyCommand } from "../command.ts";
import { plural } from "../text.ts";
import { missingLatestText } from "./missing-latest.ts";
import { progressFileArg } from "./progress.ts";
import { targetArg } from "./target-arg.ts";

export default defineBuckyCommand({
  meta: {
    name: "verify",
    description:
      "Check a backup target: every snapshot's structure, and with --read-data the data itself",
    examples: [
      "bucky backup verify",
      "bucky backup verify --read-data",
      "bucky backup verify --read-data-subset 10%",
    ],
  },
  args: {
    ...targetArg,
    "read-data": { type: "boolean", description: "Read back, decrypt and check every blob" },
    "read-data-subset": {
      type: "string",
      valueHint: "N%",
      description: "The same for a random N% of the packs",
    },
    ...progressFileArg,
  },
  async run(args, context) {
    const file = progressWriter(args["progress-file"]);
    try {
      return await verifyTarget({
        paths: homePaths(context.home),
        target: args.target,
        readData: readDataOf(args["read-data"] === true, args["read-data-subset"]),
        log: context.log,
        now: context.now,
        onProgress: (done, total) => file.update({ done, total, unit: "bytes", step: "verify" }),
      });
    } finally {
      file.finish();
    }
  },
  exitCode: (result) => (result.ok ? 0 : ERROR_CODES.E_INTEGRITY.exit),
  text: (r) =>
    [
      r.ok ? soundText(r) : damageText(r),
      ...untrustedText(r.untrusted),
      ...clearKeyText(r.clearDeviceKeys),
    ].join("\n"),
});

/**
 * A sound target, saying what was done: blobs read back from their packs, or (no data
 * read) the trees read back and every blob they need found in the index, not read.
 */
function soundText(r: VerifyResult & { target: string }): string {
  if (r.checkedPacks > 0)
    return `${r.target} is sound: ${plural(r.snapshots, "snapshot")}, ${plural(r.checkedBlobs, "blob")} checked in ${plural(r.checkedPacks, "pack")} read back.`;
  const their = r.snapshots === 1 ? "its" : "their";
  return `${r.target} is sound: ${plural(r.snapshots, "snapshot")}, ${their} trees read back and the ${plural(r.checkedBlobs, "blob")} ${r.snapshots === 1 ? "it needs" : "they need"} all in the index (\`bucky backup verify --read-data\` reads the data back too).`;
}

function damageText(r: VerifyResult & { target: string }): string {
  const forged = r.untrusted.filter((s) => s.trust === "forged");
  const missing = missingLatestText(r.missingLatest);
  const forgedIndex = r.forgedIndex.map(
    (u) =>
      `  index file ${u.file.slice(0, 8)} is FORGED: ${u.why}${u.signedBy ? ` (signed by ${u.signedBy})` : ""}. Written by someone holding the backup key; the next prune deletes it.`,
  );
  const unreadable = [
    ...r.unreadable.map((u) => `  snapshot ${u.snapshot.slice(0, 8)} does not open: ${u.problem}.`),
    ...r.unreadableIndex.map(
      (u) =>
        `  index file ${u.file.slice(0, 8)} does not open: ${u.problem}. Damaged, or written by anyone who can write to the target; prune deletes it once no snapshot kept needs what it may name.`,
    ),
  ];
  if (r.damaged.length === 0 && unreadable.length > 0)
    return [
      `${r.target} is DAMAGED: ${plural(unreadable.length, r.unreadableIndex.length > 0 ? "file" : "snapshot")} that cannot be read (backups and restores leave them out).`,
      ...unreadable,
      ...forgedIndex,
      ...missing,
    ].join("\n");
  if (r.damaged.length === 0) {
    const what = [
      ...(r.missingLatest.length > 0
        ? [`the last backup of ${plural(r.missingLatest.length, "device")} gone from it`]
        : []),
      ...(forged.length > 0
        ? [`${plural(forged.length, "forged snapshot")}, written in a device's name`]
        : []),
      ...(r.forgedIndex.length > 0
        ? [`${plural(r.forgedIndex.length, "forged index file")} (left out)`]
        : []),
    ];
    const byKeyHolder = forged.length > 0 || r.forgedIndex.length > 0;
    return [
      `${r.target} is NOT SOUND: ${what.join(", and ")}${byKeyHolder ? ", by someone holding the backup key" : ""}.`,
      ...forgedIndex,
      ...missing,
    ].join("\n");
  }
  return [
    `${r.target} is DAMAGED: ${plural(r.damaged.length, "blob")}.`,
    ...unreadable,
    ...forgedIndex,
    ...missing,
    ...r.damaged
      .slice(0, 20)
      .map(
        (d) =>
          `  ${d.blob.slice(0, 12)}: ${d.problem}${d.snapshots.map((s) => `\n    snapshot ${s.id.slice(0, 8)}: ${s.files.slice(0, 5).join(", ")}${s.files.length > 5 ? ", …" : ""}`).join("")}`,
      ),
    "Files not named here restore as they should. This device's next backup (`bucky backup run`) stores its own damaged data again; another device's, its next backup after a verify there.",
  ].join("\n");
}

/** The snapshots a restore leaves out: forged ones first, then the others, a few of each. */
function untrustedText(untrusted: VerifyResult["untrusted"]): string[] {
  if (untrusted.length === 0) return [];
  const order = ["forged", "revoked", "quarantined", "unknown", "unsigned"];
  const sorted = [...untrusted].sort((a, b) => order.indexOf(a.trust) - order.indexOf(b.trust));
  return [
    ...sorted
      .slice(0, 10)
      .map(
        (s) =>
          `  snapshot ${s.snapshot.slice(0, 8)} of ${s.device} (${s.time}) is ${s.trust.toUpperCase()}: ${s.why}.`,
      ),
    ...(sorted.length > 10
      ? [`  … and ${sorted.length - 10} more (see \`bucky backup list\`).`]
      : []),
    "A home restore leaves these snapshots out.",
  ];
}

/** Said once per verify while snapshots of an older bucky hold a device key in the clear. */
function clearKeyText(snapshots: readonly string[]): string[] {
  if (snapshots.length === 0) return [];
  return [
    `Note: ${plural(snapshots.length, "snapshot")} taken before bucky sealed device keys (${snapshots
      .slice(0, 5)
      .map((s) => s.slice(0, 8))
      .join(
        ", ",
      )}${snapshots.length > 5 ? ", …" : ""}) hold a device's key in the clear, readable by every holder of the backup key.`,
    "Prune ages them out (within about a year); if you fear a member read them, revoke those devices and join them again (see README: Backups).",
  ];
}

function readDataOf(all: boolean, subset: string | undefined): ReadData {
  if (all && subset)
    throw new BuckyError("E_USAGE", "--read-data and --read-data-subset go one at a time");
  if (all) return { kind: "all" };
  if (subset === undefined) return { kind: "none" };
  const match = /^(\d+(?:\.\d+)?)%?$/.exec(subset.trim());
  const percent = match ? Number(match[1]) : Number.NaN;
  if (!(percent > 0 && percent <= 100))
    throw new BuckyError(
      "E_USAGE",
      `--read-data-subset ${subset} is not a percentage`,
      "For example: --read-data-subset 5%",
    );
  return { kind: "subset", percent };
}
