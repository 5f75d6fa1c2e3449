/** `bucky status`: the zone at a glance. */
import { zoneStatus } from "../lib/zone/status.ts";
import { defineBuckyCommand } from "./command.ts";

export default defineBuckyCommand({
  meta: { name: "status", description: "Show the zone, its devices and how safe its data is" },
  args: {},
  run: (_args, context) => zoneStatus(context.home, context.log),
  text(status) {
    const width = Math.max(...status.devices.map((device) => device.name.length));
    return [
      `Zone         ${status.zone.name} (${status.zone.id})`,
      `This device  ${status.device.name}${status.device.holdsOwnerKey ? " (holds the owner key)" : ""}`,
      `Devices      ${status.devices.length}`,
      ...status.devices.map(
        (device) =>
          `  ${device.name.padEnd(width)}  ${device.id}${device.self ? "  (this device)" : ""}`,
      ),
      ...(status.gateway
        ? [
            `Gateway      ${status.gateway.url}${status.gateway.https ? "" : " (plain HTTP: no certificate; see bucky gateway enable --help)"}`,
          ]
        : []),
      ...status.backup.map(
        (b) =>
          `Backup       ${b.target}: ${b.lastBackup ? `last ${b.lastBackup.at} (snapshot ${b.lastBackup.snapshot.slice(0, 8)})` : "no backup yet"}; ${b.lastVerify ? `verified ${b.lastVerify.at}${b.lastVerify.ok ? "" : " — DAMAGED"}` : "never verified"}`,
      ),
      `Reliability  level ${status.reliability.level}: ${status.reliability.summary}`,
      ...status.reliability.warnings.map((warning) => `  ! ${warning}`),
    ].join("\n");
  },
});
