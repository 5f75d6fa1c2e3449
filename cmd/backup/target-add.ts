/** `bucky backup target add <name> <dir | sftp://…>`: a place for backups, outside the zone. */
import { addTarget } from "../../lib/backup/add-target.ts";
import { measure } from "../../lib/backup/archiver.ts";
import { homeEntries } from "../../lib/backup/home-sources.ts";
import { progressWriter } from "../../lib/backup/progress-file.ts";
import { homePaths } from "../../lib/home.ts";
import { formatBytes } from "../../lib/units.ts";
import { requireZone } from "../../lib/zone/checked-zone.ts";
import { defineBuckyCommand } from "../command.ts";
import { waitArgs } from "../held-elsewhere.ts";
import { plural } from "../text.ts";
import { progressFileArg, progressLine } from "./progress.ts";

export default defineBuckyCommand({
  meta: {
    name: "add",
    description:
      "Add a backup target for the whole zone (a directory on a USB disk, say, or an SFTP server this device reaches), then back up to it and verify that",
    examples: [
      "bucky backup target add usb /mnt/usb/bucky",
      "bucky backup target add offsite sftp://me@backup.example.com/srv/bucky --identity ~/.ssh/id_ed25519",
      "bucky backup target add nas /mnt/nas/bucky --no-backup   # add only; the daemon backs up within the hour",
    ],
  },
  args: {
    name: {
      type: "positional",
      required: true,
      description: "A short name for it (usb, nas, offsite)",
    },
    url: {
      type: "positional",
      required: true,
      description: "A directory, or sftp://user@host[:port]/path",
    },
    identity: {
      type: "string",
      valueHint: "file",
      description:
        "The SSH private key for an SFTP target (default: ~/.ssh/id_ed25519, then id_ecdsa, id_rsa)",
    },
    "host-key": {
      type: "string",
      valueHint: "key",
      description:
        'The SFTP server\'s host key, checked out of band ("ssh-ed25519 AAAA…"): any other is refused (default: pin the one it presents now)',
    },
    backup: {
      type: "boolean",
      default: true,
      description: "Run the first backup now and read it back (--no-backup: only add the target)",
    },
    ...waitArgs(),
    ...progressFileArg,
  },
  async run(args, context) {
    const paths = homePaths(context.home);
    // Measuring what the first backup takes reads the home: there must be a zone in it.
    requireZone(paths);
    const show = args.backup && !context.json && process.stderr.isTTY === true;
    const line = progressLine(show, "backed up");
    const file = progressWriter(args["progress-file"]);
    const total =
      show || (args.backup && args["progress-file"]) ? measure(homeEntries(paths)) : undefined;
    try {
      return await addTarget({
        paths,
        name: args.name,
        url: args.url,
        ...(args.identity ? { identityFile: args.identity } : {}),
        ...(args["host-key"] ? { hostKey: args["host-key"] } : {}),
        backUp: args.backup,
        wait: args.wait,
        log: context.log,
        now: context.now,
        onProgress: (done) => {
          line.update(done, total);
          file.update({
            done: done.bytes,
            total: total?.bytes ?? null,
            unit: "bytes",
            step: "backup",
          });
        },
        onVerifyProgress: (done, all) =>
          file.update({ done, total: all, unit: "bytes", step: "verify" }),
      });
    } finally {
      line.finish();
      file.finish();
    }
  },
  text: (t) =>
    [
      t.keyChanged
        ? `${t.via} now logs in to ${t.name} (${t.url}) with the key given: backups there go on, from every device of the zone.`
        : `Backups can now go to ${t.name} (${t.url}), from every device of the zone: ${t.via} reaches it, the others back up through ${t.via}.`,
      ...(t.hostKey ? [`Its SSH host key is pinned: ${t.hostKey}`] : []),
      ...(t.firstBackup
        ? [
            `First backup: snapshot ${t.firstBackup.snapshot.slice(0, 8)}, ${plural(t.firstBackup.files, "file")}, ${formatBytes(t.firstBackup.bytes)}, in ${(t.firstBackup.durationMs / 1000).toFixed(1)} s.`,
            t.verified?.ok
              ? `Verified: every one of its ${plural(t.verified.checkedBlobs, "blob")} was read back and checks out.`
              : (t.verified?.damaged.length ?? 0) === 0
                ? `Verify found FORGED snapshots (filed in a device's name by someone else holding the backup key): run \`bucky backup verify --target ${t.name}\` to see which.`
                : `Verify FOUND DAMAGE in ${plural(t.verified?.damaged.length ?? 0, "blob")}: run \`bucky backup verify --target ${t.name}\` to see what.`,
            "The daemon backs up every hour and verifies a sample every day.",
          ]
        : ["The daemon backs up to it within the hour; `bucky backup run` does now."]),
    ].join("\n"),
  exitCode: (t) => (t.verified && !t.verified.ok ? 4 : 0),
});
