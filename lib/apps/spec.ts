/**
 * The zone state an app lives in. The owner's install writes its spec; the device that
 * runs it reports how it goes; every device reads both.
 *
 *   users/<user>/apps/<app>/spec   what should run: version, package, placement, desired state
 *   nodes/<device>/apps/<app>      how it is running there: state, url, errors
 *   nodes/<device>/heartbeat       the device is alive (its `any` apps stay with it)
 */
import { and, eq, gte, like, lt } from "drizzle-orm";
import type { AppManifest } from "../../protocol/app-manifest.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import type { StateQueries } from "../store/db.ts";
import { state } from "../store/schema.ts";

/** Apps belong to a user of the zone; until zones have several users, the owner. */
export const APP_USER = "owner";

export type DesiredState = "running" | "stopped" | "removed";

export interface AppSpec {
  readonly app: string;
  readonly version: string;
  readonly package: ObjectId;
  readonly manifest: AppManifest;
  /** A device name, or "any". */
  readonly placement: string;
  readonly desired: DesiredState;
  /** With desired "removed": delete the app's data too. */
  readonly purge?: boolean;
  readonly updatedAt: string;
}

export type RunState = "pending" | "starting" | "running" | "unhealthy" | "crashed" | "stopped";

export interface AppReport {
  readonly app: string;
  readonly state: RunState;
  readonly version: string;
  readonly package: ObjectId;
  /** Where the app answers HTTP on its device, when it does. */
  readonly url: string | null;
  readonly sandboxed: boolean;
  readonly restarts: number;
  /** What went wrong last, in words. */
  readonly error: string | null;
  readonly since: string;
}

export const appKeys = {
  spec: (app: string) => `users/${APP_USER}/apps/${app}/spec`,
  specPrefix: `users/${APP_USER}/apps/`,
  report: (device: string, app: string) => `nodes/${device}/apps/${app}`,
  heartbeat: (device: string) => `nodes/${device}/heartbeat`,
} as const;

export function readSpecs(db: StateQueries): AppSpec[] {
  const rows = db
    .select({ value: state.value })
    .from(state)
    .where(and(like(state.key, `${appKeys.specPrefix}%/spec`)))
    .all();
  return rows.flatMap((row) => (row.value ? [JSON.parse(row.value) as AppSpec] : []));
}

export function readSpec(db: StateQueries, app: string): AppSpec | undefined {
  const row = db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, appKeys.spec(app)))
    .get();
  return row?.value ? (JSON.parse(row.value) as AppSpec) : undefined;
}

export function readReport(db: StateQueries, device: string, app: string): AppReport | undefined {
  const row = db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, appKeys.report(device, app)))
    .get();
  return row?.value ? (JSON.parse(row.value) as AppReport) : undefined;
}

/** When each device last said it was alive (the writer's clock, in ms). */
export function readHeartbeats(db: StateQueries): Map<string, number> {
  const rows = db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(
      and(
        gte(state.key, "nodes/"),
        lt(state.key, "nodes/\x7f"),
        like(state.key, "nodes/%/heartbeat"),
      ),
    )
    .all();
  const beats = new Map<string, number>();
  for (const row of rows) {
    const device = row.key.split("/")[1] as string;
    const at = row.value ? (JSON.parse(row.value) as { at?: unknown }).at : undefined;
    if (typeof at === "number") beats.set(device, at);
  }
  return beats;
}
