import { describe, expect, test } from "bun:test";
import type { UserName } from "../../protocol/accounts.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import type { Member, Membership } from "../sync/membership.ts";
import type { Person } from "../users/directory.ts";
import type { AgentRecord } from "./grants.ts";
import { agentStanding } from "./standing.ts";

const NOW_MS = Date.parse("2026-11-29T14:00:00.000Z");

function membershipOf(members: Member[]): Membership {
  return {
    byId: new Map(members.map((m) => [m.id, m])),
    byName: new Map(members.map((m) => [m.name as string, m])),
  };
}

const member = (name: string, extra: Partial<Member> = {}): Member => ({
  id: `d${name}` as DeviceId,
  name: name as DeviceName,
  admittedAtMs: 1000,
  quarantined: false,
  ...extra,
});

const recordBy = (issuer: string): AgentRecord => ({
  agent: `by-${issuer}`,
  id: `id-${issuer}`,
  issuer: `d${issuer}` as DeviceId,
  scopes: { read: ["apps"], write: [], act: [] },
  issuedAt: "2026-11-01T00:00:00.000Z",
  expiresAt: "2026-12-01T00:00:00.000Z",
  revokedAt: null,
});

describe("an agent whose granting device left the zone", () => {
  test("is said to be stopped because that device was revoked, is quarantined, or is unknown", () => {
    const zone = {
      membership: membershipOf([
        member("laptop"),
        member("old", { revokedAfterSeq: 4 }),
        member("twin", { quarantined: true }),
      ]),
      people: { people: new Map(), revs: new Map() },
      nowMs: NOW_MS,
    };
    const again = "Grant it again on a device of the zone (`bucky agent grant by-";
    const listed = ["laptop", "old", "twin", "gone"].map((issuer) => {
      const { grantedBy, working, stopped } = agentStanding(recordBy(issuer), zone);
      return { grantedBy, working, why: stopped?.why, message: stopped?.message };
    });
    expect(listed).toEqual([
      { grantedBy: "laptop", working: true, why: undefined, message: undefined },
      {
        grantedBy: "old",
        working: false,
        why: "granter-revoked",
        message: "granted by old, which was revoked from the zone: every call it makes is refused",
      },
      {
        grantedBy: "twin",
        working: false,
        why: "granter-quarantined",
        message:
          "granted by twin, which is quarantined (it signed two different changes under one number): every call it makes is refused",
      },
      {
        grantedBy: "dgone",
        working: false,
        why: "granter-gone",
        message:
          "granted by dgone, which is not (or no longer) a device of this zone: every call it makes is refused",
      },
    ]);
    for (const issuer of ["old", "twin", "gone"])
      expect(agentStanding(recordBy(issuer), zone).stopped?.hint).toStartWith(again);
  });
});

describe("an agent a person granted", () => {
  test("granted by someone of that name removed since, it stays stopped: the name's new holder does not bring it back", () => {
    const ann = (removedAt?: string): Person => ({
      name: "ann" as UserName,
      role: "member",
      rev: 3,
      creds: 1,
      changedAtMs: NOW_MS,
      credentials: new Map(),
      ...(removedAt ? { removedAtMs: Date.parse(removedAt) } : {}),
    });
    const standing = (granted: string, person: Person) =>
      agentStanding(
        { ...recordBy("laptop"), user: "ann", issuedAt: granted },
        {
          membership: membershipOf([member("laptop")]),
          people: { people: new Map([["ann", person]]), revs: new Map([["ann", 3]]) },
          nowMs: NOW_MS,
        },
      );
    const removed = "2026-11-10T00:00:00.000Z";
    expect(standing("2026-11-01T00:00:00.000Z", ann(removed))).toMatchObject({
      working: false,
      stopped: {
        why: "person-gone",
        message:
          "acts for the ann removed at 2026-11-10T00:00:00.000Z, not for the one added since: every call it makes is refused",
      },
    });
    // Granted in the second of the removal: the removed person's too (both are to the second).
    expect(standing(removed, ann(removed)).working).toBe(false);
    // Granted after, or by someone never removed: working.
    expect(standing("2026-11-10T00:00:01.000Z", ann(removed)).working).toBe(true);
    expect(standing("2026-11-01T00:00:00.000Z", ann()).working).toBe(true);
  });

  test("one that says which removal of the name it was granted after goes by it, not by the clocks", () => {
    // ann removed at rev 3 (and added again since), at 2026-11-10 by the removing device.
    const ann: Person = {
      name: "ann" as UserName,
      role: "member",
      rev: 4,
      creds: 1,
      changedAtMs: NOW_MS,
      credentials: new Map(),
      removedAtMs: Date.parse("2026-11-10T00:00:00.000Z"),
      removedRev: 3,
    };
    const working = (issuedAt: string, userPastRemoval: number) =>
      agentStanding(
        { ...recordBy("laptop"), user: "ann", issuedAt, userPastRemoval },
        {
          membership: membershipOf([member("laptop")]),
          people: { people: new Map([["ann", ann]]), revs: new Map([["ann", 4]]) },
          nowMs: NOW_MS,
        },
      ).working;
    // Granted by the removed ann on a device whose clock ran ahead: dated after the removal.
    expect(working("2026-11-10T00:00:30.000Z", 0)).toBe(false);
    // Granted by the new ann on a device whose clock runs behind: dated before it.
    expect(working("2026-11-09T23:59:30.000Z", 3)).toBe(true);
  });
});
