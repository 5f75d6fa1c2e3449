import { describe, expect, spyOn, test } from "bun:test";
import * as documents from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { zoneIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, seed, testDeviceDocument, testOwner, testZone } from "../state/test-db.ts";
import { DEVICE_ROWS_SQL, deviceRows, loadMembership, membershipFromRows } from "./membership.ts";

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

  describe("with documents verified already (as a checked opening gives them)", () => {
    const deviceKey = signingKeyFromSeed(seed(20));
    const doc = documents.signDeviceDocument(
      { name: "a" as DeviceName, devicePublicKey: deviceKey.publicKey, issuedAt: 1 },
      testOwner,
    );
    const row = { key: "devices/a/doc", value: JSON.stringify(doc.jws) };
    const none = new Map<string, number>();

    test("the same text for the same zone is not verified a second time", () => {
      const verify = spyOn(documents, "verifyDeviceDocument");
      try {
        const membership = membershipFromRows([row], testZone.id, none, new Map(), [doc]);
        expect(membership.byName.get("a")?.id).toBe(doc.id);
        expect(verify).not.toHaveBeenCalled();
        membershipFromRows([row], testZone.id, none, new Map());
        expect(verify).toHaveBeenCalledTimes(1);
      } finally {
        verify.mockRestore();
      }
    });

    test("a row they do not hold is verified, and refused when it does not verify", () => {
      const altered = `${doc.jws.slice(0, -2)}${doc.jws.endsWith("AA") ? "BA" : "AA"}`;
      expect(() =>
        membershipFromRows(
          [{ key: "devices/a/doc", value: JSON.stringify(altered) }],
          testZone.id,
          none,
          new Map(),
          [doc],
        ),
      ).toThrow(/signature/);
    });

    test("a document verified for another zone vouches for nothing in this one", () => {
      const other = zoneIdFromPublicKey(signingKeyFromSeed(seed(2)).publicKey);
      expect(() => membershipFromRows([row], other, none, new Map(), [doc])).toThrow(
        /another zone/,
      );
    });
  });
});
