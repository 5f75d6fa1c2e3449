/** `bucky gateway disable`: stop serving the zone's apps from this device. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "disable", description: "Stop being a gateway" },
  args: {},
  run: (_args, context) =>
    requestDaemon<{ disabled: boolean }>(context.home, "DELETE", "/v1/gateway"),
  text: (result) =>
    result.disabled ? "This device is no longer a gateway." : "This device was not a gateway.",
});
