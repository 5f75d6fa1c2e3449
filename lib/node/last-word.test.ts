/**
 * The last facts of a daemon that stops over an altered state: what it said of itself
 * before, and why it stops. Said anew without the rest, the zone would take it for a
 * device with no backup as well as a stopped one.
 */
import { describe, expect, test } from "bun:test";
import { decodeFacts, signFacts } from "../../protocol/device-facts.ts";
import type { StoppedFacts } from "../facts/payload.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, testZone } from "../state/test-db.ts";
import { heldFacts, keepFacts } from "../sync/facts.ts";
import { testNodeContext } from "./test-node-context.ts";

const stopped: StoppedFacts = {
  reason: "state-altered",
  message: "the zone state was altered: row apps/x does not match its seal",
  at: "2026-12-03T12:00:00.000Z",
};
const before = { disk: { freeBytes: 1024, totalBytes: 4096 }, ownerKey: true };

function stoppingNode(seed: number, nowMs: number) {
  const node = openTestNode(seed);
  appendLocalChangeset(
    node.db,
    { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
    foundingOps({ a: node.key }),
    1000,
  );
  return { node, context: testNodeContext(node, "a", { now: () => nowMs }) };
}

describe("the last facts of a device that stops", () => {
  test("stopped before it said anything this run: what it said before, kept here, and why", () => {
    const { node, context } = stoppingNode(90, 5000);
    keepFacts(node.db, signFacts(testZone.id, 2000, before, node.key), 2000);
    const last = decodeFacts(context.lastFacts(stopped).bytes);
    expect(last.facts).toEqual({ ...before, stopped });
    // After the one held: the peers take it for the newer.
    expect(last.at).toBe(5000);
  });

  test("after this run's facts: those, and why", () => {
    const { node, context } = stoppingNode(91, 5000);
    keepFacts(node.db, signFacts(testZone.id, 2000, before, node.key), 2000);
    context.publishFacts({ ownerKey: false });
    expect(decodeFacts(context.lastFacts(stopped).bytes).facts).toEqual({
      ownerKey: false,
      stopped,
    });
  });

  test("are its last: no facts said after them while it stops would say it runs", () => {
    const { node, context } = stoppingNode(92, 5000);
    const last = context.lastFacts(stopped);
    expect(context.publishFacts({ ownerKey: true })).toBe(false);
    expect(heldFacts(node.db).find((held) => held.at >= last.at)?.facts).toEqual({ stopped });
  });
});
