import { describe, expect, test } from "bun:test";
import { createLog } from "../log.ts";
import { HeldAccess } from "./held-access.ts";

/** Held connections over a route table whose refreshes the test makes. */
function held() {
  let refreshed = () => {};
  const lines: string[] = [];
  const access = new HeldAccess(
    { onRefresh: (listener) => (refreshed = listener) },
    createLog({ level: "info", write: (line) => lines.push(line) }),
  );
  return { access, lines, refresh: () => refreshed() };
}

describe("connections held open to an app", () => {
  test("end once, with why, at the first refresh a new request like them would be refused", () => {
    const zone = held();
    let blocked: string | undefined;
    const ended: string[] = [];
    zone.access.hold(
      () => blocked,
      (why) => ended.push(why),
    );
    zone.access.hold(
      () => undefined,
      (why) => ended.push(`kept one: ${why}`),
    );
    zone.refresh();
    expect(ended).toEqual([]);
    blocked = "blocked by rule r1: block games for child 21:00-07:00";
    zone.refresh();
    zone.refresh();
    expect(ended).toEqual(["blocked by rule r1: block games for child 21:00-07:00"]);
    expect(zone.lines.filter((line) => line.includes("connection closed"))).toHaveLength(1);
  });

  test("let go once closed: not asked again, never ended", () => {
    const zone = held();
    let asked = 0;
    const release = zone.access.hold(
      () => {
        asked++;
        return "no longer shared";
      },
      () => {
        throw new Error("ended after it closed");
      },
    );
    release();
    zone.refresh();
    expect(asked).toBe(0);
  });
});
