/** `bucky zone owner-key`: let this device act as the owner, with the key the recovery phrase gives. */
import { readRecoveryPhrase } from "../../lib/identity/recovery-phrase.ts";
import { giveOwnerKey } from "../../lib/zone/owner-key.ts";
import { defineBuckyCommand } from "../command.ts";
import { readSecretInput } from "../stdin.ts";

export default defineBuckyCommand({
  meta: {
    name: "owner-key",
    description:
      "Let this device act as the owner (admit and revoke devices, approve gateways, purge): the owner key, from the recovery phrase (read from stdin)",
    examples: [
      "bucky zone owner-key                 # then type the 24 words",
      "bucky zone owner-key < phrase.txt",
    ],
  },
  args: {},
  async run(_args, context) {
    const phrase = readRecoveryPhrase(
      await readSecretInput("Type your 24-word recovery phrase and press Enter:\n"),
    );
    // A running daemon says so in its facts within seconds (`bucky devices drain` reads them).
    return giveOwnerKey(context.home, phrase, context.log);
  },
  text: (r) =>
    r.written
      ? `${r.device} holds the owner key now: it can admit and revoke devices, approve gateways and renew the zone CA once its daemon starts again (\`bucky stop\`, then \`bucky up\`).`
      : `${r.device} held the owner key already.`,
});
