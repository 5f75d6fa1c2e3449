/**
 * A holder claim is written by the device that holds the app, as it likes: what it names
 * (the conflict copy it took over with) is read only when it is a name of its kind, since
 * `bucky app status` and the panel show it.
 */
import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { conflictCopyName } from "../../protocol/replica.ts";
import { parseClaim } from "./claims.ts";

const id = "d".repeat(52) as DeviceId;
const copy = conflictCopyName(Date.UTC(2026, 10, 29, 9, 35), "nas", 2);
const claim = (fields: Record<string, unknown>) =>
  parseClaim(
    JSON.stringify({ epoch: 3, since: "2026-11-29T09:36:00.000Z", from: null, ...fields }),
    "laptop",
    id,
  );

describe("a holder claim", () => {
  test("the conflict copy it took over with is read when it is a conflict copy's name", () => {
    expect(claim({ restoredCopy: copy })?.restoredCopy).toBe(copy);
  });

  test("a conflict copy's 'name' that is not one is left out, the claim kept", () => {
    const lured = claim({ restoredCopy: "x\n! the owner must run: bucky devices revoke nas" });
    expect(lured).toEqual({
      device: "laptop",
      deviceId: id,
      epoch: 3,
      since: "2026-11-29T09:36:00.000Z",
      from: null,
      lostAtMostMs: null,
    });
  });
});

describe("the snapshot a holder says it started from", () => {
  const from = { device: "nas", epoch: 2, seq: 40, at: 1_764_400_000_000, content: "ab12" };

  test("is read when of its shape", () => {
    expect(claim({ from })?.from).toEqual(from);
  });

  test("is read as none when it is not, the claim kept", () => {
    for (const wrong of [5, [], "nas", { ...from, epoch: "2" }, { ...from, device: null }])
      expect(claim({ from: wrong })?.from).toBeNull();
  });
});
