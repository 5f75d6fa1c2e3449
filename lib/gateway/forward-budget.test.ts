import { describe, expect, test } from "bun:test";
import { ForwardBudget, forwardLimits } from "./forward-budget.ts";

describe("forward limits", () => {
  test("the runtime's fetches less the daemon's part, within a quarter of the descriptors", () => {
    expect(forwardLimits({}, 20_000)).toEqual({ total: 192, perClient: 48, bodyBytes: 16 << 20 });
    expect(forwardLimits({ BUN_CONFIG_MAX_HTTP_REQUESTS: "4096" }, 20_000).total).toBe(4032);
    expect(forwardLimits({ BUN_CONFIG_MAX_HTTP_REQUESTS: "4096" }, 4_000).total).toBe(1000);
    expect(forwardLimits({ BUN_CONFIG_MAX_HTTP_REQUESTS: "4096" }, 4_000).perClient).toBe(250);
    // One address never takes more than 256, however large the budget.
    expect(forwardLimits({ BUN_CONFIG_MAX_HTTP_REQUESTS: "65535" }, 1 << 20).perClient).toBe(256);
  });

  test("a setting the runtime would not take is read as its default", () => {
    for (const set of ["0", "70000", "many", "1.5", ""])
      expect(forwardLimits({ BUN_CONFIG_MAX_HTTP_REQUESTS: set }, 20_000).total).toBe(192);
  });

  test("this process's own limit on descriptors is read", () => {
    // The runtime raised the soft limit to the hard one; either way it is some hundreds.
    expect(forwardLimits({}).total).toBeGreaterThan(0);
    expect(forwardLimits({}).total).toBeLessThanOrEqual(192);
  });
});

describe("the forward budget", () => {
  const limits = { total: 5, perClient: 2, bodyBytes: 100 };

  test("one address takes its share, and all of them the whole; each place comes back once", () => {
    const budget = new ForwardBudget(limits);
    const a1 = budget.take("a");
    const a2 = budget.take("a");
    expect(a1 && a2).toBeDefined();
    expect(budget.take("a")).toBeUndefined();
    const others = [budget.take("b"), budget.take("b"), budget.take("c")];
    expect(others.every(Boolean)).toBe(true);
    expect(budget.take("d")).toBeUndefined();
    expect(budget.held).toEqual({ requests: 5, clients: 3, bodyBytes: 0 });
    a1?.release();
    a1?.release();
    expect(budget.held.requests).toBe(4);
    expect(budget.take("d")).toBeDefined();
    expect(budget.take("a")).toBeUndefined();
    a2?.release();
    expect(budget.take("a")).toBeDefined();
  });

  test("an address that gives back all it held is forgotten", () => {
    const budget = new ForwardBudget(limits);
    const slots = [budget.take("a"), budget.take("b")];
    for (const slot of slots) slot?.release();
    expect(budget.held).toEqual({ requests: 0, clients: 0, bodyBytes: 0 });
  });

  test("bodies held in memory stay within their bytes", () => {
    const budget = new ForwardBudget(limits);
    const first = budget.holdBody(60);
    expect(first).toBeDefined();
    expect(budget.holdBody(41)).toBeUndefined();
    const second = budget.holdBody(40);
    expect(budget.held.bodyBytes).toBe(100);
    first?.();
    first?.();
    second?.();
    expect(budget.held.bodyBytes).toBe(0);
  });
});
