import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { MAX_BACKOFF_MS, PeerBackoff } from "./peer-backoff.ts";

const peer = "dpeer" as DeviceId;
const refusing = { kind: "refusing", code: "E_PERMISSION", message: "no", sinceMs: 0 } as const;

/** The waits a backoff draws for `failures` failures in a row, with `random` for the jitter. */
function waits(random: () => number, failures: number): number[] {
  const backoff = new PeerBackoff(1000, random);
  const out: number[] = [];
  let nowMs = 0;
  for (let i = 0; i < failures; i++) {
    backoff.failed(peer, refusing, nowMs);
    let waitMs = 1;
    while (!backoff.due(peer, nowMs + waitMs, 0)) waitMs++;
    out.push(waitMs);
    nowMs += waitMs;
  }
  return out;
}

describe("the wait before asking a failing peer again", () => {
  test("doubles up to a minute, each drawn between half and the whole of it", () => {
    expect(waits(() => 0, 9)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(waits(() => 0.999999, 9)).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000,
    ]);
    expect(Math.max(...waits(Math.random, 12))).toBeLessThanOrEqual(MAX_BACKOFF_MS);
  });

  test("ends when it answers; a peer refusing for another cause than membership heard from still waits, one not answering does not", () => {
    const backoff = new PeerBackoff(1000, () => 0);
    backoff.failed(peer, { ...refusing, code: "E_USAGE" }, 0);
    expect(backoff.due(peer, 10, 5)).toBe(false);
    backoff.failed(peer, refusing, 0);
    expect(backoff.refusing().get(peer)?.code).toBe("E_PERMISSION");
    expect(backoff.answered(peer)?.kind).toBe("refusing");
    expect(backoff.due(peer, 10, 0)).toBe(true);
    backoff.failed(peer, { kind: "unreachable", message: "gone" }, 0);
    expect(backoff.due(peer, 10, 0)).toBe(false);
    expect(backoff.due(peer, 10, 5)).toBe(true);
    expect(backoff.refusing().size).toBe(0);
  });

  test("a peer that did not take this device for a member is asked again once it calls: it knows it now", () => {
    const backoff = new PeerBackoff(1000, () => 0);
    backoff.failed(peer, refusing, 100);
    expect(backoff.due(peer, 110, 100)).toBe(false);
    expect(backoff.due(peer, 110, 105)).toBe(true);
  });

  test("a peer failing on its side (a 5xx) heard from still waits, and is not said to refuse", () => {
    const backoff = new PeerBackoff(1000, () => 0);
    backoff.failed(peer, { kind: "failing", code: "E_IO", message: "disk full" }, 0);
    expect(backoff.due(peer, 10, 5)).toBe(false);
    expect(backoff.due(peer, 500, 0)).toBe(true);
    expect(backoff.refusing().size).toBe(0);
    expect(backoff.answered(peer)?.kind).toBe("failing");
  });
});
