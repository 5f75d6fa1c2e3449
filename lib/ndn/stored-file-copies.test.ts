/**
 * How much work a device does for the zone's stored files it cannot fetch, on a real state
 * database, from records another member signed: a member's thousands of small records for
 * objects no device holds must not have it fetch each of them at every change, every minute
 * and at every peer's return, forever.
 */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import type { Op } from "../../protocol/changeset.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { PUBLIC_PREFIX } from "../gateway/public-budget.ts";
import { keepPublicCopies } from "../gateway/public-copies.ts";
import { createLog } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { Peer } from "../node/peers.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, testDeviceDocument, testZone } from "../state/test-db.ts";
import { type KeptCopies, keepCopies } from "./keep-copies.ts";
import { keepStoredFileCopies } from "./stored-file-copies.ts";
import { FILES_PREFIX } from "./stored-files.ts";

const idOf = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}` as ObjectId;
/** Where the records are kept: the stored files' (the public files' share the same copying). */
let prefix = FILES_PREFIX;
const record = (n: number) => ({
  key: `${prefix}${idOf(n)}`,
  value: JSON.stringify({ size: 10, at: "2026-12-01T00:00:00.000Z", name: `f${n}` }),
});

let kept: KeptCopies | undefined;
let copies: KeptCopies | undefined;

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await Bun.sleep(5);
  }
}
afterEach(() => {
  prefix = FILES_PREFIX;
  kept?.stop();
  copies?.stop();
});

/**
 * Device b of a zone of a and b, its clock at `clock.ms` and its fetch attempts counted,
 * keeping the zone's stored files; member a has written `records` records by hand, in one
 * changeset b took. `write` has a write more and b take it.
 */
async function deviceWithRecords(
  records: number,
  keep: (node: NodeContext) => KeptCopies = keepStoredFileCopies,
) {
  const clock = { ms: 1_000_000 };
  const lines: string[] = [];
  const a = openTestNode(72);
  const b = openTestNode(70);
  const node = testNodeContext(b, "b", {
    now: () => clock.ms,
    log: createLog({ level: "info", write: (line) => lines.push(line) }),
  });
  const write = async (ops: Op[]) => {
    const entry = appendLocalChangeset(
      a.db,
      { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
      ops,
      clock.ms,
    );
    expect((await node.ingest([entry.bytes], "a")).applied).toHaveLength(1);
  };
  await write([
    { key: "boot/config", value: JSON.stringify(testZone.jws) },
    { key: "devices/a/doc", value: testDeviceDocument(a.key, "a") },
    { key: "devices/b/doc", value: testDeviceDocument(b.key, "b") },
  ]);
  await write(Array.from({ length: records }, (_, n) => record(n)));
  // Each fetch attempt asks which peers to fetch from, once.
  const attempts = spyOn(node, "peers");
  kept = keep(node);
  await waitUntil(() => attempts.mock.calls.length >= records, 10_000);
  return { clock, lines, node, attempts, write };
}

/**
 * The fetch attempts of the round that a's record of file `n` starts on b. It sorts last
 * and is new, so the round is over once the log says it failed.
 */
async function roundAfter(
  { lines, attempts, write }: Awaited<ReturnType<typeof deviceWithRecords>>,
  n: number,
): Promise<number> {
  const before = attempts.mock.calls.length;
  await write([record(n)]);
  await waitUntil(
    () => lines.some((line) => line.includes(`not copied yet id=${idOf(n)}`)),
    10_000,
  );
  return attempts.mock.calls.length - before;
}

describe("files the zone keeps that no device holds", () => {
  test("stored: are tried again less often while they fail, not all at every change", async () => {
    const device = await deviceWithRecords(2000);
    const { clock, lines, attempts } = device;
    expect(attempts.mock.calls.length).toBe(2000);
    // A new record a moment later: it alone is fetched, not the 2,000 again.
    expect(await roundAfter(device, 10_000)).toBe(1);
    // A minute on, each is due once more; then only after two more minutes.
    clock.ms += 61_000;
    expect(await roundAfter(device, 10_001)).toBe(2002);
    clock.ms += 61_000;
    expect(await roundAfter(device, 10_002)).toBe(2);
    clock.ms += 61_000;
    expect(await roundAfter(device, 10_003)).toBe(2003);
    // The log named 20 of the first 2,000 and said the rest in one line.
    const warned = lines.filter((line) => line.includes("not copied yet"));
    expect(warned.length).toBeLessThan(30);
    expect(warned.some((line) => line.includes("stored files not copied yet"))).toBe(true);
  });

  test("said held by a peer: are tried at once as that peer answers again", async () => {
    const clock = { ms: 1_000_000 };
    const lines: string[] = [];
    const node = testNodeContext(openTestNode(71), "b", {
      now: () => clock.ms,
      log: createLog({ level: "warn", write: (line) => lines.push(line) }),
    });
    const attempts = spyOn(node, "peers");
    const ids = Array.from({ length: 50 }, (_, n) => idOf(n));
    copies = keepCopies(node, {
      what: "test object",
      prefix: "test/",
      ids: () => ids,
      // c says it holds the eighth.
      holders: () => new Map([[idOf(7), new Set(["c"])]]),
    });
    await waitUntil(() => lines.length >= 21, 10_000);
    expect(attempts.mock.calls.length).toBe(50);
    // c answers again: what it says it holds is tried again, and nothing else yet.
    node.peerAnswering({ name: "c" } as Peer);
    await waitUntil(() => attempts.mock.calls.length >= 51, 10_000);
    expect(attempts.mock.calls.length).toBe(51);
    // d, which says it holds none, answering again is no reason to try any.
    node.peerAnswering({ name: "d" } as Peer);
    clock.ms += 61_000;
    node.peerAnswering({ name: "d" } as Peer);
    // A minute on, the 49 others are due (the eighth, failed twice, waits two minutes).
    await waitUntil(() => attempts.mock.calls.length >= 100, 10_000);
    expect(attempts.mock.calls.length).toBe(100);
  });

  test("public: are tried again as seldom by a gateway", async () => {
    prefix = PUBLIC_PREFIX;
    const device = await deviceWithRecords(2000, keepPublicCopies);
    expect(device.attempts.mock.calls.length).toBe(2000);
    expect(await roundAfter(device, 10_000)).toBe(1);
    device.clock.ms += 61_000;
    expect(await roundAfter(device, 10_001)).toBe(2002);
    device.clock.ms += 61_000;
    expect(await roundAfter(device, 10_002)).toBe(2);
  });
});
