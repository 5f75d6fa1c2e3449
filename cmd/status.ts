/** `bucky status`: the zone at a glance, the same on every device of the zone. */

import { describeRemedy } from "../lib/certs/remedy.ts";
import { givenTime, quoted, saidBy } from "../lib/facts/said-by.ts";
import { formatBytes } from "../lib/units.ts";
import { statusFromDaemon } from "../lib/zone/live-status.ts";
import type {
  DeviceDisk,
  DiskUsage,
  ZoneBackup,
  ZoneCertificate,
  ZoneStatus,
} from "../lib/zone/status.ts";
import { defineBuckyCommand } from "./command.ts";
import { printable } from "./text.ts";

export default defineBuckyCommand({
  meta: {
    name: "status",
    description: "Show the zone, its devices and how safe its data is",
    examples: ["bucky status", "bucky status --disk   # where each device's space goes"],
  },
  args: {
    disk: {
      type: "boolean",
      description:
        "Also where each device's space goes: apps, named data, state, logs, backup caches, leftovers",
    },
  },
  // From the running daemon when there is one; else read from the home's database (the
  // code that does so loads only then).
  run: async (args, context): Promise<ZoneStatus> => {
    const disk = args.disk === true;
    const live = await statusFromDaemon(context.home, { disk });
    if (live) return live;
    const [{ zoneStatus }, { liveWindowMs }] = await Promise.all([
      import("../lib/zone/status.ts"),
      import("./liveness.ts"),
    ]);
    return zoneStatus(context.home, context.log, {
      nowMs: context.now(),
      liveWindowMs: liveWindowMs(context.env),
      disk,
    });
  },
  text(status) {
    const lines = [
      `Zone         ${status.zone.name} (${status.zone.id})`,
      `This device  ${status.device.name}${status.device.holdsOwnerKey ? " (holds the owner key)" : ""}`,
      `Devices      ${status.devices.map((d) => `${d.name} ${d.status}`).join(", ")}`,
      ...status.gateways.map((g) => describeGateway(g, status.devices)),
      ...status.certificates.map(
        (c) => `Certificate  ${describeCertificate(c, status.device.name)}`,
      ),
      ...status.backups.map(describeBackup),
      ...(status.images.length > 0 ? [describeImages(status.images)] : []),
      ...(status.storedFiles.files > 0
        ? [
            `Files        ${status.storedFiles.files} stored (${formatBytes(status.storedFiles.bytes)}), ${status.storedFiles.fewerThanTwoCopies} with fewer than two copies`,
          ]
        : []),
      ...(status.disk ?? []).flatMap(diskLines),
      `Reliability  level ${status.reliability.level}: ${status.reliability.summary}`,
      ...status.reliability.warnings.map((warning) => `  ! ${warning}`),
      ...(status.warnings.length > 0
        ? ["Attention", ...status.warnings.map((warning) => `  ! ${warning}`)]
        : []),
    ];
    // Much of it is other devices' words (their facts): each stays one line.
    return lines.map(printable).join("\n");
  },
});

/** A device's backups to a target: the last backup and verify, as it said. */
/** A gateway's line: where it serves, and whether its device is offline (its links wait). */
export function describeGateway(
  g: ZoneStatus["gateways"][number],
  devices: ZoneStatus["devices"],
): string {
  const offline = devices.find((d) => d.name === g.device)?.status === "offline";
  return `Gateway      ${g.device}: ${g.url}${g.https ? "" : " (plain HTTP: no certificate; see bucky gateway enable --help)"}${offline ? ` (offline: its links and pages wait for ${g.device})` : ""}`;
}

export function describeBackup(b: ZoneBackup): string {
  const hot = b.hotFailing
    ? `; its changes fail to reach it since ${givenTime(b.hotFailing.since)}: ${saidBy(b.device, b.hotFailing.message)}`
    : "";
  const pruning = b.pruneError
    ? `; pruning it fails since ${givenTime(b.pruneError.since)}: ${saidBy(b.device, b.pruneError.message)}`
    : "";
  return `Backup       ${b.device} to ${b.target}: ${b.lastBackup ? `last ${givenTime(b.lastBackup.at)} (snapshot ${b.lastBackup.snapshot.slice(0, 8)})` : "no backup yet"}; ${b.lastVerify ? `verified ${givenTime(b.lastVerify.at)}${b.lastVerify.ok ? "" : " — DAMAGED"}` : "never verified"}${hot}${pruning}`;
}

/** What each device said it can run of container images; why not, in its words (its record). */
export function describeImages(images: ZoneStatus["images"]): string {
  return `Images       ${images
    .map((d) =>
      d.engine
        ? `${d.device} runs them (${ofShape(d.device, d.engine, ENGINE)}, ${ofShape(d.device, d.platform ?? "", PLATFORM)})`
        : `${d.device} cannot: ${saidBy(d.device, d.problem ?? "")}`,
    )
    .join("; ")}`;
}

// What an engine and a platform look like, as a device says them: podman 4.3.1, linux/arm64/v8.
const ENGINE = /^podman [0-9A-Za-z.+~-]{1,40}$/;
const PLATFORM = /^[a-z0-9]{1,20}\/[a-z0-9]{1,20}(\/[a-z0-9]{1,20})?$/;

/** A device's words shown as they are when of their shape, else quoted as its words. */
function ofShape(device: string, words: string, shape: RegExp): string {
  return shape.test(words) ? words : saidBy(device, words);
}

/** A device's disk: free space, and where its space goes as it said. */
export function diskLines(disk: DeviceDisk): string[] {
  const free =
    disk.freeBytes === null || disk.totalBytes === null
      ? "free space not known yet"
      : `${formatBytes(disk.freeBytes)} free of ${formatBytes(disk.totalBytes)}${disk.nearlyFull ? " — NEARLY FULL" : ""}`;
  const head = `Disk         ${disk.device}: ${free}`;
  if (!disk.usage) return [head, "               where its space goes is not known yet"];
  // As the device measured it, every ten minutes (this one: now): the same on every device.
  const measured = disk.usage.measuredAt ? `, measured ${givenTime(disk.usage.measuredAt)}` : "";
  return [
    `${head}${measured}`,
    ...usageLines(disk.usage, disk.device).map((line) => `               ${line}`),
  ];
}

function usageLines(usage: DiskUsage, device: string): string[] {
  const { state } = usage;
  return [
    `zone state ${formatBytes(state.bytes)}: ${count(state.keys, "key")}, ${count(state.changesets, "changeset")}${state.checkpoint ? ` since its checkpoint of ${givenTime(state.checkpoint.cut)}` : ""}`,
    `named data ${formatBytes(usage.namedData.bytes)} (${count(usage.namedData.objects, "file")}), logs ${formatBytes(usage.logsBytes)}, backup caches ${formatBytes(usage.backupCacheBytes)}`,
    ...Object.entries(usage.apps).map(
      ([app, used]) =>
        `${app}: data ${formatBytes(used.dataBytes)}${used.upgradeCopiesBytes ? `, copies an upgrade keeps ${formatBytes(used.upgradeCopiesBytes)}` : ""}, packages ${formatBytes(used.packagesBytes)}, standby copy ${formatBytes(used.replicaBytes)}, conflict copies ${formatBytes(used.conflictsBytes)}, output ${formatBytes(used.logsBytes)}`,
    ),
    // How to remove it is this device's own command (measured here); another device's
    // leftover is its words, and what to do the zone's: ask that device, which measures.
    ...usage.leftovers.map((leftover) =>
      leftover.remove !== undefined
        ? `leftover: ${leftover.what}, ${formatBytes(leftover.bytes)} (${leftover.remove})`
        : `leftover, ${device} says: ${quoted(leftover.what)}, ${formatBytes(leftover.bytes)} (to remove it, run \`bucky status --disk\` on ${device})`,
    ),
  ];
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/**
 * One certificate in plain words: whose, for what, until when, what went wrong and what to
 * do. The error is the gateway's own words (its facts): this device's are shown with its
 * hint; another device's are said to be its words, and what to do is the zone's own text
 * (lib/certs/remedy.ts), never that device's hint, which could name any command.
 */
export function describeCertificate(cert: ZoneCertificate, self: string): string {
  const issuer = { acme: "ACME", zone: "the zone CA", files: "given files" }[cert.issuer];
  const until = cert.notAfter
    ? `valid until ${givenTime(cert.notAfter)} (${issuer})`
    : `none yet (${issuer})`;
  const error = cert.lastError;
  const remedy = cert.remedy ? `; to do: ${describeRemedy(cert.remedy)}` : "";
  const problem = !error
    ? ""
    : cert.device === self
      ? `; last try ${givenTime(error.at)} failed: ${error.message}${error.hint ? ` (${error.hint})` : ""}`
      : `; ${cert.device} says its last try ${givenTime(error.at)} failed: ${quoted(error.message)}${remedy}`;
  return `${cert.name} on ${cert.device}: ${until}${problem}`;
}
