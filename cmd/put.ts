/** `bucky put <file>`: store a file as named data on this device and print its id. */
import { resolve } from "node:path";
import type { GatewayCopies } from "../lib/gateway/public-copies.ts";
import { putFile } from "../lib/ndn/files.ts";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import { pathAsked } from "../lib/node/held-wait.ts";
import { defineBuckyCommand } from "./command.ts";
import { waitArgs } from "./held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "put",
    description: "Store a file by its content hash; prints the id any zone device can fetch it by",
    examples: [
      "bucky put photo.jpg",
      "bucky get sha256:… -o copy.jpg   # on any device of the zone",
      "bucky rm sha256:…                # on this device: let it go",
    ],
  },
  args: {
    file: { type: "positional", required: true, description: "The file to store" },
    public: {
      type: "boolean",
      description:
        "Let the zone's gateways serve it to anyone at /ndn/<id>; answers once another gateway holds a copy (needs the daemon)",
    },
    ...waitArgs(),
  },
  async run(args, context) {
    const stored = putFile(context.home, resolve(args.file), context.log, context.now());
    if (!args.public) return { ...stored, public: false, copiedBy: [], notCopiedBy: [] };
    const copies = await requestDaemon<GatewayCopies & { waited?: false }>(
      context.home,
      "POST",
      pathAsked("/v1/ndn/public", args),
      { id: stored.id, size: stored.size },
    );
    const notWaited = copies.waited === false ? { waited: false as const } : {};
    // On stderr: stdout is the id alone, which scripts take. (Not waited for, the command
    // says so itself: cmd/command.ts.)
    if (copies.copiedBy.length === 0 && copies.notCopiedBy.length > 0 && copies.waited !== false)
      context.log.warn(
        `No other gateway holds a copy of ${stored.id} yet (${copies.notCopiedBy.join(", ")} still copying): keep this device running until one has it, or the zone stops serving it while this device is away.`,
      );
    return {
      ...stored,
      public: true,
      copiedBy: copies.copiedBy,
      notCopiedBy: copies.notCopiedBy,
      ...notWaited,
    };
  },
  text: (stored) => stored.id,
});
