import { describe, expect, test } from "bun:test";
import type { DeviceFactsPayload } from "../facts/payload.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import type { Reader } from "./readers.ts";
import { describeWritesRefused, writesRefusedNotes } from "./refused-writes.ts";

const standing = (name: string, facts: DeviceFactsPayload = {}): DeviceStanding =>
  ({
    name,
    id: `d${name}`,
    standing: "member",
    live: true,
    heardAliveAt: 1,
    facts,
    factsAt: 1,
  }) as unknown as DeviceStanding;
const since = "2026-12-01T00:00:00.000Z";

describe("who refuses whose changes, as every device says it", () => {
  test("from the refusing device's facts, with the bucky each runs and which to upgrade", () => {
    const readers: Reader[] = [
      { name: "alpha", version: "0.2.0", level: 1 },
      { name: "beta", version: "0.1.0", level: 0 },
      { name: "gamma", version: null, level: 1 },
    ];
    const devices = [
      standing("alpha", { writesRefused: { gamma: { seq: 4, reason: "x is reserved", since } } }),
      standing("beta", {
        writesRefused: {
          alpha: { seq: 57, reason: "agent-grants/a/b is reserved", since },
          // A device no member: not said.
          ghost: { seq: 1, reason: "x", since },
          // Itself: not said.
          beta: { seq: 1, reason: "x", since },
        },
      }),
      standing("gamma"),
    ];
    const notes = writesRefusedNotes(devices, readers);
    expect(notes).toEqual([
      {
        device: "alpha",
        author: "gamma",
        fromSeq: 4,
        reason: "x is reserved",
        since,
        deviceVersion: "0.2.0",
        authorVersion: null,
        upgrade: null,
      },
      {
        device: "beta",
        author: "alpha",
        fromSeq: 57,
        reason: "agent-grants/a/b is reserved",
        since,
        deviceVersion: "0.1.0",
        authorVersion: "0.2.0",
        upgrade: "beta",
      },
    ]);
    expect(notes.map(describeWritesRefused)).toEqual([
      'alpha refuses gamma\'s changes from #4 ("x is reserved"), and every later change of gamma waits there; alpha runs bucky 0.2.0, gamma a bucky that has not said its version: update both to the same bucky (`bucky --version` on each)',
      'beta refuses alpha\'s changes from #57 ("agent-grants/a/b is reserved"), and every later change of alpha waits there; beta runs bucky 0.1.0, alpha bucky 0.2.0: upgrade beta',
    ]);
  });

  test("between devices of the same bucky, say no update takes it: the author broke the rules", () => {
    expect(
      describeWritesRefused({
        device: "beta",
        author: "gw",
        fromSeq: 9,
        reason: "users/ann/credentials/x holds a credential already: a credential is recorded once",
        since: "2026-12-01T00:00:00.000Z",
        deviceVersion: "0.3.0",
        authorVersion: "0.3.0",
        upgrade: null,
      }),
    ).toBe(
      "beta refuses gw's changes from #9 (\"users/ann/credentials/x holds a credential already: a credential is recorded once\"), and every later change of gw waits there; beta runs bucky 0.3.0, gw bucky 0.3.0: both run the same bucky, so no update takes it: gw wrote what the zone's rules refuse (a device taken over, or one whose home was altered); revoke it (`bucky devices revoke gw`) and join it again from a fresh home",
    );
  });
});
