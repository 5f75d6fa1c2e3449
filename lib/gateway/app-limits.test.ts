/**
 * What a wrong limit is told: the panel's form shows the daemon's own error, so it names
 * the value and what it should be like, not a command's flag (it named --rps before).
 */
import { describe, expect, test } from "bun:test";
import { appKeys } from "../apps/spec.ts";
import { testManifest, testSpec } from "../apps/test-spec.ts";
import { BuckyError } from "../errors.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { HEARD_MS, heldNotesZone } from "../replica/test-held-app.ts";
import { appLimits, limitsRequest, setLimits } from "./app-limits.ts";
import { RouteTable } from "./table.ts";

function refusal(body: Record<string, unknown>): { message: string; hint?: string } {
  try {
    limitsRequest(body);
  } catch (error) {
    if (!(error instanceof BuckyError)) throw error;
    return { message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  }
  throw new Error("taken");
}

describe("an app's limits, asked wrong", () => {
  test("say what the value should be, in words a form and a command both fit", () => {
    expect(refusal({ rps: "ten" })).toEqual({
      message: "the request limit is a whole number of requests a second, none, or default",
    });
    expect(refusal({ bandwidth: 10 })).toEqual({
      message: "10 is not a bandwidth",
      hint: "A rate like 10MB/s, none, or default (the manifest's).",
    });
    expect(limitsRequest({ rps: 5, bandwidth: "1MB/s" })).toEqual({ rps: 5, bandwidth: "1MB/s" });
  });
});

describe("an app's limits, set over its manifest's", () => {
  /** A zone with the site app, whose manifest asks for 50 requests a second. */
  function zone() {
    const node = testNodeContext(heldNotesZone({ copyOnNas: true }), "nas", {
      now: () => HEARD_MS,
    });
    const manifest = testManifest("site", { limits: { rps: 50 } });
    node.write([
      { key: appKeys.spec("site"), value: JSON.stringify(testSpec("site", { manifest })) },
    ]);
    return node;
  }

  test("each named alone, the other kept: a limit set once stays until set again", () => {
    const node = zone();
    expect(appLimits(node.db, "site").limits).toEqual({ rps: 50 });
    expect(setLimits(node, "site", { bandwidth: "1MB/s" }).limits).toEqual({
      rps: 50,
      bandwidthBytesPerSecond: 1_000_000,
    });
    expect(setLimits(node, "site", { rps: 20 }).limits).toEqual({
      rps: 20,
      bandwidthBytesPerSecond: 1_000_000,
    });
  });

  test("none lifts the manifest's limit too; default gives it back", () => {
    const node = zone();
    const lifted = setLimits(node, "site", { rps: "none", bandwidth: "none" });
    expect(lifted).toEqual({
      app: "site",
      limits: {},
      manifest: { rps: 50 },
      set: { rps: null, bandwidthBytesPerSecond: null },
    });
    // What every gateway applies: nothing.
    const table = new RouteTable(node, 60_000);
    table.refresh();
    expect(table.app("site")?.limits).toEqual({});
    // The panel's empty field is null: no limit, as its hint says.
    expect(setLimits(node, "site", { rps: 7 }).limits).toEqual({ rps: 7 });
    expect(setLimits(node, "site", { rps: null }).limits).toEqual({});
    expect(setLimits(node, "site", { rps: "default", bandwidth: "default" })).toMatchObject({
      limits: { rps: 50 },
      set: {},
    });
  });
});
