import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { PeerHoldings } from "./peer-holdings.ts";

const self = "self" as DeviceId;
const other = "other" as DeviceId;
const holds = (entries: [DeviceId, number][]) => new Map(entries);

describe("peer holdings", () => {
  test("a write is held elsewhere once a peer says it holds its seq or a later one", async () => {
    const holdings = new PeerHoldings();
    const seven = holdings.heldElsewhere({ author: self, seq: 7 }, 5_000);
    const nine = holdings.heldElsewhere({ author: self, seq: 9 }, 5_000);
    let sevenHeld: boolean | undefined;
    void seven.then((held) => {
      sevenHeld = held;
    });
    // Another author's seq, or an earlier one of this device's, holds nothing of it.
    holdings.said(holds([[other, 50]]));
    holdings.said(holds([[self, 6]]));
    await Promise.resolve();
    expect(sevenHeld).toBeUndefined();
    holdings.said(holds([[self, 8]]));
    expect(await seven).toBe(true);
    holdings.said(holds([[self, 12]]));
    expect(await nine).toBe(true);
  });

  test("no peer saying so within the bound: not held", async () => {
    const holdings = new PeerHoldings();
    const startedMs = Date.now();
    expect(await holdings.heldElsewhere({ author: self, seq: 1 }, 50)).toBe(false);
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(45);
    // Said afterwards, it tells no one (the wait is gone).
    holdings.said(holds([[self, 1]]));
  });

  test("a write a peer said it holds already is held at once", async () => {
    const holdings = new PeerHoldings();
    holdings.said(holds([[self, 4]]));
    holdings.said(holds([[self, 2]]));
    const startedMs = Date.now();
    expect(await holdings.heldElsewhere({ author: self, seq: 4 }, 5_000)).toBe(true);
    expect(Date.now() - startedMs).toBeLessThan(1_000);
    expect(await holdings.heldElsewhere({ author: self, seq: 5 }, 50)).toBe(false);
  });
});
