/** `bucky devices`: the zone's devices, when each was last seen, and how it is reached. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { DeviceView } from "../../lib/zone/devices.ts";
import { MAX_CLOCK_AHEAD_MS } from "../../protocol/hlc.ts";
import { defineBuckyCommand } from "../command.ts";
import { ago, table } from "../text.ts";

/** Clocks closer than this are not worth a word. */
const CLOCK_NOTE_MS = 10_000;

export default defineBuckyCommand({
  meta: { name: "devices", description: "List the zone's devices and whether they are online" },
  args: {},
  subCommands: {
    revoke: () => import("./revoke.ts").then((m) => m.default),
    drain: () => import("./drain.ts").then((m) => m.default),
  },
  run: (_args, context) =>
    requestDaemon<{ devices: DeviceView[] }>(context.home, "GET", "/v1/devices"),
  text({ devices }) {
    const rows = devices.map((d) => {
      const seen = d.self ? "this device" : d.lastSeenAt ? ago(d.lastSeenAt) : "never";
      const rtt = d.rttMs === null ? "" : ` (${d.rttMs} ms)`;
      const route =
        d.route === "direct"
          ? `direct ${d.address}${rtt}`
          : d.route === "relayed"
            ? `relayed via ${d.via}${rtt}`
            : "";
      return [d.name, d.status, seen, route];
    });
    const notes = devices.flatMap((d) => clockNote(d.name, d.clockOffsetMs) ?? []);
    return [table(["DEVICE", "STATUS", "LAST SEEN", "REACHED"], rows), ...notes].join("\n");
  },
});

/**
 * A clock that is off by seconds is worth saying: past a minute ahead, the device's
 * changes are refused (MAX_CLOCK_AHEAD_MS) until its time is set right.
 */
function clockNote(name: string, offsetMs: number | null): string | undefined {
  if (offsetMs === null || Math.abs(offsetMs) < CLOCK_NOTE_MS) return undefined;
  const seconds = Math.round(Math.abs(offsetMs) / 1000);
  const way = offsetMs > 0 ? "ahead" : "behind";
  const refused =
    offsetMs > MAX_CLOCK_AHEAD_MS ? ": its changes are refused until its time is set right" : "";
  return `! ${name}'s clock is ${seconds} s ${way} of this one's${refused}`;
}
