/**
 * A person removed on one device holding the owner key while another reset them (a new
 * link), neither hearing of the other first, stays removed in any order the two arrive:
 * the removal is written past the rev the reset takes, not at the same key, where the later
 * clock would have kept the reset and let the person back in.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { signAccount, type UserName, userKeys } from "../../protocol/accounts.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { ownerTestContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  testOwner,
  testZone,
} from "../state/test-db.ts";
import { removePerson } from "./accounts.ts";

afterAll(removeTestDatabases);

describe("a person removed and reset at once, on two devices", () => {
  for (const order of ["removal first", "reset first"] as const)
    test(`stays removed, ${order}`, () => {
      const node = openTestNode(91);
      const other = signingKeyFromSeed(seed(92));
      const context = ownerTestContext(node, "a");
      const write = (by: "a" | "b", rev: number, role: "member" | null, ms: number) =>
        appendLocalChangeset(
          node.db,
          { zone: testZone.id, name: by, key: by === "a" ? node.key : other, seal: node.seal },
          [
            {
              key: userKeys.account("ann", rev),
              value: JSON.stringify(
                signAccount(
                  {
                    zone: testZone.id,
                    user: "ann" as UserName,
                    rev,
                    role,
                    creds: rev,
                    issuedAt: ms,
                  },
                  testOwner,
                ),
              ),
            },
          ],
          ms,
        );
      appendLocalChangeset(
        node.db,
        { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
        foundingOps({ a: node.key, b: other }),
        1000,
      );
      write("a", 1, "member", 2000);
      // b's resets, twice, from the rev b saw (ann at #1), with the later clock.
      if (order === "reset first") write("b", 2, "member", 9_000_000);
      removePerson(context, "ann", { kind: "owner-key" });
      if (order === "removal first")
        for (const rev of [2, 3]) write("b", rev, "member", 9_000_000 + rev);
      expect(context.people().people.has("ann")).toBe(false);
      // Far past the reset's #2 either way: unheard of it, or after it.
      expect(context.people().revs.get("ann")).toBe(order === "removal first" ? 1002 : 1003);
    });
});
