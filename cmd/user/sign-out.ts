/** `bucky user sign-out <name> --everywhere`: every session the person opened ends on every gateway. */
import { BuckyError } from "../../lib/errors.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "sign-out",
    description:
      "Sign a person out everywhere: every session they opened until now ends on every gateway",
    examples: ["bucky user sign-out ann --everywhere"],
  },
  args: {
    name: { type: "positional", required: true, description: "The person's name" },
    everywhere: {
      type: "boolean",
      description: "Every session of theirs, on every gateway (the only way this command works)",
    },
    ...waitArgs(),
  },
  run: (args, context) => {
    // Said out loud: a single session is signed out in its own browser, not from here.
    if (args.everywhere !== true)
      throw new BuckyError(
        "E_USAGE",
        "bucky user sign-out ends every session of a person, and says so: add --everywhere",
        `bucky user sign-out ${args.name} --everywhere`,
      );
    return requestDaemon<{ user: string; signedOutUntil: string } & HeldAnswer>(
      context.home,
      "POST",
      pathAsked(`/v1/users/${encodeURIComponent(args.name)}/sign-out`, args),
      {},
    );
  },
  text: (result) =>
    [
      `${result.user} is signed out everywhere: every session they opened until ${result.signedOutUntil} ends on every gateway of the zone as it hears of it. Their passkeys and password still work.`,
      ...notHeldYetNote(result, "sign-out"),
    ].join("\n"),
});
