/** `bucky relay rm <name>`: stop using a relay outside the zone. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { RelayView } from "../../lib/relay/relays.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: { name: "rm", description: "Stop using a relay outside the zone" },
  args: {
    relay: {
      type: "positional",
      required: true,
      description: "Its name or device id (see `bucky relay list`)",
    },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<{ removed: RelayView } & HeldAnswer>(
      context.home,
      "DELETE",
      pathAsked(`/v1/relays/${encodeURIComponent(args.relay)}`, args),
    ),
  text: ({ removed, ...held }) =>
    [
      `The zone no longer uses ${removed.name} as a relay.`,
      ...notHeldYetNote(held, "removal"),
    ].join("\n"),
});
