/**
 * A device's door for the zone's gateways to the apps it runs: `/v1/ingress/<app>/…` on
 * its peer API (members only: lib/node/peer-ingress.ts), forwarded as it streams to the
 * app (through its door, lib/apps/door.ts: the socket into its sandbox, or a port on
 * 127.0.0.1). Who is signed in, the app hears from this device alone, once it checked the
 * gateway's assertion (lib/gateway/app-user.ts).
 */
import type { Server } from "bun";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { type IngressViewers, tellApp } from "./app-user.ts";
import {
  answerReadWhole,
  type BridgeData,
  bridgeData,
  forwardedHeaders,
  isWebSocketUpgrade,
  returnedResponse,
} from "./forward.ts";

export async function ingress(
  node: NodeContext,
  app: string,
  /** The path and query the app receives (`/` at least). */
  path: string,
  request: Request,
  server: Server<BridgeData>,
  people: IngressViewers,
): Promise<Response> {
  const report = node.ownReport(app);
  const door = node.doors.get(app);
  if (!door || (report?.state !== "running" && report?.state !== "unhealthy")) {
    throw new BuckyError("E_UNAVAILABLE", `${app} is not running on ${node.deviceName}`);
  }
  // The gateway already set X-Forwarded-*; bucky's own request headers stop here.
  const headers = forwardedHeaders(request.headers, { host: request.headers.get("host") ?? "" });
  tellApp(headers, await people.viewer(app, request.headers));
  if (isWebSocketUpgrade(request)) {
    const data = bridgeData(door.websocketUrl(path), {
      headers: Object.fromEntries(headers),
      protocols: request.headers.get("sec-websocket-protocol"),
    });
    if (server.upgrade(request, { data })) return new Response(null);
    throw new BuckyError("E_USAGE", "the WebSocket upgrade failed");
  }
  try {
    const response = await door.fetch(path, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
      duplex: "half",
      // The gateway that gave up (its own clock for the app, or its client gone) lets the
      // app go too: a small answer read whole below would otherwise hold the app's
      // connection, and this call, for as long as the app sends less than it declared.
      signal: request.signal,
    } as RequestInit);
    // A small answer goes on with its length (answerReadWhole), as the gateway passes it on.
    return answerReadWhole(request.method, response)
      ? returnedResponse(response, await response.bytes())
      : returnedResponse(response);
  } catch (error) {
    // An app that hangs up (before it answers, or before all it declared) is the app's
    // failure, an ordinary one: not a fault of this node. The runtime's words ("The socket
    // connection was closed unexpectedly. For more information, pass `verbose: true`…")
    // are the cause, for the log, not the person.
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${app} did not answer: it closed the connection or is not listening`,
      "It may be starting or stopping: try again in a moment.",
      { cause: error },
    );
  }
}
