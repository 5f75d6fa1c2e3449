/** `bucky devices`: the zone's devices, when each was last seen, and how it is reached. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { DeviceView } from "../../lib/zone/devices.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "devices", description: "List the zone's devices and whether they are online" },
  args: {},
  subCommands: { revoke: () => import("./revoke.ts").then((m) => m.default) },
  run: (_args, context) =>
    requestDaemon<{ devices: DeviceView[] }>(context.home, "GET", "/v1/devices"),
  text({ devices }) {
    const width = Math.max(...devices.map((d) => d.name.length));
    return devices
      .map((d) => {
        const seen = d.self
          ? "this device"
          : d.lastSeenAt
            ? `last seen ${d.lastSeenAt}`
            : "never seen";
        const rtt = d.rttMs === null ? "" : ` (${d.rttMs} ms)`;
        const route =
          d.route === "direct"
            ? `  direct ${d.address}${rtt}`
            : d.route === "relayed"
              ? `  relayed via ${d.via}${rtt}`
              : "";
        return `${d.name.padEnd(width)}  ${d.status.padEnd(11)}  ${seen}${route}`;
      })
      .join("\n");
  },
});
