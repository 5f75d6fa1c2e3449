import { describe, expect, test } from "bun:test";
import { createLog } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { Viewer } from "../users/access.ts";
import type { Checked } from "./checked-sessions.ts";
import { SessionConnections } from "./session-connections.ts";

const STANDS: Checked = {
  viewer: { user: "ann" } as unknown as Viewer,
  sessionId: "s",
  cookie: "c",
};
const EXPIRED: Checked = { problem: { code: "invalid", detail: "the session expired" } };

/** Connections held through sessions whose answers (by cookie) the test sets, rechecked every `recheckMs`. */
function held(recheckMs: number) {
  const answers = new Map<string, Checked>();
  const checks = new Map<string, number>();
  let changed: ((changesets: readonly { ops: readonly { key: string }[] }[]) => void) | undefined;
  const node = {
    onChange: (listener: typeof changed) => {
      changed = listener;
      return () => {};
    },
    onRebase: () => () => {},
  } as unknown as Pick<NodeContext, "onChange" | "onRebase">;
  const sessions = {
    check: async (header: string | null) => {
      const cookie = (header ?? "").split("=")[1] ?? "";
      checks.set(cookie, (checks.get(cookie) ?? 0) + 1);
      // A check that takes a while, so that two rechecks can overlap.
      await Bun.sleep(5);
      return answers.get(cookie) ?? STANDS;
    },
  };
  const lines: string[] = [];
  const log = createLog({ level: "info", write: (line) => lines.push(line) });
  const connections = new SessionConnections(node, sessions, log, recheckMs);
  return {
    connections,
    lines,
    checks: (cookie: string) => checks.get(cookie) ?? 0,
    set: (cookie: string, answer: Checked) => {
      answers.set(cookie, answer);
    },
    change: () => changed?.([]),
  };
}

describe("connections held by a session", () => {
  test("end once their session expires, with no change of the state to say so", async () => {
    const zone = held(20);
    const ended: string[] = [];
    let said: () => void = () => {};
    const endedOnce = new Promise<void>((resolve) => {
      said = resolve;
    });
    zone.connections.hold("c", (why) => {
      ended.push(why);
      said();
    });
    // Checked again and again while it stands, and kept.
    while (zone.checks("c") < 3) await Bun.sleep(10);
    expect(ended).toEqual([]);
    zone.set("c", EXPIRED);
    await endedOnce;
    expect(ended).toEqual(["your session does not work: the session expired"]);
    zone.connections.stop();
  });

  test("a change and the minute's recheck at once end a connection once", async () => {
    const zone = held(1);
    const ended: string[] = [];
    zone.connections.hold("gone", (why) => ended.push(why));
    // Another that stands keeps the rechecks going.
    zone.connections.hold("kept", () => ended.push("kept ended"));
    zone.set("gone", EXPIRED);
    zone.change();
    zone.change();
    while (zone.checks("kept") < 5) await Bun.sleep(5);
    expect(ended).toEqual(["your session does not work: the session expired"]);
    expect(zone.lines.filter((line) => line.includes("connections closed"))).toHaveLength(1);
    zone.connections.stop();
  });
});
