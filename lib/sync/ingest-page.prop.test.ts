/**
 * A page applied in batches (ingestPage: each batch its own transaction, applied while the
 * next batch's signatures are checked) leaves a device's tables exactly as applying it in
 * one transaction does, whatever the batch size and the order of the page: devices
 * admitted, writing and revoked within it, changesets that wait for ones in later batches,
 * duplicates, equivocation, bad signatures and strangers. fast-check prints the seed of a
 * failure, and replays it from that.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { compareHlc, type Hlc } from "../../protocol/hlc.ts";
import { createLog } from "../log.ts";
import { openTestNode, type TestNode } from "../state/test-db.ts";
import { verifyNow } from "../state/verify.ts";
import { ingestEntries, ingestPage } from "./ingest.ts";
import { NOW_MS, page, zoneDoc } from "./test-history.ts";

const quiet = createLog({ level: "silent" });

/** Everything a merge writes, each table's rows in a fixed order. */
function tables(node: TestNode) {
  const all = (sql: string) => node.db.$client.query(sql).values();
  return {
    state: all("SELECT key, value, hlc_ms, hlc_counter, author, seq FROM state ORDER BY key"),
    changesets: all("SELECT author, seq, hex(hash) FROM changesets ORDER BY author, seq"),
    quarantine: all("SELECT device_id, seq FROM quarantine ORDER BY device_id, seq"),
  };
}

const context = (node: TestNode) => ({
  zone: zoneDoc.id,
  nowMs: NOW_MS,
  log: quiet,
  source: "peer",
  seal: node.seal,
});

describe("ingestPage", () => {
  test("a page applied in batches leaves the tables as one transaction does", async () => {
    let batched = 0;
    await fc.assert(
      fc.asyncProperty(page, fc.integer({ min: 1, max: 8 }), async (entries, size) => {
        const whole = openTestNode(30);
        const inBatches = openTestNode(30);
        const one = ingestEntries(whole.db, entries, context(whole));
        let batches = 0;
        const many = await ingestPage(inBatches.db, entries, context(inBatches), {
          batchChangesets: size,
          batchApplied: () => batches++,
        });
        if (batches > 1) batched++;
        expect(tables(inBatches)).toEqual(tables(whole));
        // The device's own clock has seen as much (each batch is an event of its own: it
        // may have ticked once more for each).
        const clock = (node: TestNode) =>
          node.db.$client
            .query("SELECT hlc_ms AS ms, hlc_counter AS counter FROM node")
            .get() as Hlc;
        expect(compareHlc(clock(inBatches), clock(whole))).toBeGreaterThanOrEqual(0);
        // As many wait for what the page lacks, and the seal was kept write by write. (What
        // was applied may differ: a revoked device's late changesets are applied and then
        // dropped when they come before the revocation, refused when they come after.)
        expect(many.deferred).toBe(one.deferred);
        // And what both hold verifies: every changeset a member's, the state what they give
        // (a cut that set aside a device's admission set aside its changesets too).
        for (const node of [inBatches, whole])
          expect(verifyNow(node.db.$client, node.seal, zoneDoc.id).problems).toEqual([]);
        whole.db.$client.close();
        inBatches.db.$client.close();
      }),
      { numRuns: 100 },
    );
    // Many pages were split: the property is about batches, not one transaction twice.
    expect(batched).toBeGreaterThan(40);
  }, 120_000);
});
