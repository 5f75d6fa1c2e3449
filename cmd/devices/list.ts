/** `bucky devices`: the zone's devices, when each was last seen, and how it is reached. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { describeRevokedFork } from "../../lib/sync/quarantine-notes.ts";
import type { DeviceView } from "../../lib/zone/devices.ts";
import { type NameClash, nameClashWarning } from "../../lib/zone/name-clashes.ts";
import { describeNote } from "../../lib/zone/reliability.ts";
import { defineBuckyCommand } from "../command.ts";
import { ago, table } from "../text.ts";

export default defineBuckyCommand({
  meta: { name: "devices", description: "List the zone's devices and whether they are online" },
  args: {},
  subCommands: {
    revoke: () => import("./revoke.ts").then((m) => m.default),
    drain: () => import("./drain.ts").then((m) => m.default),
  },
  run: (_args, context) =>
    requestDaemon<{ devices: DeviceView[]; nameClashes: NameClash[] }>(
      context.home,
      "GET",
      "/v1/devices",
    ),
  text({ devices, nameClashes }) {
    const rows = devices.map((d) => {
      const seen = d.self ? "this device" : d.lastSeenAt ? ago(d.lastSeenAt) : "never";
      const rtt = d.rttMs === null ? "" : ` (${d.rttMs} ms)`;
      const route =
        d.route === "direct"
          ? `direct ${d.address}${rtt}`
          : d.route === "relayed"
            ? `relayed via ${d.via}${rtt}`
            : "";
      return [d.name, d.status, seen, d.version ?? "", route];
    });
    const notes = devices.flatMap((d) => [
      ...(d.quarantinedFrom === null ? [] : [quarantineNote(d.name, d.quarantinedFrom)]),
      ...(d.revokedFork === null ? [] : [`! ${describeRevokedFork(d.revokedFork)}`]),
      ...(d.clockAhead ? [clockNote(d.name, d.clockAhead)] : []),
      ...(d.stopped
        ? [`! ${describeNote({ kind: "stopped", device: d.name, ...d.stopped })}`]
        : []),
      ...(d.lastSeenAt === null && d.status === "offline" ? [neverSeenNote(d.name)] : []),
    ]);
    return [
      table(["DEVICE", "STATUS", "LAST SEEN", "BUCKY", "REACHED"], rows),
      ...notes,
      ...nameClashes.map((clash) => `! ${nameClashWarning(clash)}`),
    ].join("\n");
  },
});

/**
 * A device the zone refuses for its clock, as the refusing devices say (the status's note):
 * each one's figure under its own name.
 */
function clockNote(name: string, ahead: NonNullable<DeviceView["clockAhead"]>): string {
  const figures = ahead.figures.map((f) => `${f.seconds} s ahead of the clock on ${f.by}`);
  return `! ${name}'s clock is ${figures.join(", ")} (as each says): its changes are refused until its time is set right`;
}

/** A member no device has heard from since it was admitted: its join may have been cut short. */
function neverSeenNote(name: string): string {
  return `! ${name} was admitted but has never been heard from: if its \`bucky join\` was cut short, run the same command there again (it resumes); if that device is gone, revoke it (\`bucky devices revoke ${name}\` on a device holding the owner key)`;
}

/** A device proven to have signed two histories: what every device refuses, and what to do. */
function quarantineNote(name: string, seq: number): string {
  return `! ${name} is quarantined: it signed two histories from changeset #${seq} on, and no device takes its changes from there on; revoke it (\`bucky devices revoke ${name}\` on a device holding the owner key; any device takes that key from the recovery phrase: \`bucky zone owner-key < phrase.txt\`, then restart its daemon) and join it again from a fresh home`;
}
