/**
 * Where a request to the gateway goes, from its host and path alone. The zone's own host
 * (exact match) is tried before the per-app wildcard `<app>.<zone host>`; an app may
 * also be reached by path, `/apps/<app>/…`, which is stripped before forwarding.
 *
 * By path, an app would share the panel's origin: its scripts could read the panel's pages
 * and post its forms as the person signed in there. So at the zone's own host, where the
 * session is, a path to an app is only sent on to the app's own name (`app-by-name`); an
 * app is served by path only at an address, on a gateway without a name (README: "Known
 * limit") or reached by address, where a named gateway's session does not go.
 */
import { checkAppName } from "../../protocol/names.ts";

export type Route =
  | { readonly kind: "app"; readonly app: string; readonly path: string; readonly prefix: string }
  | { readonly kind: "app-slash"; readonly app: string }
  | { readonly kind: "app-by-name"; readonly app: string; readonly path: string }
  | { readonly kind: "ndn"; readonly id: string }
  | { readonly kind: "login" }
  | { readonly kind: "account"; readonly path: string }
  | { readonly kind: "panel" }
  | { readonly kind: "mcp" }
  | { readonly kind: "home" }
  | { readonly kind: "unknown-host" };

/** Reserved paths of the gateway itself. */
export const LOGIN_PATH = "/_bucky/login";
/** Where people sign in (and, under it, the passkey steps of signing in). */
export const SIGNIN_PATH = "/_bucky/signin";
/** Where a person opens their enrollment link (and, under it, its passkey steps). */
export const ENROLL_PATH = "/_bucky/enroll";
export const SIGNOUT_PATH = "/_bucky/signout";
/** A person's own account: changing their password, signing out everywhere. */
export const ACCOUNT_PATH = "/_bucky/account";
/** The zone's control panel (zone-only): everything under it. */
export const PANEL_PATH = "/_bucky/panel";
/** AI agents' Model Context Protocol endpoint (streamable HTTP, a bearer token). */
export const MCP_PATH = "/mcp";

export function route(
  hostHeader: string | null,
  pathAndQuery: string,
  zoneHost: string | null,
): Route {
  // Made per request: nothing is built that a request does not need (the host is made
  // plain only when the zone has a name to compare it with).
  let atZoneHost = false;
  if (zoneHost !== null) {
    const host = (hostHeader ?? "").toLowerCase().replace(/:\d+$/, "").replace(/\.$/, "");
    atZoneHost = host === zoneHost;
    if (!atZoneHost && host.endsWith(`.${zoneHost}`)) {
      const label = host.slice(0, -(zoneHost.length + 1));
      // Exactly one label, and an app's name: anything else is not this zone's.
      if (label.includes(".") || !checkAppName(label).ok) return { kind: "unknown-host" };
      return { kind: "app", app: label, path: pathAndQuery, prefix: "" };
    }
  }
  const query = pathAndQuery.indexOf("?");
  const path = query < 0 ? pathAndQuery : pathAndQuery.slice(0, query);
  if (path.startsWith("/_bucky/")) {
    if (path === LOGIN_PATH) return LOGIN;
    if (ACCOUNT_PATHS.some((prefix) => isUnder(path, prefix))) return { kind: "account", path };
    if (isUnder(path, PANEL_PATH)) return PANEL;
  }
  if (path === MCP_PATH) return MCP;
  if (path.startsWith("/ndn/")) return { kind: "ndn", id: path.slice("/ndn/".length) };
  const match = path.startsWith("/apps/") ? /^\/apps\/([^/?]+)(\/.*)?$/.exec(pathAndQuery) : null;
  if (match) {
    const app = match[1] as string;
    if (!checkAppName(app).ok) return HOME;
    if (atZoneHost) return { kind: "app-by-name", app, path: match[2] ?? "/" };
    if (match[2] === undefined) return { kind: "app-slash", app };
    return { kind: "app", app, path: match[2], prefix: `/apps/${app}` };
  }
  return HOME;
}

const ACCOUNT_PATHS = [SIGNIN_PATH, ENROLL_PATH, SIGNOUT_PATH, ACCOUNT_PATH];
const LOGIN: Route = { kind: "login" };
const PANEL: Route = { kind: "panel" };
const MCP: Route = { kind: "mcp" };
const HOME: Route = { kind: "home" };

/** `path` is `prefix` or under it. */
function isUnder(path: string, prefix: string): boolean {
  return path.startsWith(prefix) && (path.length === prefix.length || path[prefix.length] === "/");
}
