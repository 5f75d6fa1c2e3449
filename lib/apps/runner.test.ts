/** The health check of an app, against answers an app may give. */
import { describe, expect, test } from "bun:test";
import type { AppDoor } from "./door.ts";
import { probe } from "./runner.ts";

/**
 * A door whose app answers `status` with a body as good as endless (it ends at 64 MiB, so
 * that a check that reads it all fails without taking the machine's memory); what was
 * pulled of it.
 */
function endlessApp(status: number) {
  let pulledBytes = 0;
  let cancelled = false;
  const door: AppDoor = {
    url: "unix:/nowhere",
    websocketUrl: () => "ws+unix:///nowhere",
    socketAddress: () => ({ unix: "/nowhere" }),
    refused() {},
    close() {},
    fetch: async () =>
      new Response(
        new ReadableStream({
          pull(controller) {
            if (pulledBytes >= 64 * 1024 * 1024) return controller.close();
            pulledBytes += 1024 * 1024;
            controller.enqueue(new Uint8Array(1024 * 1024));
          },
          cancel() {
            cancelled = true;
          },
        }),
        { status },
      ),
  };
  return { door, pulled: () => pulledBytes, cancelled: () => cancelled };
}

describe("an app's health check", () => {
  test("takes the status alone: a body without end is let go, not read until the time runs out", async () => {
    for (const [status, problem] of [
      [200, undefined],
      [503, "HTTP 503"],
    ] as const) {
      const app = endlessApp(status);
      expect({
        problem: await probe(app.door, "/health", 2000),
        readOn: app.pulled() > 16 * 1024 * 1024,
        cancelled: app.cancelled(),
      }).toEqual({ problem, readOn: false, cancelled: true });
    }
  });
});
