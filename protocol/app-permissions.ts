/**
 * What an app may ask of bucky through its local API: the permissions its manifest lists,
 * which the owner accepts by installing it. Each names exactly what it opens:
 *
 *   state.read                read zone state keys under the app's own prefix, apps/<app>/
 *   state.write               write and delete keys there
 *   state.read:<prefix>       read keys under another prefix of apps/ (like apps/shared/)
 *   state.write:<prefix>      write and delete keys there
 *   ndn.read                  fetch named data by its id (from this device or the zone's others)
 *   ndn.write                 store named data
 *
 * A granted prefix lies under `apps/` and ends with `/`: the zone's own keys (devices,
 * specs, agents, relays, …) are never in an app's reach, whatever its manifest says.
 * Writing does not imply reading: an app that does both lists both.
 */
import { stateKeyProblem } from "./state-key.ts";

/** The part of the zone state apps may be given: their own prefix and shared ones. */
export const APPS_STATE_ROOT = "apps/";
export const APP_PERMISSIONS = ["state.read", "state.write", "ndn.read", "ndn.write"] as const;
export type StateAccess = "read" | "write";

const PREFIXED = /^state\.(read|write):(.+)$/;

/** The prefix of the zone state that is an app's own. */
export function ownStatePrefix(app: string): string {
  return `${APPS_STATE_ROOT}${app}/`;
}

/** Why `permission` is not one an app may list, or undefined when it is. */
export function permissionProblem(permission: string): string | undefined {
  if ((APP_PERMISSIONS as readonly string[]).includes(permission)) return undefined;
  if (permission === "network")
    return '"network" is not a permission: an app that needs the network says "network": "outbound"';
  const prefixed = PREFIXED.exec(permission);
  if (!prefixed)
    return `${JSON.stringify(permission)} is not one of ${APP_PERMISSIONS.join(", ")}, state.read:<prefix>, state.write:<prefix>`;
  const prefix = prefixed[2] as string;
  if (!prefix.startsWith(APPS_STATE_ROOT) || !prefix.endsWith("/") || prefix === APPS_STATE_ROOT)
    return `${JSON.stringify(permission)} must name a prefix under apps/ that ends with /, like state.read:apps/shared/`;
  const problem = stateKeyProblem(prefix.slice(0, -1));
  return problem ? `${JSON.stringify(permission)} names no valid prefix: ${problem}` : undefined;
}

/** The prefixes of the zone state `permissions` open to `app` for `access`. */
export function statePrefixes(
  permissions: readonly string[],
  app: string,
  access: StateAccess,
): string[] {
  const prefixes: string[] = [];
  for (const permission of permissions) {
    if (permission === `state.${access}`) prefixes.push(ownStatePrefix(app));
    const prefixed = PREFIXED.exec(permission);
    if (prefixed?.[1] === access && permissionProblem(permission) === undefined)
      prefixes.push(prefixed[2] as string);
  }
  return prefixes;
}

/** Whether `permissions` let `app` read or write the state key `key` (a valid key). */
export function mayUseState(
  permissions: readonly string[],
  app: string,
  access: StateAccess,
  key: string,
): boolean {
  return statePrefixes(permissions, app, access).some((prefix) => key.startsWith(prefix));
}

/** Whether `permissions` let `app` list the keys under `prefix` (every one it could name). */
export function mayListState(permissions: readonly string[], app: string, prefix: string): boolean {
  return statePrefixes(permissions, app, "read").some((granted) => prefix.startsWith(granted));
}
