/**
 * `bucky state set <key> <json>`: write a value; every reachable device gets it. It answers
 * once another device holds the write (`heldElsewhere`), so losing this one loses nothing.
 */
import { BuckyError } from "../../lib/errors.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { Entry } from "../../lib/state/kv.ts";
import { stateKeyPath } from "../../lib/state/state-key.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "set",
    description: "Set a key to a JSON value",
    examples: [`bucky state set apps/music/volume 7`, `bucky state set users/ann/theme '"dark"'`],
  },
  args: {
    key: { type: "positional", required: true, description: "The key, like apps/music/config" },
    value: {
      type: "positional",
      required: true,
      description: "The value, as JSON (quote strings: '\"text\"')",
    },
    ...waitArgs(),
  },
  run(args, context) {
    let value: unknown;
    try {
      value = JSON.parse(args.value);
    } catch {
      throw new BuckyError(
        "E_INVALID_INPUT",
        `the value ${JSON.stringify(args.value)} is not JSON`,
        `Values are JSON: a string needs its own quotes, like '"${args.value}"'.`,
      );
    }
    return requestDaemon<Entry & HeldAnswer>(
      context.home,
      "PUT",
      pathAsked(stateKeyPath(args.key), args),
      { value },
    );
  },
  text: (entry) =>
    [`Set ${entry.key} = ${JSON.stringify(entry.value)}`, ...notHeldYetNote(entry, "write")].join(
      "\n",
    ),
});
