import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import type { Member, Membership } from "../sync/membership.ts";
import {
  inviteRecordKey,
  inviteRecordValue,
  inviteRevocationKey,
  isInviteId,
  parseInviteFacts,
  revocationValue,
  revokersOf,
  zoneInvites,
} from "./invite-records.ts";

const ID_A = Buffer.alloc(16, 1).toString("base64url");
const ID_B = Buffer.alloc(16, 2).toString("base64url");
const NOW = 1_800_000_000_000;
const facts = { createdAt: NOW - 1000, expiresAt: NOW + 60_000, usesLeft: 1, givesBackupKey: true };

function stateWith(rows: Record<string, string | null>): Database {
  const db = new Database(":memory:");
  db.run("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)");
  for (const [key, value] of Object.entries(rows))
    db.query("INSERT INTO state VALUES (?, ?)").run(key, value);
  return db;
}

function membership(names: Record<string, "member" | "revoked">): Membership {
  const members = Object.entries(names).map(
    ([name, standing]): Member => ({
      id: `d-${name}` as DeviceId,
      name: name as DeviceName,
      admittedAtMs: 0,
      quarantined: false,
      ...(standing === "revoked" ? { revokedAfterSeq: 1 } : {}),
    }),
  );
  return {
    byId: new Map(members.map((m) => [m.id, m])),
    byName: new Map(members.map((m) => [m.name as string, m])),
  };
}

describe("the zone's invitation records", () => {
  test("a record of another shape, or an id of another spelling, is not read", () => {
    expect(parseInviteFacts(inviteRecordValue(facts))).toEqual(facts);
    for (const bad of [
      null,
      "not json",
      JSON.stringify({ ...facts }),
      JSON.stringify({ v: 2, ...facts }),
      JSON.stringify({ v: 1, ...facts, usesLeft: 101 }),
      JSON.stringify({ v: 1, ...facts, usesLeft: 1.5 }),
      JSON.stringify({ v: 1, ...facts, expiresAt: "tomorrow" }),
      JSON.stringify({ v: 1, ...facts, givesBackupKey: "yes" }),
    ])
      expect(parseInviteFacts(bad)).toBeUndefined();
    expect(isInviteId(ID_A)).toBe(true);
    for (const bad of ["*", `${ID_A}x`, ID_A.slice(1), "AAAAAAAAAAAAAAAAAAAAA*"])
      expect(isInviteId(bad)).toBe(false);
  });

  test("open ones of members in standing, newest first; expired, used up and a revoked device's go", () => {
    const db = stateWith({
      [inviteRecordKey("alpha", ID_A)]: inviteRecordValue(facts),
      [inviteRecordKey("beta", ID_B)]: inviteRecordValue({ ...facts, createdAt: NOW }),
      [inviteRecordKey("alpha", Buffer.alloc(16, 3).toString("base64url"))]: inviteRecordValue({
        ...facts,
        expiresAt: NOW,
      }),
      [inviteRecordKey("alpha", Buffer.alloc(16, 4).toString("base64url"))]: inviteRecordValue({
        ...facts,
        usesLeft: 0,
      }),
      [inviteRecordKey("gone", Buffer.alloc(16, 5).toString("base64url"))]:
        inviteRecordValue(facts),
      [`nodes/alpha/x/invites/${ID_A}`]: inviteRecordValue(facts),
      [inviteRevocationKey("gamma", ID_A)]: revocationValue(NOW, facts.expiresAt),
      [inviteRevocationKey("beta", ID_A)]: revocationValue(NOW, facts.expiresAt),
      [inviteRevocationKey("alpha", ID_B)]: null,
    });
    const zone = membership({ alpha: "member", beta: "member", gamma: "member", gone: "revoked" });
    expect(zoneInvites(db, zone, NOW)).toEqual([
      { id: ID_B, inviter: "beta", ...facts, createdAt: NOW, status: "active", revokedBy: [] },
      { id: ID_A, inviter: "alpha", ...facts, status: "revoked", revokedBy: ["beta", "gamma"] },
    ]);
    expect(revokersOf(db, ID_A)).toEqual(["beta", "gamma"]);
    expect(revokersOf(db, ID_B)).toEqual([]);
    expect(revokersOf(db, "*")).toEqual([]);
  });
});
