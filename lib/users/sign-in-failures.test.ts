/**
 * Wrong passwords are counted for the whole zone: what another gateway recorded counts at
 * this one, a record outlives its gateway's memory, and each gateway keeps its own records
 * small and forgets them once their guesses leave the window. (End to end, at two real
 * gateways with the first one killed: test/sign-in-zone.test.ts.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { UserName } from "../../protocol/accounts.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  testZone,
} from "../state/test-db.ts";
import { state } from "../store/schema.ts";
import {
  FAILURE_WINDOW_MS,
  FAILURES_PER_WINDOW,
  recordFailure,
  zoneFailureWaitMs,
} from "./sign-in-failures.ts";

afterAll(removeTestDatabases);

const otherKey = signingKeyFromSeed(seed(91));
const NOW_MS = Date.parse("2026-12-01T01:00:00.000Z");
const ann = "ann" as UserName;

/** Gateway a, in a zone with gateway b, which records what `bTimes` says it was given. */
function zone(bTimes: readonly number[] = []) {
  const a = openTestNode(90);
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
    foundingOps({ a: a.key, b: otherKey }),
    1000,
  );
  if (bTimes.length > 0)
    appendLocalChangeset(
      a.db,
      { zone: testZone.id, name: "b", key: otherKey, seal: a.seal },
      [{ key: "nodes/b/sign-in-failures/ann", value: JSON.stringify({ at: bTimes }) }],
      2000,
    );
  let nowMs = NOW_MS;
  const node = testNodeContext(a, "a", { now: () => nowMs });
  return { node, later: (ms: number) => (nowMs += ms) };
}

const failureRows = (node: ReturnType<typeof zone>["node"]) =>
  node.db
    .select({ key: state.key, value: state.value })
    .from(state)
    .all()
    .filter((row) => row.key.includes("/sign-in-failures/") && row.value !== null)
    .map((row) => [row.key, (JSON.parse(row.value as string) as { at: number[] }).at.length]);

describe("wrong passwords, zone-wide", () => {
  test("another gateway's count here: the bound is the zone's, not each gateway's", () => {
    const half = FAILURES_PER_WINDOW / 2;
    const { node, later } = zone(Array.from({ length: half }, (_, i) => NOW_MS - 60_000 + i));
    expect(zoneFailureWaitMs(node, ann)).toBe(0);
    for (let i = 0; i < half - 1; i++) recordFailure(node, ann);
    expect(zoneFailureWaitMs(node, ann)).toBe(0);
    recordFailure(node, ann);
    // The oldest of b's guesses leaves the window first: a minute ago, so four minutes on.
    expect(zoneFailureWaitMs(node, ann)).toBe(FAILURE_WINDOW_MS - 60_000);
    expect(zoneFailureWaitMs(node, "bob" as UserName)).toBe(0);
    later(FAILURE_WINDOW_MS - 60_000);
    expect(zoneFailureWaitMs(node, ann)).toBe(0);
  });

  test("a record keeps its last guesses only, and goes once they are all old", () => {
    const { node, later } = zone();
    for (let i = 0; i < FAILURES_PER_WINDOW + 5; i++) recordFailure(node, ann);
    recordFailure(node, "bob" as UserName);
    expect(failureRows(node)).toEqual([
      ["nodes/a/sign-in-failures/ann", FAILURES_PER_WINDOW],
      ["nodes/a/sign-in-failures/bob", 1],
    ]);
    later(FAILURE_WINDOW_MS);
    recordFailure(node, "bob" as UserName);
    expect(failureRows(node)).toEqual([["nodes/a/sign-in-failures/bob", 1]]);
  });

  test("guesses dated far ahead do not count; a little ahead, they count as now", () => {
    const ahead = Array.from({ length: FAILURES_PER_WINDOW }, () => NOW_MS + 3600_000);
    expect(zoneFailureWaitMs(zone(ahead).node, ann)).toBe(0);
    const near = Array.from({ length: FAILURES_PER_WINDOW }, () => NOW_MS + 30_000);
    expect(zoneFailureWaitMs(zone(near).node, ann)).toBe(FAILURE_WINDOW_MS);
  });
});
