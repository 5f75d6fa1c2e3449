import { afterAll, describe, expect, test } from "bun:test";
import type { UserName } from "../../protocol/accounts.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import {
  MAX_SESSION_AHEAD_S,
  MAX_SESSION_S,
  SESSION_CLOCK_SKEW_S,
  type SessionClaims,
} from "../../protocol/user-session.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  testZone,
} from "../state/test-db.ts";
import { state } from "../store/schema.ts";
import { mayEndSessions, newClaims } from "./sessions.ts";
import {
  deviceSessionId,
  forgetExpiredSignOuts,
  isSignedOut,
  personSessionId,
  recordSignOut,
  recordSignOutEverywhere,
  signedOutEverywhereUntil,
} from "./signouts.ts";

afterAll(removeTestDatabases);

const laptopKey = signingKeyFromSeed(seed(81));
const NOW_MS = Date.parse("2026-11-29T14:00:00.000Z");

/** A zone of gateway a and laptop, another gateway that took a sign-out of its own. */
function zone() {
  const a = openTestNode(80);
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
    foundingOps({ a: a.key, laptop: laptopKey }),
    1000,
  );
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "laptop", key: laptopKey, seal: a.seal },
    [{ key: "nodes/laptop/signed-out/l1", value: JSON.stringify({ expiresAt: 1 }) }],
    2000,
  );
  let nowMs = NOW_MS;
  const node = testNodeContext(a, "a", { now: () => nowMs });
  // Dated as the laptop's clock would date them: about now.
  let at = NOW_MS;
  /** Writes `value` at `key` as the laptop, a member device. */
  const byLaptop = (key: string, value: string) =>
    appendLocalChangeset(
      a.db,
      { zone: testZone.id, name: "laptop", key: laptopKey, seal: a.seal },
      [{ key, value }],
      ++at,
    );
  return { node, later: (ms: number) => (nowMs += ms), byLaptop };
}

const signedOutKeys = (node: ReturnType<typeof zone>["node"]) =>
  node.db
    .select({ key: state.key, value: state.value })
    .from(state)
    .all()
    .filter((row) => row.key.includes("/signed-out/") && row.value !== null)
    .map((row) => row.key)
    .sort();

describe("a sign-out", () => {
  test("counts on every gateway while its session lasts, then only its gateway forgets it", () => {
    const { node, later } = zone();
    const nowS = Math.floor(NOW_MS / 1000);
    recordSignOut(node, "s1", nowS + 60);
    recordSignOut(node, "s2", nowS + 3600);
    const signedOut = (id: string) => isSignedOut(node.db, node.membership(), id);
    expect(["s1", "s2", "l1", "s3"].map(signedOut)).toEqual([true, true, true, false]);
    const week = 7 * 86_400_000;
    later(61_000);
    forgetExpiredSignOuts(node);
    // Expired, but kept a week: a clock run ahead would otherwise delete a record of a
    // session still good.
    expect(signedOutKeys(node)).toEqual([
      "nodes/a/signed-out/s1",
      "nodes/a/signed-out/s2",
      "nodes/laptop/signed-out/l1",
    ]);
    later(week);
    forgetExpiredSignOuts(node);
    // a's record expired a week ago is gone; the laptop's (expired too) is the laptop's to delete.
    expect(signedOutKeys(node)).toEqual(["nodes/a/signed-out/s2", "nodes/laptop/signed-out/l1"]);
    later(3600_000);
    recordSignOut(node, "s4", Math.floor((NOW_MS + 3661_000 + week) / 1000) + 60);
    expect(signedOutKeys(node)).toEqual(["nodes/a/signed-out/s4", "nodes/laptop/signed-out/l1"]);
  });
});

describe("a sign-out everywhere", () => {
  test("ends a person's sessions until then at every gateway, and goes once they have all expired", () => {
    const { node, later } = zone();
    const until = () => signedOutEverywhereUntil(node.db, node.membership(), "ann");
    expect(until()).toBe(0);
    const at = recordSignOutEverywhere(node, "ann");
    expect([at, until(), signedOutEverywhereUntil(node.db, node.membership(), "bob")]).toEqual([
      Math.floor(NOW_MS / 1000),
      at + SESSION_CLOCK_SKEW_S,
      0,
    ]);
    // A session opened then (or at a gateway whose clock is behind) ends; one opened later
    // at this gateway is dated after it.
    expect(newClaims(node, "ann" as UserName).issuedAt).toBe(at + SESSION_CLOCK_SKEW_S + 1);
    later((SESSION_CLOCK_SKEW_S + MAX_SESSION_S + 7 * 86_400) * 1000 - 1000);
    forgetExpiredSignOuts(node);
    expect(until()).toBe(at + SESSION_CLOCK_SKEW_S);
    later(1000);
    forgetExpiredSignOuts(node);
    expect(until()).toBe(0);
  });
});

describe("a sign-out everywhere at a gateway whose clock is then set back", () => {
  test("still ends the sessions opened before it", () => {
    const { node, later } = zone();
    const claims = newClaims(node, "ann" as UserName);
    recordSignOutEverywhere(node, "ann");
    // Set back ten minutes (a board without a clock battery, booted before network time):
    // judged by that clock, the record was dated ahead of it and counted for nothing.
    later(-10 * 60_000);
    expect(claims.issuedAt).toBeLessThanOrEqual(
      signedOutEverywhereUntil(node.db, node.membership(), "ann"),
    );
  });
});

describe("a sign-out everywhere written by a gateway whose clock is behind the zone's", () => {
  test("ends the sessions opened elsewhere up to the zone's time", () => {
    const { node, later, byLaptop } = zone();
    // a holds a change dated now, then its own clock reads ten minutes earlier.
    byLaptop("apps/x", '"1"');
    later(-10 * 60_000);
    // Another gateway, its clock right, opened a session now.
    const openedElsewhere = Math.floor(NOW_MS / 1000);
    recordSignOutEverywhere(node, "ann");
    expect(openedElsewhere).toBeLessThanOrEqual(
      signedOutEverywhereUntil(node.db, node.membership(), "ann"),
    );
  });
});

describe("two sign-outs everywhere in one second", () => {
  test("the second ends the sessions opened since the first", () => {
    const { node } = zone();
    const first = recordSignOutEverywhere(node, "ann");
    const claims = newClaims(node, "ann" as UserName);
    expect(claims.issuedAt).toBe(first + SESSION_CLOCK_SKEW_S + 1);
    const second = recordSignOutEverywhere(node, "ann");
    expect(second).toBe(first + 1);
    expect(claims.issuedAt).toBeLessThanOrEqual(
      signedOutEverywhereUntil(node.db, node.membership(), "ann"),
    );
  });
});

describe("a sign-out everywhere a member device wrote", () => {
  const ann = "ann" as UserName;
  const nowS = Math.floor(NOW_MS / 1000);

  test("dated past any clock ends nothing, nor dates a session ahead", () => {
    const { node, byLaptop } = zone();
    for (const until of [4e12, Number.MAX_SAFE_INTEGER, nowS + SESSION_CLOCK_SKEW_S + 1]) {
      byLaptop("nodes/laptop/signed-out-everywhere/ann", JSON.stringify({ until }));
      // Once, every session ended, the next dated in year 128724 (it never expired), or,
      // near the largest integer, none could be opened at all.
      expect(signedOutEverywhereUntil(node.db, node.membership(), ann)).toBe(0);
      expect(newClaims(node, ann).issuedAt).toBe(nowS);
    }
  });

  test("dated within a clock's skew counts, and the next session stays within reach", () => {
    const { node, byLaptop } = zone();
    const until = nowS + SESSION_CLOCK_SKEW_S;
    byLaptop("nodes/laptop/signed-out-everywhere/ann", JSON.stringify({ until }));
    expect(signedOutEverywhereUntil(node.db, node.membership(), ann)).toBe(
      until + SESSION_CLOCK_SKEW_S,
    );
    const issuedAt = newClaims(node, ann).issuedAt;
    expect(issuedAt).toBe(until + SESSION_CLOCK_SKEW_S + 1);
    // Every gateway takes it, one whose clock is a skew behind this one's too.
    expect(issuedAt - (nowS - SESSION_CLOCK_SKEW_S)).toBeLessThanOrEqual(MAX_SESSION_AHEAD_S);
  });

  test("by a gateway whose clock is behind, ends the sessions opened in that gap", () => {
    const { node, byLaptop } = zone();
    // Signed out at a gateway 50 s behind; another opened a session 10 s before by its clock.
    byLaptop("nodes/laptop/signed-out-everywhere/ann", JSON.stringify({ until: nowS - 50 }));
    expect(signedOutEverywhereUntil(node.db, node.membership(), ann)).toBeGreaterThanOrEqual(
      nowS - 10,
    );
  });
});

describe("a session's id", () => {
  const claims: SessionClaims = {
    zone: "zone" as ZoneId,
    user: "ada" as UserName,
    gateway: "dgw" as DeviceId,
    nonce: "AAAAAAAAAAAAAAAAAAAAAA",
    issuedAt: 1,
    expiresAt: 2,
  };
  test("is its claims': the same claims the same id, any claim changed another", () => {
    expect(personSessionId({ ...claims })).toBe(personSessionId(claims));
    for (const changed of [
      { nonce: "AAAAAAAAAAAAAAAAAAAAAQ" },
      { user: "bob" as UserName },
      { expiresAt: 3 },
    ])
      expect(personSessionId({ ...claims, ...changed })).not.toBe(personSessionId(claims));
    const device = { zone: claims.zone, issuer: claims.gateway, device: "dphone" as DeviceId };
    expect(deviceSessionId({ ...device, expiresAt: 2 })).not.toBe(
      deviceSessionId({ ...device, expiresAt: 3 }),
    );
  });

  test("a device's session is known by its nonce; a first-version one keeps the id it had", () => {
    const device = { zone: claims.zone, issuer: claims.gateway, device: "dphone" as DeviceId };
    const ids = [undefined, "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAQ"].map((nonce) =>
      deviceSessionId({ ...device, expiresAt: 2, ...(nonce ? { nonce } : {}) }),
    );
    expect(new Set(ids).size).toBe(3);
    // A sign-out recorded before sessions had nonces still names the same first-version one.
    expect(ids[0]).toBe(FIRST_VERSION_ID);
  });
});

/** deviceSessionId of the first-version session above, as bucky computed it before nonces. */
const FIRST_VERSION_ID = "8a427b4fe716be5d04a043abace61143f9e94529f5b52f465b168908d3a5d76f";

describe("a change that may end sessions", () => {
  test("is a sign-out, a person's account or credentials, or who is a member; not an app or a report", () => {
    const ends = [
      "nodes/alpha/signed-out/abc",
      "nodes/beta/signed-out-everywhere/ann",
      "users/ann/account/1",
      "users/ann/credentials/x",
      "users/ann/password-changes/2",
      "devices/alpha/doc",
      "devices/beta/revoked",
    ];
    const keeps = [
      "nodes/alpha/signed-outs/abc",
      "nodes/alpha/agent-log/1",
      "devices/alpha/info",
      "users/ann/apps/notes/spec",
      "system/files-budget",
    ];
    expect(ends.filter(mayEndSessions)).toEqual(ends);
    expect(keeps.filter(mayEndSessions)).toEqual([]);
  });
});
