import { afterAll, describe, expect, test } from "bun:test";
import type { Op } from "../../protocol/changeset.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  testDeviceDocument,
  testZone,
} from "../state/test-db.ts";
import { loadMembership } from "../sync/membership.ts";
import { readNameClashes } from "./name-clashes.ts";

afterAll(removeTestDatabases);

const laptop1 = signingKeyFromSeed(seed(11));
const laptop2 = signingKeyFromSeed(seed(12));
const id = (key: typeof laptop1) => deviceIdFromPublicKey(key.publicKey);

/** Node "a" with `ops` written after the founding ones; the clashes it reads. */
function clashesAfter(ops: readonly Op[]) {
  const node = openTestNode(20);
  let ms = 1000;
  const write = (written: readonly Op[]) =>
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
      written,
      ms++,
    );
  write(foundingOps({ a: node.key }));
  write(ops);
  return readNameClashes(node.db, testZone.id, loadMembership(node.db, testZone.id));
}

const admitted = (admitter: string, key: typeof laptop1): Op => ({
  key: `nodes/${admitter}/admitted/${id(key)}`,
  value: testDeviceDocument(key, "laptop"),
});

describe("name clashes", () => {
  test("the admission whose document the name no longer holds is the one that lost", () => {
    expect(
      clashesAfter([
        admitted("a", laptop1),
        admitted("a", laptop2),
        { key: "devices/laptop/doc", value: testDeviceDocument(laptop2, "laptop") },
      ]),
    ).toEqual([
      {
        name: "laptop",
        id: id(laptop1),
        keptId: id(laptop2),
        admittedBy: "a",
        admittedAt: "1970-01-01T00:00:01.000Z",
      },
    ]);
  });

  test("an admission kept, or a record that is no owner-signed document of its id, is none", () => {
    expect(
      clashesAfter([
        admitted("a", laptop2),
        { key: `nodes/a/admitted/${id(laptop1)}`, value: testDeviceDocument(laptop2, "laptop") },
        { key: `nodes/a/admitted/${id(laptop1)}x`, value: JSON.stringify("not a jws") },
        { key: "devices/laptop/doc", value: testDeviceDocument(laptop2, "laptop") },
      ]),
    ).toEqual([]);
  });
});
