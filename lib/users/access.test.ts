import { describe, expect, test } from "bun:test";
import { type AppReach, personMayUseApp } from "./access.ts";

const REMOVED_MS = Date.parse("2026-12-01T01:00:00.000Z");
const lee = { name: "lee", role: "member" as const };
const leeAgain = { ...lee, removedAtMs: REMOVED_MS };
const shared = (sharedAtMs: number | null, names = ["lee"]): AppReach => ({
  exposure: "zone",
  shared: names,
  sharedAtMs,
});

describe("a share names a person, not just a name", () => {
  test("a person never removed is what the share says", () => {
    expect(personMayUseApp(lee, shared(null))).toBe(true);
    expect(personMayUseApp(lee, shared(null, ["ann"]))).toBe(false);
  });

  test("one added under the name of someone removed counts only by a share set after it", () => {
    expect(
      [
        shared(null),
        shared(REMOVED_MS - 60_000),
        // A removal is dated to its second: a share within it may be from before.
        shared(REMOVED_MS + 999),
        shared(REMOVED_MS + 1000),
      ].map((reach) => personMayUseApp(leeAgain, reach)),
    ).toEqual([false, false, false, true]);
  });

  test("a share that says which removals it was made after counts by them, not by its time", () => {
    // lee removed at rev 3 (and added again since).
    const removed = { ...leeAgain, removedRev: 3 };
    const after = (pastRemovals: Record<string, number>, sharedAtMs: number): AppReach => ({
      ...shared(sharedAtMs),
      sharedPastRemovals: pastRemovals,
    });
    expect(
      [
        // Made knowing of the removal, by a device whose clock is a minute behind.
        after({ lee: 3 }, REMOVED_MS - 60_000),
        // Made beside a removal it had not heard of (a partition), dated a minute later.
        after({ lee: 0 }, REMOVED_MS + 60_000),
        // Made before a second removal, at rev 5.
        after({ lee: 3 }, REMOVED_MS + 60_000),
      ].map((reach, index) =>
        personMayUseApp(index === 2 ? { ...removed, removedRev: 5 } : removed, reach),
      ),
    ).toEqual([true, false, false]);
    // Never removed: as the share says.
    expect(personMayUseApp(lee, after({ lee: 0 }, REMOVED_MS))).toBe(true);
  });

  test("a person named as an object's own members is only what the share says of them", () => {
    const named = {
      name: "constructor",
      role: "member" as const,
      removedAtMs: REMOVED_MS,
      removedRev: 1,
    };
    const reach: AppReach = {
      ...shared(REMOVED_MS + 60_000, ["constructor"]),
      sharedPastRemovals: {},
    };
    // No entry of its own: by its time, after the removal.
    expect(personMayUseApp(named, reach)).toBe(true);
  });

  test("a role named in a share, and everyone, count whoever they are", () => {
    expect(personMayUseApp(leeAgain, shared(REMOVED_MS - 60_000, ["member"]))).toBe(true);
    expect(personMayUseApp(leeAgain, { exposure: "zone", shared: null })).toBe(true);
  });
});
