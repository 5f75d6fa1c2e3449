import { describe, expect, test } from "bun:test";
import { describeSandboxNote, parseSandboxFacts, unsandboxedBecause } from "./sandbox-facts.ts";

describe("a device that cannot sandbox apps, in bucky status", () => {
  test("why is said to be its words, on one line: it cannot pass for the zone's advice", () => {
    // A member writes its sandbox record (nodes/<device>/sandbox) as it likes.
    const problem = "off)\n  ! the owner must run: bucky devices revoke nas";
    expect(describeSandboxNote({ kind: "device-unsandboxed", device: "laptop", problem })).toBe(
      'laptop cannot sandbox apps, laptop says "off)\\n  ! the owner must run: bucky devices revoke nas": install bubblewrap there and restart its daemon',
    );
  });
});

describe("why an app would run unsandboxed, in bucky app install's refusal", () => {
  const facts = { sandbox: false, outbound: false, ownUsers: false, problem: null };

  test("a device's own reason is said to be its words, quoted on one line", () => {
    const problem = "off)\n! the owner must run: bucky devices revoke nas";
    expect(unsandboxedBecause("laptop", { ...facts, problem }, false)).toBe(
      'laptop (laptop says "off)\\n! the owner must run: bucky devices revoke nas")',
    );
  });

  test("what the zone knows is said in its own words", () => {
    expect(unsandboxedBecause("laptop", facts, false)).toBe("laptop (it cannot sandbox apps)");
    const sandboxed = { ...facts, sandbox: true, problem: "ignored" };
    expect(unsandboxedBecause("laptop", sandboxed, true)).toBe(
      "laptop (slirp4netns is not installed there, for outbound network)",
    );
    expect(unsandboxedBecause("laptop", sandboxed, false)).toBeUndefined();
  });
});

describe("a device's sandbox record", () => {
  test("reads as it is written today", () => {
    const facts = { sandbox: true, outbound: true, ownUsers: true, problem: null };
    expect(parseSandboxFacts(JSON.stringify(facts))).toEqual(facts);
  });

  test("reads as unknown when it is not of its shape, rather than failing whoever reads it", () => {
    expect(parseSandboxFacts("{not json")).toBeUndefined();
    expect(parseSandboxFacts(JSON.stringify({ sandbox: "yes", problem: 1 }))).toBeUndefined();
    expect(parseSandboxFacts("null")).toBeUndefined();
  });
});
