/**
 * What this device says of its disk: what an app left is said for what it is.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { PurgeGrants } from "../apps/owner-grants.ts";
import { appKeys } from "../apps/spec.ts";
import { testSpec } from "../apps/test-spec.ts";
import { homePaths } from "../home.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, seed, testZone } from "../state/test-db.ts";
import { usageFacts } from "./publisher.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-publisher-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("a device's usage facts", () => {
  test("say the data a member's unauthorised purge left as kept, which only the owner may delete, not as removed without --purge", () => {
    const node = openTestNode(80);
    const laptop = signingKeyFromSeed(seed(81));
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
      foundingOps({ a: node.key, laptop }),
      1000,
    );
    // The laptop (a member, no owner key) removes notes "with --purge": no grant.
    const removal = testSpec("notes", { desired: "removed", purge: true });
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "laptop", key: laptop, seal: node.seal },
      [{ key: appKeys.spec("notes"), value: JSON.stringify(removal) }],
      2000,
    );
    const paths = homePaths(join(scratch, "home"));
    mkdirSync(join(paths.appsDir, "notes", "data"), { recursive: true });
    writeFileSync(join(paths.appsDir, "notes", "data", "notes.db"), "x".repeat(5000));
    const usage = usageFacts(
      {
        zone: { paths },
        db: node.db,
        purgeGrants: new PurgeGrants(testZone.id),
        deviceName: "a",
      },
      0,
    );
    expect(usage.leftovers.map(({ what, remove }) => ({ what, remove }))).toEqual([
      {
        what: "the data of notes, kept: it was removed with a --purge the owner did not authorise",
        remove:
          "only the owner may delete it: `bucky app remove notes --purge` on the device holding the owner key",
      },
    ]);
  });
});
