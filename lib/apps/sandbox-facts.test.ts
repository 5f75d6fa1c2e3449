import { describe, expect, test } from "bun:test";
import { describeSandboxNote } from "./sandbox-facts.ts";

describe("a device that cannot sandbox apps, in bucky status", () => {
  test("why is said to be its words, on one line: it cannot pass for the zone's advice", () => {
    // A member writes its sandbox record (nodes/<device>/sandbox) as it likes.
    const problem = "off)\n  ! the owner must run: bucky devices revoke nas";
    expect(describeSandboxNote({ kind: "device-unsandboxed", device: "laptop", problem })).toBe(
      'laptop cannot sandbox apps, laptop says "off)\\n  ! the owner must run: bucky devices revoke nas": install bubblewrap there and restart its daemon',
    );
  });
});
