import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { RefusedWrites } from "./refused-writes.ts";

const alpha = "dalpha" as DeviceId;
const gamma = "dgamma" as DeviceId;

describe("the members whose changesets this device refuses by a write rule", () => {
  test("one entry per author, where it stopped and the newest reason, said once per change", () => {
    const refused = new RefusedWrites();
    let changes = 0;
    refused.onChange(() => changes++);
    refused.refusedAt(alpha, 57, "agent-grants/a/b is reserved", 1000);
    // The same changeset again at the next exchange: nothing new to say.
    refused.refusedAt(alpha, 57, "agent-grants/a/b is reserved", 2000);
    refused.refusedAt(gamma, 3, "x is reserved", 2000);
    refused.refusedAt(alpha, 57, "agent-grants/a/c is reserved", 3000);
    expect(Object.fromEntries(refused.current())).toEqual({
      [alpha]: { seq: 57, reason: "agent-grants/a/c is reserved", sinceMs: 1000 },
      [gamma]: { seq: 3, reason: "x is reserved", sinceMs: 2000 },
    });
    expect(changes).toBe(3);
  });

  test("taking the changeset it stopped at (or a later one) ends it; an earlier one does not", () => {
    const refused = new RefusedWrites();
    refused.refusedAt(alpha, 57, "agent-grants/a/b is reserved", 1000);
    refused.taken(alpha, 56);
    expect(refused.current().has(alpha)).toBe(true);
    refused.taken(alpha, 57);
    expect(refused.current().size).toBe(0);
  });
});
