/** `bucky relay list`: the relays the zone's devices keep tunnels to. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { RelayView } from "../../lib/relay/relays.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "list",
    description: "List the relays of the zone: its gateways and outside relays",
  },
  args: {},
  run: (_args, context) =>
    requestDaemon<{ relays: RelayView[] }>(context.home, "GET", "/v1/relays"),
  text: ({ relays }) =>
    relays.length === 0
      ? "No relays: devices behind NAT cannot be reached. Make a reachable device a gateway (`bucky gateway enable`)."
      : relays
          .map(
            (r) =>
              `${r.name}  ${r.member ? "gateway of the zone" : "outside relay"}  ${r.addresses.join(", ")}`,
          )
          .join("\n"),
});
