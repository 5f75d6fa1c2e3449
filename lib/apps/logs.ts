/**
 * An app's recent output, from whichever device runs it: this one reads its log file;
 * any other asks that device.
 */
import { join } from "node:path";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { tail } from "./runner.ts";
import { readSpec } from "./spec.ts";
import { appStatus } from "./status.ts";

export const MAX_LOG_LINES = 1000;

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

export async function appLogs(
  node: NodeContext,
  app: string,
  lines: number,
  liveWindowMs: number,
): Promise<AppLogs> {
  const status = appStatus(node, app, liveWindowMs);
  if (!status.device || status.device === node.deviceName) return localLogs(node, app, lines);
  const peer = node.peer(status.device);
  if (!peer)
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${status.device} runs ${app} but cannot be reached`,
      "Try again when it is online.",
    );
  const body = await node.client.get(peer, `/v1/apps/${app}/logs?lines=${lines}`);
  if (!body) throw new BuckyError("E_NOT_FOUND", `${status.device} has no logs for ${app}`);
  return JSON.parse(new TextDecoder().decode(body)) as AppLogs;
}
