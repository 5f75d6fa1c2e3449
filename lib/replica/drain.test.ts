/** Whether an app held elsewhere keeps a copy once a device is drained. */
import { describe, expect, test } from "bun:test";
import { STANDBY_LAG_LIMIT_MS } from "../zone/reliability.ts";
import type { AppDataStatus } from "./data-status.ts";
import { caughtUpElsewhere } from "./drain.ts";

const withStandbys = (...standbys: [string, number | null][]) => ({
  data: {
    standbys: standbys.map(([device, lagMs]) => ({ device, lagMs })),
  } as unknown as AppDataStatus,
});

describe("an app held on another device, while one is drained", () => {
  test("a standby behind by less than status's limit is a copy: an app writing all the time holds no drain up", () => {
    expect(caughtUpElsewhere(withStandbys(["tv", 0]), "laptop")).toBe(true);
    expect(caughtUpElsewhere(withStandbys(["tv", 4_000]), "laptop")).toBe(true);
    expect(caughtUpElsewhere(withStandbys(["tv", STANDBY_LAG_LIMIT_MS]), "laptop")).toBe(true);
  });

  test("one further behind, with no copy yet, or the device drained is none", () => {
    expect(caughtUpElsewhere(withStandbys(["tv", STANDBY_LAG_LIMIT_MS + 1]), "laptop")).toBe(false);
    expect(caughtUpElsewhere(withStandbys(["tv", null]), "laptop")).toBe(false);
    expect(caughtUpElsewhere(withStandbys(["laptop", 0]), "laptop")).toBe(false);
    expect(caughtUpElsewhere(withStandbys(["laptop", 0], ["tv", 1_000]), "laptop")).toBe(true);
  });

  test("with no device for a standby, there is nothing to wait for", () => {
    expect(caughtUpElsewhere(withStandbys(), "laptop")).toBe(true);
    expect(caughtUpElsewhere({ data: null }, "laptop")).toBe(true);
  });
});
