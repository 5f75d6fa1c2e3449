/**
 * An app's recent output, from whichever device runs it (or, when none does, last ran it):
 * this one reads its log file; any other asks that device.
 */
import { join } from "node:path";
import { isRecord } from "../../protocol/shape.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { LOG_LINES, wholeNumberQuery } from "../node/query-number.ts";
import { tail } from "./runner.ts";
import { readReport, readSpec } from "./spec.ts";
import { appStatus, placementCandidates } from "./status.ts";

export const MAX_LOG_LINES = LOG_LINES.max;

/** The `lines` a logs route is asked for: 100 when not said. */
export function logLines(query: string | undefined): number {
  return wholeNumberQuery(query, "lines", LOG_LINES);
}

export interface AppLogs {
  readonly app: string;
  readonly device: string;
  readonly lines: readonly string[];
}

/** The last lines of `app`'s output on this device (empty when it never ran here). */
export function localLogs(node: NodeContext, app: string, lines: number): AppLogs {
  if (!readSpec(node.db, app))
    throw new BuckyError(
      "E_NOT_FOUND",
      `no app ${app} is installed`,
      "See the apps with `bucky app list`.",
    );
  const count = Math.min(Math.max(1, Math.floor(lines)), MAX_LOG_LINES);
  return {
    app,
    device: node.deviceName,
    lines: tail(join(node.zone.paths.appsDir, app, "app.log"), count),
  };
}

/**
 * The last lines of `app`'s output where it runs; when it runs nowhere, where it last ran
 * (its output is kept there): this device's file, or that device's when it is online. Of
 * a device that is offline, an error that names it and says so, not this device's file.
 */
export async function appLogs(
  node: NodeContext,
  app: string,
  lines: number,
  liveWindowMs: number,
): Promise<AppLogs> {
  const status = appStatus(node, app, liveWindowMs);
  const { members, live } = placementCandidates(node, liveWindowMs);
  const device = status.device ?? lastRanOn(node, app, members);
  const runsNowhere = `${app} runs on no device now${status.error ? ` (${status.error})` : ""}`;
  if (!device)
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${runsNowhere}, and has run on none yet: it has no output anywhere`,
      `\`bucky app status ${app}\` says what it waits for; its output is where it runs then.`,
    );
  if (device === node.deviceName) return localLogs(node, app, lines);
  if (!live.some((member) => member.name === device))
    throw new BuckyError(
      "E_UNAVAILABLE",
      status.device
        ? `${app} is to run on ${device}, which is offline: its output is kept there`
        : `${runsNowhere}: it last ran on ${device}, which is offline, and its output is kept there`,
      `Bring ${device} back online and run \`bucky app logs ${app}\` again${status.device ? "" : `; \`bucky app status ${app}\` says why no other device runs it`}.`,
    );
  const peer = node.peer(device);
  if (!peer)
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${device} runs ${app} but cannot be reached`,
      "Try again when it is online.",
    );
  const body = await node.client.get(peer, `/v1/apps/${app}/logs?lines=${lines}`);
  if (!body) throw new BuckyError("E_NOT_FOUND", `${device} has no logs for ${app}`);
  return peerLogs(body, app, device);
}

/**
 * `device`'s answer to a request for `app`'s logs, read as lines of text (at most
 * MAX_LOG_LINES) or refused: a member's device answers as it likes, and an answer of
 * another shape would fail where the lines are printed. The app and the device are the ones
 * asked of, never what the answer names.
 */
export function peerLogs(body: Uint8Array, app: string, device: string): AppLogs {
  let said: unknown;
  try {
    said = JSON.parse(new TextDecoder().decode(body));
  } catch {
    said = undefined;
  }
  const lines = isRecord(said) ? said.lines : undefined;
  if (
    !Array.isArray(lines) ||
    lines.length > MAX_LOG_LINES ||
    !lines.every((line) => typeof line === "string")
  )
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${device} answered with no logs of ${app} this device can read`,
      `Update ${device} and this device to the same bucky, then run \`bucky app logs ${app}\` again.`,
    );
  return { app, device, lines };
}

/**
 * The member `app` last ran on, by the members' reports of it: the one whose report says
 * it started, ran or crashed latest (a report of it stopped counts only when there is no
 * other); undefined when none says it ever ran.
 */
function lastRanOn(
  node: NodeContext,
  app: string,
  members: readonly { readonly name: string }[],
): string | undefined {
  const reports = members.flatMap((member) => {
    const report = readReport(node.db, member.name, app);
    const atMs = Date.parse(report?.since ?? "");
    return report && report.state !== "pending" && Number.isFinite(atMs)
      ? [{ device: member.name, stopped: report.state === "stopped", atMs }]
      : [];
  });
  const ran = reports.some((r) => !r.stopped) ? reports.filter((r) => !r.stopped) : reports;
  let last: (typeof ran)[number] | undefined;
  for (const r of ran) if (!last || r.atMs > last.atMs) last = r;
  return last?.device;
}
