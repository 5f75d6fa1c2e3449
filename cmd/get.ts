/** `bucky get <id> -o <path>`: fetch named data from this or any zone device, verified. */
import { resolve } from "node:path";
import { getObject } from "../lib/ndn/files.ts";
import { defineBuckyCommand } from "./command.ts";

export default defineBuckyCommand({
  meta: {
    name: "get",
    description:
      "Fetch a file by id from this device or any device of the zone, verifying every chunk",
    examples: ["bucky get sha256:9f86d0… -o notes.txt"],
  },
  args: {
    id: {
      type: "positional",
      required: true,
      description: "The object's id, as `bucky put` printed it",
    },
    output: {
      type: "string",
      alias: "o",
      required: true,
      valueHint: "path",
      description: "Where to write the file (it must not exist)",
    },
  },
  run: (args, context) =>
    getObject({
      home: context.home,
      id: args.id,
      output: resolve(args.output),
      log: context.log,
      now: context.now,
    }),
  text: (result) => `Wrote ${result.size} bytes to ${result.path}`,
});
