/** `bucky relay rm <name>`: stop using a relay outside the zone. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { RelayView } from "../../lib/relay/relays.ts";
import { defineBuckyCommand } from "../command.ts";

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
    requestDaemon<{ removed: RelayView }>(
      context.home,
      "DELETE",
      `/v1/relays/${encodeURIComponent(args.relay)}`,
    ),
  text: ({ removed }) => `The zone no longer uses ${removed.name} as a relay.`,
});
