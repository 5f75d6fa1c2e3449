import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import type { VersionVector } from "../../protocol/sync-messages.ts";
import { SendingTurns } from "./sending-turns.ts";

const peer = "peer" as DeviceId;
const other = "other" as DeviceId;
const said = (seq: number): VersionVector => new Map([["author" as DeviceId, seq]]);

/** A sending that ends when told to, with what the peer then says it holds. */
function held(): {
  end: (have: VersionVector) => void;
  fail: () => void;
  ended: Promise<VersionVector>;
} {
  let end: (have: VersionVector) => void = () => {};
  let fail: () => void = () => {};
  const ended = new Promise<VersionVector>((resolve, reject) => {
    end = resolve;
    fail = () => reject(new Error("the peer did not answer"));
  });
  return { end, fail, ended };
}

describe("sending turns", () => {
  test("a second sending to a peer starts once the first ends, from what the peer said then", async () => {
    const turns = new SendingTurns();
    const first = held();
    const seen: (VersionVector | undefined)[] = [];
    const one = turns.take(peer, async (acked) => {
      seen.push(acked);
      return first.ended;
    });
    const two = turns.take(peer, async (acked) => {
      seen.push(acked);
      return acked ?? said(0);
    });
    // Another peer's sending does not wait.
    await turns.take(other, async () => said(1));
    expect(seen).toEqual([undefined]);
    expect(turns.underWay(peer)).toBe(true);
    expect(turns.underWay(other)).toBe(false);
    first.end(said(7));
    expect(await one).toEqual(said(7));
    expect(await two).toEqual(said(7));
    expect(seen).toEqual([undefined, said(7)]);
    expect(turns.underWay(peer)).toBe(false);
  });

  test("one that failed lets the next go, knowing nothing of what the peer holds", async () => {
    const turns = new SendingTurns();
    const first = held();
    const one = turns.take(peer, () => first.ended);
    const two = turns.take(peer, async (acked) => acked ?? said(0));
    first.fail();
    await expect(one).rejects.toThrow("the peer did not answer");
    expect(await two).toEqual(said(0));
  });

  test("what a peer holds is told as each sending to it ends, not when one fails", async () => {
    const told: [DeviceId, VersionVector][] = [];
    const turns = new SendingTurns((device, have) => told.push([device, have]));
    await turns.take(peer, async () => said(3));
    await expect(
      turns.take(other, async () => {
        throw new Error("the peer did not answer");
      }),
    ).rejects.toThrow();
    expect(told).toEqual([[peer, said(3)]]);
  });
});
