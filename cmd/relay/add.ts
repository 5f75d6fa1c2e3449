/** `bucky relay add <ticket>`: let the zone's devices use a relay outside the zone. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { RelayView } from "../../lib/relay/relays.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

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
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<RelayView & HeldAnswer>(context.home, "POST", pathAsked("/v1/relays", args), {
      ticket: args.ticket,
    }),
  text: (relay) =>
    [
      `The zone's devices now keep tunnels to ${relay.name} (${relay.addresses.join(", ")}) when they cannot be called.`,
      ...notHeldYetNote(relay, "relay"),
    ].join("\n"),
});
