/**
 * Revoking an invitation, from any device: the revocation lasts as long as the invitation
 * could, whatever a record of the same id says (any member writes records of its own, and
 * one with a near end would have the revocation go before the invitation does), and past
 * its end by its issuer's clock, whatever the revoker's says.
 */
import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, seed, testZone } from "../state/test-db.ts";
import { stateValue } from "../store/reads.ts";
import {
  inviteRecordKey,
  inviteRecordValue,
  inviteRevocationKey,
  revocationExpiresAt,
} from "./invite-records.ts";
import { MAX_INVITE_TTL_MS, revokeInvite } from "./invites.ts";

const ID = Buffer.alloc(16, 7).toString("base64url");

describe("revoking the zone's invitation", () => {
  test("lasts as long as the invitation could, though a member wrote a record of its id ending soon", () => {
    const nas = openTestNode(90);
    const laptop = signingKeyFromSeed(seed(91));
    const tablet = signingKeyFromSeed(seed(92));
    const now = Date.now();
    appendLocalChangeset(
      nas.db,
      { zone: testZone.id, name: "nas", key: nas.key, seal: nas.seal },
      foundingOps({ nas: nas.key, laptop, tablet }),
      now - 3000,
    );
    // laptop's invitation, a week long; tablet's record of the same id, newer, ending soon.
    const record = (createdAt: number, expiresAt: number) =>
      inviteRecordValue({ createdAt, expiresAt, usesLeft: 1, givesBackupKey: false });
    appendLocalChangeset(
      nas.db,
      { zone: testZone.id, name: "laptop", key: laptop, seal: nas.seal },
      [{ key: inviteRecordKey("laptop", ID), value: record(now - 2000, now + 7 * 86_400_000) }],
      now - 2000,
    );
    appendLocalChangeset(
      nas.db,
      { zone: testZone.id, name: "tablet", key: tablet, seal: nas.seal },
      [{ key: inviteRecordKey("tablet", ID), value: record(now - 1000, now + 60_000) }],
      now - 1000,
    );
    const node = testNodeContext(nas, "nas");
    revokeInvite(node, ID);
    const lasts = revocationExpiresAt(stateValue(nas.db, inviteRevocationKey("nas", ID)) ?? null);
    expect(lasts).toBeGreaterThanOrEqual(now + MAX_INVITE_TTL_MS);
  });

  test("lasts past the invitation's end by its issuer's clock, the revoker's a day behind", () => {
    const nas = openTestNode(93);
    const laptop = signingKeyFromSeed(seed(94));
    const now = Date.now();
    appendLocalChangeset(
      nas.db,
      { zone: testZone.id, name: "nas", key: nas.key, seal: nas.seal },
      foundingOps({ nas: nas.key, laptop }),
      now - 3000,
    );
    // laptop's invitation, thirty days long by its clock.
    const endsAt = now + MAX_INVITE_TTL_MS;
    appendLocalChangeset(
      nas.db,
      { zone: testZone.id, name: "laptop", key: laptop, seal: nas.seal },
      [
        {
          key: inviteRecordKey("laptop", ID),
          value: inviteRecordValue({
            createdAt: now,
            expiresAt: endsAt,
            usesLeft: 1,
            givesBackupKey: false,
          }),
        },
      ],
      now - 2000,
    );
    // nas revokes it with its clock a day behind: its own "thirty days on" came a day early,
    // and the invitation admitted again for that day.
    const behind = testNodeContext(nas, "nas", { now: () => Date.now() - 86_400_000 });
    revokeInvite(behind, ID);
    const lasts = revocationExpiresAt(stateValue(nas.db, inviteRevocationKey("nas", ID)) ?? null);
    expect(lasts).toBeGreaterThan(endsAt);
    // Never past what an invitation can last from its making: a record saying an end past
    // any safe number had the revocation read as ending at 0, and go at once.
    expect(lasts).toBeLessThanOrEqual(now + MAX_INVITE_TTL_MS + 86_400_000);
  });
});
