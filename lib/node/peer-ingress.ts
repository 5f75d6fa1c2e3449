/**
 * The apps' ingress on a device's peer API, `/v1/ingress/<app>/…`, served ahead of the
 * peer API's router: every request the zone's gateways forward to an app on this device
 * comes this way, so it takes the shortest path that keeps every check. The URL is parsed
 * once (the same path and query are authenticated and forwarded), and no router context
 * or middleware chain is made; what the router's middleware did is done here: the caller
 * must be a member in good standing whose request names this device, is fresh and carries
 * a tag or signature over its method, path and query (lib/node/admit-member.ts; the body
 * streams, unsigned, inside the pinned TLS), the person it comes with is checked
 * (IngressViewers), errors answer as the rest of the API's do, and one line is logged.
 */
import type { Server } from "bun";
import { UNSIGNED_BODY } from "../../protocol/request-auth.ts";
import { BuckyError } from "../errors.ts";
import type { IngressViewers } from "../gateway/app-user.ts";
import type { BridgeData } from "../gateway/forward.ts";
import { ingress } from "../gateway/ingress.ts";
import type { Log } from "../log.ts";
import { admitMember } from "./admit-member.ts";
import { logRequest, refusalOf, refusalResponse } from "./http.ts";
import type { NodeContext } from "./node-context.ts";

export const INGRESS_PREFIX = "/v1/ingress/";
/** On the ingress's own refusals (never on an app's answer it passes on), for a gateway. */
export const INGRESS_REFUSED_HEADER = "bucky-ingress-refused";

/** Whether `url` (a request's, absolute) is for the ingress: its path starts with the prefix. */
export function isIngressUrl(url: string): boolean {
  // The path starts after the scheme and the authority, which hold no "/".
  const at = url.indexOf("/", url.indexOf("//") + 2);
  return at >= 0 && url.startsWith(INGRESS_PREFIX, at);
}

/** Serves a request for the ingress (isIngressUrl): its app's answer, or the refusal. */
export async function serveIngress(
  node: NodeContext,
  log: Log,
  onBug: (error: unknown) => void,
  people: IngressViewers,
  request: Request,
  server: Server<BridgeData>,
): Promise<Response> {
  const startMs = performance.now();
  const url = new URL(request.url);
  const path = url.pathname;
  let peer: string | undefined;
  let response: Response;
  let refusal: BuckyError | undefined;
  try {
    // Parsed, the path may no longer be the ingress's (dot segments): the router's turn.
    if (!path.startsWith(INGRESS_PREFIX))
      throw new BuckyError("E_NOT_FOUND", `no such path on the peer API: ${path}`);
    admitMember(
      node,
      { method: request.method, path: path + url.search, body: UNSIGNED_BODY },
      request.headers,
      (name) => {
        peer = name;
      },
    );
    const slash = path.indexOf("/", INGRESS_PREFIX.length);
    const app = path.slice(INGRESS_PREFIX.length, slash < 0 ? undefined : slash);
    const appPath = (slash < 0 ? "" : path.slice(slash)) + url.search || "/";
    response = await ingress(node, app, appPath, request, server, people);
  } catch (thrown) {
    refusal = refusalOf(thrown, path, log, onBug);
    response = refusalResponse(refusal);
    // This device's word, not the app's answer: a gateway says it on its own page.
    response.headers.set(INGRESS_REFUSED_HEADER, "1");
  }
  logRequest(
    log,
    {
      api: "peer",
      method: request.method,
      path,
      status: response.status,
      ms: Math.round((performance.now() - startMs) * 10) / 10,
      ...(peer ? { peer } : {}),
    },
    refusal,
  );
  return response;
}
