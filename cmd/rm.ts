/** `bucky rm <id>`: release a file stored with `bucky put` on this device. */
import { releaseObject } from "../lib/ndn/files.ts";
import { extraRoots } from "../lib/node/named-data-roots.ts";
import { ndnGraceMs } from "./collection-times.ts";
import { defineBuckyCommand } from "./command.ts";

export default defineBuckyCommand({
  meta: {
    name: "rm",
    description:
      "Release a file stored with bucky put on this device: it is deleted after a day, unless something else uses it",
    examples: ["bucky rm sha256:…"],
  },
  args: {
    id: { type: "positional", required: true, description: "The id bucky put printed" },
  },
  run: (args, context) =>
    releaseObject(context.home, args.id, context.log, {
      nowMs: context.now(),
      graceMs: ndnGraceMs(context.env),
      extraRoots: ({ db, paths, store }) => extraRoots(db, paths, store),
    }),
  text: (released) =>
    released.collectedAfter
      ? `Released ${released.id}: it is deleted after ${released.collectedAfter} (until then \`bucky put\` of the same file keeps it).`
      : `Released ${released.id} from what you stored; it stays while ${released.keptBy.join(" and ")} use${released.keptBy.length === 1 ? "s" : ""} it.`,
});
