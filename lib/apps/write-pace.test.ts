import { describe, expect, test } from "bun:test";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { WRITE_PACE, WritePace } from "./write-pace.ts";

const KIB = 1024;

function paceAt(clock: { now: number }) {
  const lines: string[] = [];
  const log = createLog({ level: "debug", write: (line) => lines.push(line) });
  return { pace: new WritePace("notes", () => clock.now, log), lines };
}

/** What `take` did: "ok", or the refusal's code, wait and message. */
function attempt(pace: WritePace, bytes: number) {
  try {
    pace.take(bytes);
    return "ok";
  } catch (error) {
    if (!(error instanceof BuckyError)) throw error;
    return { code: error.code, retryAfterS: error.retryAfterS, message: error.message };
  }
}

describe("an app's write pace", () => {
  test("lets a burst of 1 MiB through, then refuses with the bound and the wait", () => {
    const clock = { now: 0 };
    const { pace } = paceAt(clock);
    // Sixteen of the largest values (64 KiB) fill the burst.
    for (let i = 0; i < 16; i++) expect(attempt(pace, 64 * KIB)).toBe("ok");
    expect(attempt(pace, 64 * KIB)).toEqual({
      code: "E_RATE_LIMITED",
      retryAfterS: 32,
      message:
        "notes writes too much too fast: at most 2.0 KiB a second of zone state (bursts up to 1.0 MiB), since every device of the zone keeps each byte",
    });
  });

  test("then lets bytes through at the sustained rate, no faster", () => {
    const clock = { now: 0 };
    const { pace } = paceAt(clock);
    expect(attempt(pace, WRITE_PACE.burstBytes)).toBe("ok");
    clock.now = 1000;
    expect(attempt(pace, 2 * KIB + 1)).toMatchObject({ code: "E_RATE_LIMITED", retryAfterS: 1 });
    expect(attempt(pace, 2 * KIB)).toBe("ok");
    expect(attempt(pace, 1)).toMatchObject({ code: "E_RATE_LIMITED" });
    // A minute of quiet is a minute's bytes, and no more than the burst however long.
    clock.now = 61_000;
    expect(attempt(pace, 120 * KIB)).toBe("ok");
    clock.now = 10_000_000;
    expect(attempt(pace, WRITE_PACE.burstBytes + 1)).toMatchObject({ code: "E_RATE_LIMITED" });
  });

  test("paces by count too: small changes, a burst of 100 then 10 a second", () => {
    const clock = { now: 0 };
    const { pace } = paceAt(clock);
    for (let i = 0; i < 100; i++) expect(attempt(pace, 10)).toBe("ok");
    expect(attempt(pace, 10)).toEqual({
      code: "E_RATE_LIMITED",
      retryAfterS: 1,
      message:
        "notes writes too fast: at most 10 changes a second (each is kept by every device of the zone)",
    });
    clock.now = 100;
    expect(attempt(pace, 10)).toBe("ok");
  });

  test("a refused change takes nothing from either bound", () => {
    const clock = { now: 0 };
    const { pace } = paceAt(clock);
    expect(attempt(pace, WRITE_PACE.burstBytes - 10)).toBe("ok");
    // Over by bytes, again and again: the count is not spent on them.
    for (let i = 0; i < 500; i++) expect(attempt(pace, 100)).not.toBe("ok");
    for (let i = 0; i < 98; i++) expect(attempt(pace, 0)).toBe("ok");
    expect(attempt(pace, 10)).toBe("ok");
    expect(attempt(pace, 0)).toMatchObject({
      message: expect.stringContaining("10 changes a second"),
    });
  });

  test("says a run of refusals in the log once, and how many when writes go through again", () => {
    const clock = { now: 0 };
    const { pace, lines } = paceAt(clock);
    expect(attempt(pace, WRITE_PACE.burstBytes)).toBe("ok");
    for (let i = 0; i < 50; i++) attempt(pace, 64 * KIB);
    clock.now = 40_000;
    expect(attempt(pace, 64 * KIB)).toBe("ok");
    for (let i = 0; i < 5; i++) attempt(pace, 64 * KIB);
    expect(lines.map((line) => line.replace(/^.*?(app writes)/, "$1").trim())).toEqual([
      "app writes paced app=notes over=bytes retryAfterS=32",
      "app writes resumed app=notes refused=50",
      "app writes paced app=notes over=bytes retryAfterS=24",
    ]);
  });
});
