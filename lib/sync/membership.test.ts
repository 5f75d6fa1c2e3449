import { describe, expect, test } from "bun:test";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, testDeviceDocument, testZone } from "../state/test-db.ts";
import { DEVICE_ROWS_SQL, deviceRows, loadMembership } from "./membership.ts";

describe("membership", () => {
  test("is read from the devices/ keys through the key's index, not a scan of the state", () => {
    const node = openTestNode(20);
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
      [
        { key: "boot/config", value: JSON.stringify(testZone.jws) },
        { key: "devices/a/doc", value: testDeviceDocument(node.key, "a") },
        // A key just past the range, one that differs only in case, and another.
        { key: "devices0", value: "1" },
        { key: "Devices/b/doc", value: "1" },
        { key: "apps/x", value: "1" },
      ],
      1000,
    );
    expect(deviceRows(node.db).map((row) => row.key)).toEqual(["devices/a/doc"]);
    expect([...loadMembership(node.db, testZone.id).byName.keys()]).toEqual(["a"]);
    const plan = node.db.$client
      .prepare<{ detail: string }, [string, string]>(`EXPLAIN QUERY PLAN ${DEVICE_ROWS_SQL}`)
      .all("devices/", "devices/\x7f")
      .map((step) => step.detail);
    expect(plan).toEqual([
      expect.stringMatching(/^SEARCH state USING PRIMARY KEY \(key>\? AND key<\?\)/),
    ]);
  });
});
