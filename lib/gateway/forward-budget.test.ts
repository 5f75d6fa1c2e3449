import { describe, expect, test } from "bun:test";
import { ForwardBudget, forwardLimits, openFilesLimit } from "./forward-budget.ts";

describe("forward limits", () => {
  test("three quarters of the runtime's fetches, all but 64 of its default, within a quarter of the descriptors", () => {
    expect(forwardLimits({}, 20_000)).toEqual({ total: 192, perClient: 48, bodyBytes: 16 << 20 });
    expect(forwardLimits({ BUN_CONFIG_MAX_HTTP_REQUESTS: "4096" }, 20_000).total).toBe(3072);
    expect(forwardLimits({ BUN_CONFIG_MAX_HTTP_REQUESTS: "4096" }, 4_000).total).toBe(1000);
    expect(forwardLimits({ BUN_CONFIG_MAX_HTTP_REQUESTS: "4096" }, 4_000).perClient).toBe(250);
    // One address never takes more than 256, however large the budget.
    expect(forwardLimits({ BUN_CONFIG_MAX_HTTP_REQUESTS: "65535" }, 1 << 20).perClient).toBe(256);
    expect(forwardLimits({}, Number.POSITIVE_INFINITY).total).toBe(192);
  });

  test("a setting the runtime would not take is read as its default", () => {
    for (const set of ["0", "70000", "many", "1.5", ""])
      expect(forwardLimits({ BUN_CONFIG_MAX_HTTP_REQUESTS: set }, 20_000).total).toBe(192);
  });

  test("the soft limit on open files is read from the kernel's table of limits", () => {
    const limits = (soft: string) =>
      [
        "Limit                     Soft Limit           Hard Limit           Units     ",
        "Max processes             95952                95952                processes ",
        `Max open files            ${soft.padEnd(21)}524288               files     `,
      ].join("\n");
    expect(openFilesLimit(limits("20000"))).toBe(20_000);
    expect(openFilesLimit(limits("unlimited"))).toBe(Number.POSITIVE_INFINITY);
    expect(openFilesLimit(limits("lots"))).toBe(1024);
    expect(openFilesLimit(undefined)).toBe(1024);
  });
});

describe("the forward budget", () => {
  const limits = { total: 5, perClient: 2, bodyBytes: 100 };

  test("one address takes its share, and all of them the whole; each place comes back once", () => {
    const budget = new ForwardBudget(limits);
    const a1 = budget.take("10.0.0.1");
    const a2 = budget.take("10.0.0.1");
    expect(a1 && a2).toBeDefined();
    expect(budget.take("10.0.0.1")).toBeUndefined();
    const others = [budget.take("10.0.0.2"), budget.take("10.0.0.2"), budget.take("10.0.0.3")];
    expect(others.every(Boolean)).toBe(true);
    expect(budget.take("10.0.0.4")).toBeUndefined();
    expect(budget.held).toEqual({ forwards: 5, addresses: 3, bodyBytes: 0 });
    a1?.release();
    a1?.release();
    expect(budget.held.forwards).toBe(4);
    expect(budget.take("10.0.0.4")).toBeDefined();
    expect(budget.take("10.0.0.1")).toBeUndefined();
    a2?.release();
    expect(budget.take("10.0.0.1")).toBeDefined();
  });

  test("an IPv6 host is one address for its whole /64, however many of them it uses", () => {
    const budget = new ForwardBudget(limits);
    expect(budget.take("2001:db8:1:2::1")).toBeDefined();
    expect(budget.take("2001:db8:1:2::2")).toBeDefined();
    expect(budget.take("2001:db8:1:2:ffff::3")).toBeUndefined();
    expect(budget.take("2001:db8:1:3::1")).toBeDefined();
  });

  test("an address that gives back all it held is forgotten", () => {
    const budget = new ForwardBudget(limits);
    const held = [budget.take("10.0.0.1"), budget.take("10.0.0.2")];
    for (const one of held) one?.release();
    expect(budget.held).toEqual({ forwards: 0, addresses: 0, bodyBytes: 0 });
  });

  test("bodies held in memory stay within their bytes", () => {
    const budget = new ForwardBudget(limits);
    const first = budget.holdBody(60);
    expect(first).toBeDefined();
    expect(budget.holdBody(41)).toBeUndefined();
    const second = budget.holdBody(40);
    expect(budget.held.bodyBytes).toBe(100);
    first?.release();
    first?.release();
    second?.release();
    expect(budget.held.bodyBytes).toBe(0);
  });
});
