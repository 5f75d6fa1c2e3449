/** `bucky backup key`: let this device back up, with the key the recovery phrase gives. */
import { giveBackupKey } from "../../lib/backup/backup-key.ts";
import { readRecoveryPhrase } from "../../lib/identity/recovery-phrase.ts";
import { isDaemonDown, requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";
import { readSecretInput } from "../stdin.ts";

export default defineBuckyCommand({
  meta: {
    name: "key",
    description:
      "Let this device back up and restore: its backup key, from the recovery phrase (read from stdin)",
    examples: [
      "bucky backup key                 # then type the 24 words",
      "bucky backup key < phrase.txt",
    ],
  },
  args: {},
  async run(_args, context) {
    const phrase = readRecoveryPhrase(
      await readSecretInput("Type your 24-word recovery phrase and press Enter:\n"),
    );
    const result = giveBackupKey(context.home, phrase, context.log);
    // A running daemon starts its scheduled and hot backups now, not at its next start.
    let daemon: "backing up" | "not running";
    try {
      await requestDaemon(context.home, "POST", "/v1/backups/start");
      daemon = "backing up";
    } catch (error) {
      // One that took the request and did not answer in time may be backing up: said so.
      if (!isDaemonDown(error)) throw error;
      daemon = "not running";
    }
    return { ...result, daemon };
  },
  text: (r) =>
    [
      r.written
        ? `${r.device} holds the backup key now: it can back up and restore this zone.`
        : `${r.device} held the backup key already.`,
      ...(r.epochs.length > 0
        ? [
            `It keeps the keys of the zone's later key epochs too (${r.epochs.join(", ")}), renewed when devices were revoked.`,
          ]
        : []),
      r.daemon === "backing up"
        ? "The daemon backs up on its schedule from here, and ships changes as they happen."
        : "Its daemon will back up on its schedule once started (`bucky up`).",
    ].join("\n"),
});
