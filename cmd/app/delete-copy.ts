/** `bucky app delete-copy <app> <copy>`: delete a conflict copy of an app's data, on purpose. */
import { BuckyError } from "../../lib/errors.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";
import { canAsk, confirm } from "../confirm.ts";

interface Deleted {
  readonly app: string;
  readonly device: string;
  readonly name: string;
  readonly at: string;
  readonly bytes: number;
  readonly deleted: boolean;
}

export default defineBuckyCommand({
  meta: {
    name: "delete-copy",
    description:
      "Delete a conflict copy of an app's data for good (`bucky app status` lists them), on the device that keeps it; asks first",
    examples: [
      "bucky app delete-copy notes 2026-11-28T21-40-03-120Z-laptop-epoch3",
      "bucky app delete-copy notes 2026-11-28T21-40-03-120Z-laptop-epoch3 --yes",
    ],
  },
  args: {
    app: { type: "positional", required: true, description: "The app's id" },
    copy: { type: "positional", required: true, description: "The copy's name" },
    yes: { type: "boolean", description: "Do not ask: delete it" },
  },
  async run(args, context) {
    if (args.yes !== true) {
      if (!canAsk(context.json))
        throw new BuckyError(
          "E_USAGE",
          `the conflict copy ${args.copy} of ${args.app} was not deleted: deleting it is for good, and nobody was asked`,
          `To keep it, bring it back with \`bucky app restore-copy ${args.app} ${args.copy}\`; to delete it, run again with --yes.`,
        );
      const yes = await confirm(
        `The conflict copy ${args.copy} of ${args.app} holds writes that never reached the app's data: deleted, they are gone for good (backups taken before keep them). Delete it? [y/N]`,
      );
      if (!yes)
        throw new BuckyError(
          "E_USAGE",
          `the conflict copy ${args.copy} of ${args.app} was not deleted`,
          `Bring it back instead with \`bucky app restore-copy ${args.app} ${args.copy}\`.`,
        );
    }
    return requestDaemon<Deleted>(
      context.home,
      "POST",
      `/v1/apps/${encodeURIComponent(args.app)}/delete-copy`,
      { copy: args.copy },
    );
  },
  text: (r) =>
    `Deleted the conflict copy ${r.name} of ${r.app} on ${r.device} (${r.bytes} bytes, kept since ${r.at}).`,
});
