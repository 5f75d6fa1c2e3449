/** `bucky relay rm <name>`: stop using a relay outside the zone. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { HeldElsewhere } from "../../lib/node/node-context.ts";
import type { RelayView } from "../../lib/relay/relays.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: { name: "rm", description: "Stop using a relay outside the zone" },
  args: {
    relay: {
      type: "positional",
      required: true,
      description: "Its name or device id (see `bucky relay list`)",
    },
  },
  run: (args, context) =>
    requestDaemon<{ removed: RelayView; heldElsewhere: HeldElsewhere }>(
      context.home,
      "DELETE",
      `/v1/relays/${encodeURIComponent(args.relay)}`,
    ),
  text: ({ removed, heldElsewhere }) =>
    [
      `The zone no longer uses ${removed.name} as a relay.`,
      ...notHeldYetNote(heldElsewhere, "removal"),
    ].join("\n"),
});
