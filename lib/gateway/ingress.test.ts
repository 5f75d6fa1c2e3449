import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { portDoor } from "../apps/door.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { IngressViewers } from "./app-user.ts";
import type { BridgeData } from "./forward.ts";
import { ingress } from "./ingress.ts";

/** Waits for `condition`, failing with `what` after `timeoutMs`. */
async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

let app: ReturnType<typeof Bun.serve> | undefined;
afterEach(() => app?.stop(true));

/** A node running `notes` behind `port`, and no one signed in. */
function nodeWith(port: number): NodeContext {
  return {
    ownReport: () => ({ state: "running" }),
    doors: { get: () => portDoor(port) },
  } as unknown as NodeContext;
}
const nobody = { viewer: async () => undefined } as unknown as IngressViewers;

describe("the ingress, for an app that does not send all it declared", () => {
  test("lets the app go when the gateway gives up on the request", async () => {
    let appLetGo = 0;
    app = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        request.signal.addEventListener("abort", () => appLetGo++);
        // Ten bytes declared (a small answer, read whole), two sent, and the rest never.
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode("ab"));
          },
        });
        return new Response(body, { headers: { "content-length": "10" } });
      },
    });
    const gateway = new AbortController();
    const request = new Request("https://device/v1/ingress/notes/", { signal: gateway.signal });
    const answered = ingress(
      nodeWith(app.port as number),
      "notes",
      "/",
      request,
      {} as Server<BridgeData>,
      nobody,
    ).catch((error: Error) => error);
    // The app has answered its head, and its connection waits for the rest.
    await until("the app to be asked", () => (app?.pendingRequests ?? 0) > 0);
    gateway.abort();
    // Not held until the app closes (it never does): its connection ends with the request.
    await until("the app's connection to be let go", () => appLetGo > 0);
    expect(await answered).toBeInstanceOf(Error);
  });
});
