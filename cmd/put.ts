/** `bucky put <file>`: store a file as named data on this device and print its id. */
import { resolve } from "node:path";
import type { GatewayCopies } from "../lib/gateway/public-copies.ts";
import { putFile } from "../lib/ndn/files.ts";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "./command.ts";

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
  },
  async run(args, context) {
    const stored = putFile(context.home, resolve(args.file), context.log, context.now());
    if (!args.public) return { ...stored, public: false, copiedBy: [], notCopiedBy: [] };
    const copies = await requestDaemon<GatewayCopies>(context.home, "POST", "/v1/ndn/public", {
      id: stored.id,
      size: stored.size,
    });
    // On stderr: stdout is the id alone, which scripts take.
    if (copies.copiedBy.length === 0 && copies.notCopiedBy.length > 0)
      context.log.warn(
        `No other gateway holds a copy of ${stored.id} yet (${copies.notCopiedBy.join(", ")} still copying): keep this device running until one has it, or the zone stops serving it while this device is away.`,
      );
    return { ...stored, public: true, copiedBy: copies.copiedBy, notCopiedBy: copies.notCopiedBy };
  },
  text: (stored) => stored.id,
});
