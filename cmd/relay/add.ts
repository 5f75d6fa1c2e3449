/** `bucky relay add <ticket>`: let the zone's devices use a relay outside the zone. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { HeldElsewhere } from "../../lib/node/node-context.ts";
import type { RelayView } from "../../lib/relay/relays.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "add",
    description: "Let the zone's devices behind NAT be reached through a relay outside the zone",
    examples: ["bucky relay add bucky-relay:eyJpZCI6…"],
  },
  args: {
    ticket: {
      type: "positional",
      required: true,
      description: "The ticket `bucky gateway enable --relay-only` printed on the relay",
    },
  },
  run: (args, context) =>
    requestDaemon<RelayView & { heldElsewhere: HeldElsewhere }>(
      context.home,
      "POST",
      "/v1/relays",
      { ticket: args.ticket },
    ),
  text: (relay) =>
    [
      `The zone's devices now keep tunnels to ${relay.name} (${relay.addresses.join(", ")}) when they cannot be called.`,
      ...notHeldYetNote(relay.heldElsewhere, "relay"),
    ].join("\n"),
});
