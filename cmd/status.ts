/** `bucky status`: the zone at a glance, the same on every device of the zone. */
import { type ZoneCertificate, zoneStatus } from "../lib/zone/status.ts";
import { defineBuckyCommand } from "./command.ts";
import { liveWindowMs } from "./liveness.ts";

export default defineBuckyCommand({
  meta: { name: "status", description: "Show the zone, its devices and how safe its data is" },
  args: {},
  run: (_args, context) =>
    zoneStatus(context.home, context.log, {
      nowMs: context.now(),
      liveWindowMs: liveWindowMs(context.env),
    }),
  text(status) {
    return [
      `Zone         ${status.zone.name} (${status.zone.id})`,
      `This device  ${status.device.name}${status.device.holdsOwnerKey ? " (holds the owner key)" : ""}`,
      `Devices      ${status.devices.map((d) => `${d.name} ${d.status}`).join(", ")}`,
      ...status.gateways.map(
        (g) =>
          `Gateway      ${g.device}: ${g.url}${g.https ? "" : " (plain HTTP: no certificate; see bucky gateway enable --help)"}`,
      ),
      ...status.certificates.map((c) => `Certificate  ${describeCertificate(c)}`),
      ...status.backups.map(
        (b) =>
          `Backup       ${b.device} to ${b.target}: ${b.lastBackup ? `last ${b.lastBackup.at} (snapshot ${b.lastBackup.snapshot.slice(0, 8)})` : "no backup yet"}; ${b.lastVerify ? `verified ${b.lastVerify.at}${b.lastVerify.ok ? "" : " — DAMAGED"}` : "never verified"}`,
      ),
      ...(status.images.length > 0
        ? [
            `Images       ${status.images
              .map((d) =>
                d.engine
                  ? `${d.device} runs them (${d.engine}, ${d.platform})`
                  : `${d.device} cannot (${d.problem})`,
              )
              .join("; ")}`,
          ]
        : []),
      `Reliability  level ${status.reliability.level}: ${status.reliability.summary}`,
      ...status.reliability.warnings.map((warning) => `  ! ${warning}`),
      ...(status.warnings.length > 0
        ? ["Attention", ...status.warnings.map((warning) => `  ! ${warning}`)]
        : []),
    ].join("\n");
  },
});

/** One certificate in plain words: whose, for what, until when, and what went wrong. */
function describeCertificate(cert: ZoneCertificate): string {
  const issuer = { acme: "ACME", zone: "the zone CA", files: "given files" }[cert.issuer];
  const until = cert.notAfter ? `valid until ${cert.notAfter} (${issuer})` : `none yet (${issuer})`;
  const problem = cert.lastError
    ? `; last try ${cert.lastError.at} failed: ${cert.lastError.message}${cert.lastError.hint ? ` (${cert.lastError.hint})` : ""}`
    : "";
  return `${cert.name} on ${cert.device}: ${until}${problem}`;
}
