/** `bucky put <file>`: store a file as named data on this device and print its id. */
import { resolve } from "node:path";
import { putFile } from "../lib/ndn/files.ts";
import { defineBuckyCommand } from "./command.ts";

export default defineBuckyCommand({
  meta: {
    name: "put",
    description: "Store a file by its content hash; prints the id any zone device can fetch it by",
    examples: [
      "bucky put photo.jpg",
      "bucky get sha256:… -o copy.jpg   # on any device of the zone",
    ],
  },
  args: { file: { type: "positional", required: true, description: "The file to store" } },
  run: (args, context) => putFile(context.home, resolve(args.file), context.log),
  text: (stored) => stored.id,
});
