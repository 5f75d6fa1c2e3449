/**
 * A purge grant's signature is checked once per app and text: a member writing thousands of
 * removals with grants would otherwise have every device verify each at every pass.
 */
import { afterAll, afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import * as appPurge from "../../protocol/app-purge.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  testOwner,
  testZone,
} from "../state/test-db.ts";
import { PurgeGrants } from "./owner-grants.ts";
import { purgeGranted } from "./purge.ts";
import { appKeys } from "./spec.ts";
import { testSpec } from "./test-spec.ts";

afterAll(removeTestDatabases);

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

  test("a grant checked once is known by its app and text: the second check verifies nothing", () => {
    const grants = new PurgeGrants(testZone.id);
    const notes = grant("notes");
    verified.mockClear();
    expect(grants.verified("notes", notes)?.app).toBe("notes");
    expect(verified).toHaveBeenCalledTimes(1);
    expect(grants.verified("notes", notes)?.app).toBe("notes");
    expect(verified).toHaveBeenCalledTimes(1);
  });

  test("a different text is verified, down to one character, for the same app too", () => {
    const grants = new PurgeGrants(testZone.id);
    const notes = grant("notes");
    const photos = grant("photos");
    verified.mockClear();
    grants.verified("notes", notes);
    expect(grants.verified("photos", photos)?.app).toBe("photos");
    expect(verified).toHaveBeenCalledTimes(2);
    // The signature's last character changed: another text, checked, and not the owner's.
    const flipped = `${notes.slice(0, -1)}${notes.endsWith("A") ? "B" : "A"}`;
    expect(grants.verified("notes", flipped)).toBeUndefined();
    expect(verified).toHaveBeenCalledTimes(3);
    // Asked of notes again with its first text: checked again (one answer is kept per app).
    expect(grants.verified("notes", notes)?.app).toBe("notes");
    expect(verified).toHaveBeenCalledTimes(4);
  });

  test("a text that is no grant of the owner's is remembered as such: a member's made-up grants cost one check each", () => {
    const grants = new PurgeGrants(testZone.id);
    verified.mockClear();
    expect(grants.verified("notes", "not.a.grant")).toBeUndefined();
    expect(grants.verified("notes", "not.a.grant")).toBeUndefined();
    expect(verified).toHaveBeenCalledTimes(1);
  });

  test("an app not asked of between two sweeps is forgotten, and checked again if asked; one asked is kept", () => {
    // A sweep after 2 × answers held + 2 questions.
    const grants = new PurgeGrants(testZone.id, 2);
    const [kept, gone] = [grant("kept"), grant("gone")];
    grants.verified("kept", kept);
    grants.verified("gone", gone);
    verified.mockClear();
    // Only kept is asked of, past two sweeps: gone is forgotten, kept never checked again.
    for (let i = 0; i < 20; i++) grants.verified("kept", kept);
    expect(verified).toHaveBeenCalledTimes(0);
    expect(grants.verified("gone", gone)?.app).toBe("gone");
    expect(verified).toHaveBeenCalledTimes(1);
  });
});

describe("a member's removals past the 1,024 grants a node remembered", () => {
  let verified: ReturnType<typeof spyOn<typeof appPurge, "verifyPurgeGrant">>;
  beforeEach(() => {
    verified = spyOn(appPurge, "verifyPurgeGrant");
  });
  afterEach(() => verified.mockRestore());

  test("each asked at every pass is checked once, not at every pass; a new grant for one, once more", () => {
    const a = openTestNode(73);
    const laptop = signingKeyFromSeed(seed(74));
    appendLocalChangeset(
      a.db,
      { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
      foundingOps({ a: a.key, laptop }),
      1000,
    );
    // Made-up grants (a member writes specs as it likes): each a text to check.
    const specs = Array.from({ length: 1124 }, (_, i) =>
      testSpec(`app-${i}`, { desired: "removed", purge: true, purgeGrant: `made.up.${i}` }),
    );
    appendLocalChangeset(
      a.db,
      { zone: testZone.id, name: "laptop", key: laptop, seal: a.seal },
      specs.map((spec) => ({ key: appKeys.spec(spec.app), value: JSON.stringify(spec) })),
      2000,
    );
    const grants = new PurgeGrants(testZone.id);
    const pass = () => specs.filter((spec) => purgeGranted(a.db, grants, spec)).length;
    expect(pass()).toBe(0);
    expect(verified).toHaveBeenCalledTimes(specs.length);
    verified.mockClear();
    for (let i = 0; i < 3; i++) expect(pass()).toBe(0);
    expect(verified).toHaveBeenCalledTimes(0);
    // The spec of app-0 now carries another grant: that one is checked, and only once.
    specs[0] = { ...(specs[0] as (typeof specs)[number]), purgeGrant: "made.up.again" };
    pass();
    pass();
    expect(verified).toHaveBeenCalledTimes(1);
  });
});
