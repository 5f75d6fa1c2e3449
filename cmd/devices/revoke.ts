/** `bucky devices revoke <name>`: remove a device from the zone (owner only). */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { Revoked } from "../../lib/zone/devices.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "revoke",
    description:
      "Remove a device: its later writes are refused everywhere and it can no longer sync",
  },
  args: {
    name: { type: "positional", required: true, description: "The device's name" },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<Revoked & HeldAnswer>(
      context.home,
      "POST",
      pathAsked(`/v1/devices/${encodeURIComponent(args.name)}/revoke`, args),
    ),
  text: (result, _args, t) =>
    [
      `Revoked ${result.name}. Its changes up to #${result.keptSeq} stay in the zone (as ${result.keptFrom} held them); later ones are refused.`,
      ...(result.asked.length > 0
        ? [`Asked: ${result.asked.map((a) => `${a.device} (up to #${a.head})`).join(", ")}.`]
        : []),
      ...result.notAsked.map(
        (n) =>
          `Not asked: ${n.device} (${n.why}). What it holds of ${result.name} beyond #${result.keptSeq} will be dropped.`,
      ),
      ...notHeldYetNote(result, "revocation"),
      // (An older daemon says none.)
      ...(result.targetsThrough ?? []).map(
        (target) =>
          `Backups to ${target} were reached through ${result.name}: no device's go there now. Remove the target (\`bucky backup target rm ${target}\`) and add it again on a device that reaches it.`,
      ),
      ...(result.heldBackupKey
        ? [
            t.devices.backupKeyKept({
              device: result.name,
              places: result.backupTargets,
              epoch: result.backupKeyEpoch,
            }),
          ]
        : []),
    ].join("\n"),
});
