import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { PeerHoldings } from "./peer-holdings.ts";

const self = "self" as DeviceId;
const other = "other" as DeviceId;
const peer = "peer" as DeviceId;
const liar = "liar" as DeviceId;
const holds = (entries: [DeviceId, number][]) => new Map(entries);

/** Holdings of a device that has written `head` changesets, whose members are `members`. */
function holdingsOf(head: { seq: number }, members = new Set([peer, liar])) {
  return new PeerHoldings(self, {
    ownHead: () => head.seq,
    counts: (device) => members.has(device),
  });
}

describe("peer holdings", () => {
  test("a write is held elsewhere once a peer says it holds its seq or a later one", async () => {
    const head = { seq: 9 };
    const holdings = holdingsOf(head);
    const seven = holdings.heldElsewhere(7, 5_000);
    const nine = holdings.heldElsewhere(9, 5_000);
    let sevenHeld: boolean | undefined;
    void seven.then((held) => {
      sevenHeld = held;
    });
    // Another author's seq, or an earlier one of this device's, holds nothing of it.
    holdings.said(peer, holds([[other, 50]]));
    holdings.said(peer, holds([[self, 6]]));
    await Promise.resolve();
    expect(sevenHeld).toBeUndefined();
    holdings.said(peer, holds([[self, 8]]));
    expect(await seven).toBe(true);
    head.seq = 12;
    holdings.said(peer, holds([[self, 12]]));
    expect(await nine).toBe(true);
  });

  test("no peer saying so within the bound: not held", async () => {
    const holdings = holdingsOf({ seq: 1 });
    const startedMs = Date.now();
    expect(await holdings.heldElsewhere(1, 50)).toBe(false);
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(45);
    // Said afterwards, it tells no one (the wait is gone).
    holdings.said(peer, holds([[self, 1]]));
  });

  test("a write a peer said it holds already is held at once", async () => {
    const holdings = holdingsOf({ seq: 5 });
    holdings.said(peer, holds([[self, 4]]));
    holdings.said(peer, holds([[self, 2]]));
    const startedMs = Date.now();
    expect(await holdings.heldElsewhere(4, 5_000)).toBe(true);
    expect(Date.now() - startedMs).toBeLessThan(1_000);
    expect(await holdings.heldElsewhere(5, 50)).toBe(false);
  });

  test("asked at once (--no-wait), a write is held only if a member said so already", () => {
    const members = new Set([peer, liar]);
    const holdings = holdingsOf({ seq: 5 }, members);
    expect(holdings.holds(5)).toBe(false);
    holdings.said(peer, holds([[self, 5]]));
    expect([holdings.holds(5), holdings.holds(5, peer), holdings.holds(5, liar)]).toEqual([
      true,
      true,
      false,
    ]);
    // A peer whose word no longer counts (revoked since) holds nothing of it.
    members.delete(peer);
    expect(holdings.holds(5)).toBe(false);
  });

  test("a peer's claim to hold more than this device had written holds none of its later writes", async () => {
    const head = { seq: 4 };
    const holdings = holdingsOf(head);
    holdings.said(liar, holds([[self, 1_000_000]]));
    expect(await holdings.heldElsewhere(4, 5_000)).toBe(true);
    head.seq = 5;
    expect(await holdings.heldElsewhere(5, 50)).toBe(false);
  });

  test("the word of a device that is no longer a member holds nothing", async () => {
    const members = new Set([peer, liar]);
    const head = { seq: 3 };
    const holdings = holdingsOf(head, members);
    holdings.said(liar, holds([[self, 3]]));
    // Revoked: what it said, and says while this device waits, counts for nothing.
    members.delete(liar);
    const waiting = holdings.heldElsewhere(3, 5_000);
    holdings.said(liar, holds([[self, 3]]));
    let held: boolean | undefined;
    void waiting.then((yes) => {
      held = yes;
    });
    await Promise.resolve();
    expect(held).toBeUndefined();
    // A member's word does.
    holdings.said(peer, holds([[self, 3]]));
    expect(await waiting).toBe(true);
  });

  test("a wait for one peer's word is not ended by another's", async () => {
    const holdings = holdingsOf({ seq: 2 });
    holdings.said(peer, holds([[self, 2]]));
    const waiting = holdings.heldElsewhere(2, 5_000, liar);
    let held: boolean | undefined;
    void waiting.then((yes) => {
      held = yes;
    });
    holdings.said(peer, holds([[self, 2]]));
    await Promise.resolve();
    expect(held).toBeUndefined();
    holdings.said(liar, holds([[self, 2]]));
    expect(await waiting).toBe(true);
  });
});
