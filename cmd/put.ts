/** `bucky put <file>`: store a file as named data on this device and print its id. */
import { resolve } from "node:path";
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
      description: "Let the zone's gateways serve it to anyone at /ndn/<id> (needs the daemon)",
    },
  },
  async run(args, context) {
    const stored = putFile(context.home, resolve(args.file), context.log, context.now());
    if (!args.public) return { ...stored, public: false };
    await requestDaemon(context.home, "POST", "/v1/ndn/public", {
      id: stored.id,
      size: stored.size,
    });
    return { ...stored, public: true };
  },
  text: (stored) => stored.id,
});
