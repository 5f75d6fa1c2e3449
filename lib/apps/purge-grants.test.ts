/**
 * A purge grant's signature is checked once per text: a member writing thousands of
 * removals with grants would otherwise have every device verify each at every pass.
 */
import { afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import * as appPurge from "../../protocol/app-purge.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { openTestNode, testOwner, testZone } from "../state/test-db.ts";
import { PurgeGrants } from "./purge-grants.ts";

const device = deviceIdFromPublicKey(openTestNode(72).key.publicKey);

/** The owner's grant for the removal of `app` at `removedAt`. */
function grant(app: string, removedAt = "2026-11-29T12:00:00.000Z"): string {
  return appPurge.signPurgeGrant({ zone: testZone.id, app, device, removedAt }, testOwner).jws;
}

describe("the owner's purge grants", () => {
  let verified: ReturnType<typeof spyOn<typeof appPurge, "verifyPurgeGrant">>;
  beforeEach(() => {
    verified = spyOn(appPurge, "verifyPurgeGrant");
  });
  afterEach(() => verified.mockRestore());

  test("a grant checked once is known by its text: the second check verifies nothing", () => {
    const grants = new PurgeGrants(testZone.id);
    const notes = grant("notes");
    verified.mockClear();
    expect(grants.verified(notes)?.app).toBe("notes");
    expect(verified).toHaveBeenCalledTimes(1);
    expect(grants.verified(notes)?.app).toBe("notes");
    expect(verified).toHaveBeenCalledTimes(1);
  });

  test("a different text is verified, down to one character", () => {
    const grants = new PurgeGrants(testZone.id);
    const notes = grant("notes");
    const photos = grant("photos");
    verified.mockClear();
    grants.verified(notes);
    expect(grants.verified(photos)?.app).toBe("photos");
    expect(verified).toHaveBeenCalledTimes(2);
    // The signature's last character changed: another text, checked, and not the owner's.
    const flipped = `${notes.slice(0, -1)}${notes.endsWith("A") ? "B" : "A"}`;
    expect(grants.verified(flipped)).toBeUndefined();
    expect(verified).toHaveBeenCalledTimes(3);
  });

  test("a text that is no grant of the owner's is remembered as such: a member's made-up grants cost one check each", () => {
    const grants = new PurgeGrants(testZone.id);
    verified.mockClear();
    expect(grants.verified("not.a.grant")).toBeUndefined();
    expect(grants.verified("not.a.grant")).toBeUndefined();
    expect(verified).toHaveBeenCalledTimes(1);
  });

  test("keeps a bounded number of answers: past it, one is forgotten and checked again", () => {
    const grants = new PurgeGrants(testZone.id, 2);
    const [a, b, c] = [grant("a"), grant("b"), grant("c")];
    verified.mockClear();
    grants.verified(a);
    grants.verified(b);
    grants.verified(c);
    expect(verified).toHaveBeenCalledTimes(3);
    grants.verified(c);
    grants.verified(b);
    expect(verified).toHaveBeenCalledTimes(3);
    expect(grants.verified(a)?.app).toBe("a");
    expect(verified).toHaveBeenCalledTimes(4);
  });

  test("the one forgotten is the least lately asked: a grant asked at every pass stays known", () => {
    const grants = new PurgeGrants(testZone.id, 2);
    const [kept, b, c] = [grant("kept"), grant("b"), grant("c")];
    grants.verified(kept);
    grants.verified(b);
    verified.mockClear();
    grants.verified(kept);
    grants.verified(c);
    grants.verified(kept);
    expect(verified).toHaveBeenCalledTimes(1);
  });
});
