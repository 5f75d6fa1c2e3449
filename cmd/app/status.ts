/** `bucky app status <app>`: where an app runs, its state, where its data is, and what went wrong. */
import type { AppStatus } from "../../lib/apps/status.ts";
import { givenTime, saidBy } from "../../lib/facts/said-by.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { AppDataStatus } from "../../lib/replica/data-status.ts";
import { formatBytes } from "../../lib/units.ts";
import { defineBuckyCommand } from "../command.ts";
import { printable } from "../text.ts";

export default defineBuckyCommand({
  meta: {
    name: "status",
    description:
      "Show an app's state, device, where people reach it, and where its data is: holder, standbys and how far behind",
  },
  args: { app: { type: "positional", required: true, description: "The app's id" } },
  run: (args, context) =>
    requestDaemon<AppStatus & AppAddresses>(
      context.home,
      "GET",
      `/v1/apps/${encodeURIComponent(args.app)}`,
    ),
  text: (status) => [statusText(status), ...addressLines(status.addresses)].join("\n"),
});

/** Where people reach the app, through each of the zone's gateways (the same on every device). */
interface AppAddresses {
  readonly addresses: readonly string[];
}

function addressLines(addresses: readonly string[]): string[] {
  if (addresses.length === 0)
    return ["  address    none: no gateway yet (make one with `bucky gateway enable`)"];
  return addresses.map((address) => `  address    ${printable(address)}`);
}

/** The app's status for people; its report's words said as the reporting device's. */
export function statusText(status: AppStatus): string {
  return (
    [
      `${status.app} ${status.version}: ${status.state}`,
      `  device     ${status.device ?? "(none runs it now)"}${status.placement === "any" ? " (placed on any device)" : ""}`,
      ...(status.data ? takeoverLines(status.data) : []),
      `  url        ${status.url === null ? "-" : reported(status, status.url)}`,
      `  exposure   ${status.exposure}`,
      ...(status.image
        ? [`  engine     ${status.engine}: a container of ${status.image}`]
        : [
            `  sandboxed  ${
              status.state === "pending" || status.state === "stopped"
                ? "- (no device runs it)"
                : status.sandboxed
                  ? "yes (bubblewrap)"
                  : "no: install bubblewrap on that device to isolate it"
            }`,
          ]),
      `  restarts   ${status.restarts}`,
      `  state      ${formatBytes(status.stateBytes)} of ${formatBytes(status.stateMaxBytes)} (zone state it may keep)`,
      ...(status.data ? dataLines(status.data) : []),
      ...(status.error ? [`  problem    ${reported(status, status.error)}`] : []),
    ]
      // Each stays one line, whatever a device wrote in its report.
      .map(printable)
      .join("\n")
  );
}

/**
 * Text of the app's report, said as the words of the device that wrote it: a member writes
 * its reports as it likes, and a problem could read "the owner must run …" as the zone's.
 */
function reported(status: AppStatus, words: string): string {
  return status.reportedBy === null ? words : saidBy(status.reportedBy, words);
}

/** Where its data is: the holder (its own claim: the time it gives is shown as one only when it is), standbys, copies. */
export function dataLines(data: AppDataStatus): string[] {
  const holder = data.holder;
  const lines = [
    `  data       ${holder ? `held by ${holder.device} (epoch ${holder.epoch}, since ${givenTime(holder.since)})` : "not held yet"}`,
  ];
  if (holder?.lostAtMostMs)
    lines.push(
      `             taken over from a copy: at most ${seconds(holder.lostAtMostMs)} of writes before it could be missing`,
    );
  if (holder?.lostUnknownReason)
    lines.push(
      `             taken over from a copy: how much of the writes before it could be missing is not known (${saidBy(holder.device, holder.lostUnknownReason)})`,
    );
  if (data.movingTo) lines.push(`             moving to ${data.movingTo}`);
  if (data.standbys.length === 0)
    lines.push(
      data.standbysAsked === 0
        ? "  standbys   none: its manifest asks for no copy"
        : "  standbys   none: the data is on one device only (no other device is live)",
    );
  for (const standby of data.standbys)
    lines.push(
      `  standby    ${standby.device}: ${
        standby.lagMs === null
          ? "no copy yet"
          : standby.lagMs === 0
            ? "up to date"
            : `${seconds(standby.lagMs)} behind (${formatBytes(standby.lagBytes ?? 0)} to fetch)`
      }${
        standby.damagedBlobs
          ? `; ${standby.damagedBlobs} damaged blob${standby.damagedBlobs === 1 ? "" : "s"} found in its copy, being fetched again`
          : ""
      }`,
    );
  for (const copy of data.conflicts)
    lines.push(
      `  conflict   ${copy.name} on ${copy.device} (${formatBytes(copy.bytes)}): writes that never reached the holder; \`bucky app restore-copy\` brings it back`,
    );
  return lines;
}

/**
 * A takeover due but not claimed yet: the holder is named as running the app (no other
 * device does until the claim), and this says why that may change.
 */
export function takeoverLines(data: AppDataStatus): string[] {
  const holder = data.holder?.device;
  const takeover = data.takeover;
  if (!holder || !takeover) return [];
  const silent =
    takeover.holderSilentMs === null
      ? "never heard from"
      : `not heard from for ${seconds(takeover.holderSilentMs)}`;
  return [
    `             ${holder} ${silent}: ${takeover.by} takes the app over unless it still hears from ${holder}`,
  ];
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
