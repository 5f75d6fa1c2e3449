/** `bucky backup target add <name> <dir | sftp://…>`: a place for backups, outside the zone. */

import { withRepository } from "../../lib/backup/run.ts";
import { SftpBackend } from "../../lib/backup/sftp-backend.ts";
import { newTarget, readTargets, saveTarget } from "../../lib/backup/targets.ts";
import { BuckyError } from "../../lib/errors.ts";
import { homePaths } from "../../lib/home.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "add",
    description: "Add a backup target: a directory (a USB disk, say) or an SFTP server",
    examples: [
      "bucky backup target add usb /mnt/usb/bucky",
      "bucky backup target add offsite sftp://me@backup.example.com/srv/bucky --identity ~/.ssh/id_ed25519",
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
  },
  async run(args, context) {
    const paths = homePaths(context.home);
    if (readTargets(paths).some((t) => t.name === args.name)) {
      throw new BuckyError(
        "E_EXISTS",
        `there is already a target named ${args.name}`,
        "Remove it first with `bucky backup target rm`.",
      );
    }
    let target = newTarget(args.name, args.url, args.identity);
    // The repository is made (or checked against this zone's phrase) now, so a wrong
    // address or key shows up here rather than at the first scheduled backup.
    const repository = await withRepository(
      paths,
      target,
      context.log,
      async (repo, backend) => {
        if (backend instanceof SftpBackend) target = { ...target, hostKey: backend.hostKey };
        return repo.id;
      },
      { create: true, withIndex: false },
    );
    saveTarget(paths, target);
    context.log.info("backup target added", { target: target.name, url: target.url });
    return {
      name: target.name,
      url: target.url,
      repository,
      ...(target.hostKey ? { hostKey: target.hostKey } : {}),
    };
  },
  text: (t) =>
    [
      `Backups can now go to ${t.name} (${t.url}).`,
      ...(t.hostKey ? [`Its SSH host key is pinned: ${t.hostKey}`] : []),
      "Run one now with `bucky backup run`; the daemon runs one every hour.",
    ].join("\n"),
});
