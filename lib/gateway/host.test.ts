/**
 * A gateway that cannot serve says since when, to the zone (its device's facts): the first
 * failure of the spell, not the last retry's, and nothing once it serves.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createLog } from "../log.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { foundingOps, openTestNode, removeTestDatabases } from "../state/test-db.ts";
import { gatewayKey } from "./config.ts";
import { GatewayHost } from "./host.ts";

afterAll(removeTestDatabases);

describe("a gateway that cannot listen", () => {
  test("is down since its first failure, through its retries, and not once it serves", () => {
    let nowMs = Date.parse("2026-12-03T10:00:00.000Z");
    const test = openTestNode(88);
    const node = testNodeContext(test, "a", { now: () => nowMs });
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const host = new GatewayHost(node, {
      liveWindowMs: 60_000,
      log: createLog({ level: "silent" }),
      panel: async () => new Response("panel"),
      mcp: async () => new Response("mcp"),
      certificates: () => [],
      challengeAnswer: () => undefined,
    });
    try {
      node.write([
        ...foundingOps({ a: test.key }),
        {
          key: gatewayKey("a"),
          value: JSON.stringify({ listen: `127.0.0.1:${taken.port}`, host: null, https: false }),
        },
      ]);
      host.apply();
      const first = host.down();
      expect(first?.message).toContain("in use");
      expect(first?.since).toBe("2026-12-03T10:00:00.000Z");
      // Its retries, a while later, fail alike: still down since the first.
      nowMs += 5_000;
      host.apply();
      nowMs += 5_000;
      host.apply();
      expect(host.down()).toEqual(first);
      taken.stop(true);
      host.apply();
      expect(host.down()).toBeUndefined();
    } finally {
      host.stop();
      taken.stop(true);
    }
  });
});
