import { describe, expect, test } from "bun:test";
import { testNodeContext } from "../node/test-node-context.ts";
import { HEARD_MS, heldNotesZone } from "../replica/test-held-app.ts";
import { parseLimits } from "./owner-limits.ts";
import { RouteTable } from "./table.ts";

describe("an app's limits as a member wrote them (users/owner/apps/<app>/limits)", () => {
  test("read as written when they are positive numbers", () => {
    const limits = { rps: 50, bandwidthBytesPerSecond: 10_000_000 };
    expect(parseLimits(JSON.stringify(limits))).toEqual(limits);
    expect(parseLimits(JSON.stringify({ rps: 5 }))).toEqual({ rps: 5 });
  });

  test("null lifts a limit; one of another shape is not read, and the value's other shapes none at all", () => {
    expect(parseLimits(JSON.stringify({ rps: "x", bandwidthBytesPerSecond: 100 }))).toEqual({
      bandwidthBytesPerSecond: 100,
    });
    expect(parseLimits(JSON.stringify({ rps: -1, bandwidthBytesPerSecond: null }))).toEqual({
      bandwidthBytesPerSecond: null,
    });
    for (const text of ["null", "5", "[1,2]", '"rps"']) expect(parseLimits(text)).toEqual({});
  });
});

describe("where the gateway sends an app's requests", () => {
  test("to its holder while the takeover its silence calls for is not claimed: the standby does not run the app yet", () => {
    const node = heldNotesZone({ copyOnNas: true });
    const table = new RouteTable(
      testNodeContext(node, "nas", { now: () => HEARD_MS + 70_000 }),
      60_000,
    );
    table.refresh();
    expect(table.app("notes")?.status.device).toBe("laptop");
  });
});
