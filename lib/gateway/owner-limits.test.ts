/**
 * An app's two limits, set at once on two devices, both stand: each is kept under a key of
 * its own (owner-limits.ts), where the one record of both kept only the later whole write.
 * Device a sets its limit through the real command; device b's write is the one its command
 * made from what it had seen (no limit set). One database holds both, its clock moving on
 * with each write: the one written last is the later.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { Op } from "../../protocol/changeset.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { appKeys } from "../apps/spec.ts";
import { testManifest, testSpec } from "../apps/test-spec.ts";
import { ownerTestContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  testZone,
} from "../state/test-db.ts";
import { appLimits, setLimits } from "./app-limits.ts";
import { limitKey, ownerLimitsOps, readOwnerLimits } from "./owner-limits.ts";

afterAll(removeTestDatabases);

let seeds = 160;
/** The site app, whose manifest asks for 50 requests a second, in a zone of a and b. */
function zoneOfTwo() {
  const node = openTestNode(++seeds);
  const b = signingKeyFromSeed(seed(++seeds + 100));
  const a = ownerTestContext(node, "a");
  const writeAs = (name: "a" | "b", ops: readonly Op[]) =>
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name, key: name === "a" ? node.key : b, seal: node.seal },
      ops,
      Date.now(),
    );
  const manifest = testManifest("site", { limits: { rps: 50 } });
  const spec = testSpec("site", { manifest });
  writeAs("a", [
    ...foundingOps({ a: node.key, b }),
    { key: appKeys.spec("site"), value: JSON.stringify(spec) },
  ]);
  return { node, a, writeAs };
}

/** The record of both limits as a bucky from before the keys of each writes it. */
const olderRecord = (limits: object): Op => ({
  key: appKeys.limits("site"),
  value: JSON.stringify(limits),
});

describe("two limits set at once on two devices", () => {
  test("a rate on a, then a bandwidth on b made from what b saw before: both stand", () => {
    const { node, a, writeAs } = zoneOfTwo();
    setLimits(a, "site", { rps: 20 });
    writeAs(
      "b",
      ownerLimitsOps(node.db, "site", { bandwidthBytesPerSecond: 1_000_000 }, [
        "bandwidthBytesPerSecond",
      ]),
    );
    expect(appLimits(node.db, "site").limits).toEqual({
      rps: 20,
      bandwidthBytesPerSecond: 1_000_000,
    });
  });

  test("a rate set back to the manifest's on b, after a lifted it: the manifest's", () => {
    const { node, a, writeAs } = zoneOfTwo();
    setLimits(a, "site", { rps: "none", bandwidth: "2MB/s" });
    writeAs("b", ownerLimitsOps(node.db, "site", {}, ["rps"]));
    expect(appLimits(node.db, "site").limits).toEqual({
      rps: 50,
      bandwidthBytesPerSecond: 2_000_000,
    });
  });
});

describe("an older bucky's record of both", () => {
  test("written after a's limits, it says them all", () => {
    const { node, a, writeAs } = zoneOfTwo();
    setLimits(a, "site", { rps: 20, bandwidth: "1MB/s" });
    // Its `bucky app limit --bandwidth default`, over what it read (the rate of a).
    writeAs("b", [olderRecord({ rps: 20 })]);
    expect(readOwnerLimits(node.db, "site")).toEqual({ rps: 20 });
    // A limit set after it stands over it; the other stays as it said.
    setLimits(a, "site", { rps: 30 });
    expect(readOwnerLimits(node.db, "site")).toEqual({ rps: 30 });
  });

  test("its purge, deleting the record alone: no limit comes back with the next one set", () => {
    const { node, a, writeAs } = zoneOfTwo();
    setLimits(a, "site", { rps: 20, bandwidth: "1MB/s" });
    writeAs("b", [{ key: appKeys.limits("site"), value: null }]);
    expect(readOwnerLimits(node.db, "site")).toEqual({});
    setLimits(a, "site", { rps: 30 });
    expect(readOwnerLimits(node.db, "site")).toEqual({ rps: 30 });
  });

  test("one alone, with no key of either limit, is read as it says", () => {
    const { node, writeAs } = zoneOfTwo();
    writeAs("b", [olderRecord({ rps: 9, bandwidthBytesPerSecond: null })]);
    expect(appLimits(node.db, "site").limits).toEqual({ rps: 9 });
  });
});

describe("limits a member wrote not of their shape", () => {
  test("are not read: the manifest's stands", () => {
    const { node, writeAs } = zoneOfTwo();
    writeAs("b", [
      { key: limitKey("site", "rps"), value: JSON.stringify({ rps: "x" }) },
      { key: limitKey("site", "bandwidthBytesPerSecond"), value: "[1]" },
      olderRecord({ rps: -1 }),
    ]);
    expect(appLimits(node.db, "site").limits).toEqual({ rps: 50 });
  });
});
