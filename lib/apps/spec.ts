/**
 * The zone state an app lives in. The owner's install writes its spec; the device that
 * runs it reports how it goes; every device reads both.
 *
 *   users/<user>/apps/<app>/spec   what should run: version, package, placement, desired state
 *   nodes/<device>/apps/<app>      how it is running there: state, url, errors
 *
 * Which devices are alive (so hold their `any` apps) is not state: it is presence
 * (lib/sync/presence.ts), which does not grow the log.
 */
import type { AppManifest } from "../../protocol/app-manifest.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import type { StateDb } from "../store/db.ts";
import { type StateReader, stateRowsMatching, stateValue } from "../store/reads.ts";

/** Apps belong to a user of the zone; until zones have several users, the owner. */
export const APP_USER = "owner";

export type DesiredState = "running" | "stopped" | "removed";

export interface AppSpec {
  readonly app: string;
  readonly version: string;
  /** What it runs from: its package, or for an image app the image's record (lib/images/). */
  readonly package: ObjectId;
  /** The package of the version installed before (kept to go back to), if any. */
  readonly previousPackage?: ObjectId;
  readonly manifest: AppManifest;
  /** An image app's image: the platforms the zone holds it for ("linux/amd64"). */
  readonly image?: { readonly platforms: readonly string[] };
  /** A device name, or "any". */
  readonly placement: string;
  /** Where `bucky app move` sent it: kept there while that device is live. */
  readonly moveTo?: string | null;
  /** A conflict copy the owner asked back (`bucky app restore-copy`): the device keeping it takes over with it. */
  readonly restoreCopy?: {
    readonly device: string;
    readonly name: string;
    readonly at: string;
  } | null;
  readonly desired: DesiredState;
  /**
   * The owner let it run without a sandbox on a device that cannot give it one
   * (`bucky app install --unsandboxed`). A device that can still sandboxes it.
   */
  readonly unsandboxed?: boolean;
  /** With desired "removed": delete the app's data too. */
  readonly purge?: boolean;
  /**
   * Who sees a zone-only app, beside the admins: people's names and role names
   * (`bucky app share`). Absent or null: everyone of the zone.
   */
  readonly shared?: readonly string[] | null;
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
} as const;

export function readSpecs(db: StateReader): AppSpec[] {
  const rows = stateRowsMatching(db, `${appKeys.specPrefix}*/spec`);
  return rows.flatMap((row) => (row.value ? [JSON.parse(row.value) as AppSpec] : []));
}

export function readSpec(db: StateReader, app: string): AppSpec | undefined {
  const value = stateValue(db, appKeys.spec(app));
  return value ? (JSON.parse(value) as AppSpec) : undefined;
}

/**
 * readReport through a statement SQLite keeps compiled: for the ingress, which reads it for
 * every request it passes on (building the query each time was a fifth of its time).
 */
export function currentReport(db: StateDb, device: string, app: string): AppReport | undefined {
  const row = db.$client
    .query("SELECT value FROM state WHERE key = ?")
    .get(appKeys.report(device, app)) as { value: string | null } | null;
  return row?.value ? (JSON.parse(row.value) as AppReport) : undefined;
}

export function readReport(db: StateReader, device: string, app: string): AppReport | undefined {
  const value = stateValue(db, appKeys.report(device, app));
  return value ? (JSON.parse(value) as AppReport) : undefined;
}
