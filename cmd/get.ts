/** `bucky get <id> -o <path>`: fetch named data from this or any zone device, verified. */
import { resolve } from "node:path";
import { BuckyError } from "../lib/errors.ts";
import { getObject } from "../lib/ndn/files.ts";
import { removePartialFiles } from "../lib/ndn/partial-file.ts";
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
  run: async (args, context) => {
    const output = outputPath(args.output);
    const endInterrupted = removingPartialFilesOnSignals();
    try {
      return await getObject({
        home: context.home,
        id: args.id,
        output,
        log: context.log,
        now: context.now,
      });
    } finally {
      endInterrupted();
    }
  },
  text: (result) => `Wrote ${result.size} bytes to ${result.path}`,
});

/**
 * Where the file goes. `-` is no standard output here: the file appears whole and
 * verified, by a rename, and the result is what stdout holds.
 */
function outputPath(output: string): string {
  if (output === "-" || output === "")
    throw new BuckyError(
      "E_USAGE",
      `-o ${JSON.stringify(output)} is not a file to write`,
      "Name a file that does not exist yet: bucky get writes it whole, every chunk verified, then renames it in place.",
    );
  return resolve(output);
}

/** Signals that end a command run by hand. */
const ENDING_SIGNALS = ["SIGINT", "SIGHUP", "SIGTERM"] as const;

/**
 * While a fetch runs, a signal that ends the command (Ctrl-C) first removes the file it was
 * writing, which would otherwise be left beside the destination under a hidden name, then
 * ends it as the signal would have (raised again with no handler left: only the entry
 * point calls process.exit). Returns what puts the signals back as they were.
 */
function removingPartialFilesOnSignals(): () => void {
  const handlers = ENDING_SIGNALS.map((signal) => {
    const handler = () => {
      removePartialFiles();
      process.off(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });
  return () => {
    for (const off of handlers) off();
  };
}
