/** `bucky backup restore`: a snapshot back, into a directory or (disaster recovery) the home. */
import { resolve } from "node:path";
import { restoreSnapshot } from "../../lib/backup/restore.ts";
import { ERROR_CODES } from "../../lib/errors.ts";
import { homePaths } from "../../lib/home.ts";
import { formatBytes } from "../../lib/units.ts";
import { defineBuckyCommand } from "../command.ts";
import { plural } from "../text.ts";
import { progressLine } from "./progress.ts";

export default defineBuckyCommand({
  meta: {
    name: "restore",
    description:
      "Restore a snapshot into a directory, or with no --to, the whole home (after `bucky init --recover`)",
    examples: [
      "bucky backup restore latest --to /tmp/restored",
      "bucky backup restore 1f3a9c2e --to ~/old --path data/photos",
      "bucky backup restore latest --device laptop --to /tmp/laptop",
      "bucky init --recover < phrase.txt && bucky backup restore latest --from sftp://me@host/srv/bucky",
    ],
  },
  args: {
    snapshot: {
      type: "positional",
      required: true,
      description: "A snapshot id (or its first characters), or latest (this device's newest)",
    },
    device: {
      type: "string",
      valueHint: "name",
      description:
        "Whose snapshot latest is (default: this device's; on a box just recovered, the device with the newest)",
    },
    to: {
      type: "string",
      valueHint: "dir",
      description: "Restore into this directory instead of the home",
    },
    path: {
      type: "string",
      valueHint: "path",
      description: "Only this file or directory of the snapshot (data/photos)",
    },
    from: {
      type: "string",
      valueHint: "target",
      description: "A target name, or a directory or sftp:// URL",
    },
    identity: {
      type: "string",
      valueHint: "file",
      description: "The SSH private key for an sftp:// --from",
    },
    force: { type: "boolean", description: "Restore into a directory that is not empty" },
    "accept-older": {
      type: "boolean",
      description:
        "Take latest even when it is older than the last backup its device said it made (the target lost or hid that one)",
    },
  },
  async run(args, context) {
    const line = progressLine(!context.json, "restored");
    try {
      return await restoreSnapshot({
        paths: homePaths(context.home),
        snapshot: args.snapshot,
        ...(args.from ? { from: args.from } : {}),
        ...(args.identity ? { identityFile: args.identity } : {}),
        ...(args.to ? { to: resolve(args.to) } : {}),
        ...(args.path ? { path: args.path } : {}),
        ...(args.device ? { device: args.device } : {}),
        force: args.force === true,
        acceptOlder: args["accept-older"] === true,
        log: context.log,
        now: context.now,
        onProgress: (p) => line.update(p, { files: 0, bytes: p.totalBytes }),
      });
    } finally {
      line.finish();
    }
  },
  exitCode: (r) => (r.damaged.length > 0 ? ERROR_CODES.E_INTEGRITY.exit : 0),
  text: (r) =>
    [
      `Restored snapshot ${r.snapshot.slice(0, 8)} of ${r.device} (${r.time}) into ${r.to}: ${plural(r.files, "file")}, ${formatBytes(r.bytes)}.`,
      ...(r.trust === "signed"
        ? []
        : [`Snapshot ${r.snapshot.slice(0, 8)} is ${r.trust.toUpperCase()}: ${r.why}.`]),
      ...r.leftOut.map(
        (s) =>
          `Left out ${s.device}'s snapshot ${s.snapshot.slice(0, 8)} (${s.time}), ${s.trust.toUpperCase()}: ${s.why}. To look at it: \`bucky backup restore ${s.snapshot.slice(0, 8)} --to <dir>\`.`,
      ),
      ...r.appsNotTaken.map(
        (a) =>
          `Did not take ${a.app}'s data from ${a.device}'s snapshot ${a.snapshot.slice(0, 8)}: ${a.why}. To look at it: \`bucky backup restore ${a.snapshot.slice(0, 8)} --path apps/${a.app}/data --to <dir>\`.`,
      ),
      ...r.otherDevicesData.map(
        (d) =>
          `${d.device}'s own files (its data/) are in its snapshot ${d.snapshot.slice(0, 8)}, not in this home (each device keeps its own): to bring them back, \`bucky backup restore ${d.snapshot.slice(0, 8)} --path data --to <dir>\`.`,
      ),
      ...r.apps
        .filter((a) => a.device !== r.device)
        .map(
          (a) =>
            `The data of ${a.app} came from ${a.device}'s snapshot ${a.snapshot.slice(0, 8)}. If ${a.device} is gone for good, \`bucky devices revoke ${a.device}\` lets ${a.app} run here with it (\`bucky app move ${a.app} --to ${r.device}\` if it was pinned there).`,
        ),
      ...(r.mergedChangesets > 0
        ? [
            `Took ${plural(r.mergedChangesets, "change")} to the zone state from the other devices' newer snapshots.`,
          ]
        : []),
      ...(r.replayedChangesets > 0
        ? [`Replayed ${plural(r.replayedChangesets, "change")} made after it (the hot backup).`]
        : []),
      ...(r.replacedKeptIn
        ? [
            `What the home held before is kept in ${r.replacedKeptIn} (nothing of it was deleted): remove it once the restored home looks right.`,
          ]
        : []),
      ...(r.damaged.length > 0
        ? [
            `Damaged in the backup, so not restored whole (${plural(r.damaged.length, "file")}): ${r.damaged.slice(0, 5).join(", ")}${r.damaged.length > 5 ? ", …" : ""}`,
          ]
        : []),
    ].join("\n"),
});
