/**
 * The local API's server: HTTP on the home's Unix socket, which the CLI (and the panel's
 * own requests) call. It keeps a request open as long as the CLI waits for its answer
 * (DAEMON_TIMEOUT_MS): some are answered only after the daemon has waited on its peers
 * (a device's revocation asks them for its head, up to 15 s, then waits up to 3 s for one
 * to hold it). Under Bun's default idle limit (10 s) the socket was closed under such a
 * request, the CLI said the daemon was not running, and the revocation went on regardless.
 */
import type { Server } from "bun";
import { DAEMON_TIMEOUT_MS } from "./daemon-client.ts";
import { MAX_LOCAL_BODY_BYTES } from "./request-body.ts";

/** How long a request may stay silent: as long as the CLI waits for its answer. */
export const LOCAL_IDLE_TIMEOUT_S = Math.ceil(DAEMON_TIMEOUT_MS / 1000);

export function serveLocal(
  socketPath: string,
  fetch: (request: Request) => Response | Promise<Response>,
): Server<undefined> {
  return Bun.serve({
    unix: socketPath,
    // Each route reads its body within its own bound (lib/node/request-body.ts).
    maxRequestBodySize: MAX_LOCAL_BODY_BYTES,
    // Bun's types give idleTimeout to TCP servers alone, but a Unix one keeps the limit too.
    ...({ idleTimeout: LOCAL_IDLE_TIMEOUT_S } as object),
    fetch,
  });
}
