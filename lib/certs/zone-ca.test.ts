/**
 * Whose requests the zone CA answers: a gateway of the zone in good standing. A revoked
 * (or quarantined) device's request stays in the state, written before its revocation;
 * answering it would keep renewing a certificate the owner's phones trust, for a key
 * the owner took back.
 */
import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { gatewayKey } from "../gateway/config.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, seed } from "../state/test-db.ts";
import type { Member, Membership } from "../sync/membership.ts";
import { readRequests, requestKey } from "./zone-ca.ts";
import { dueAgain } from "./zone-ca-issuer.ts";

function membershipOf(member: Member): Membership {
  return { byId: new Map([[member.id, member]]), byName: new Map([[member.name, member]]) };
}

describe("the zone CA's requests", () => {
  test("are a member's in good standing only, while it is a gateway of the zone CA", () => {
    const { db, zone, key, seal } = openTestNode(60);
    const request = { publicKey: "AAAA", dnsNames: ["gw.lan", "*.gw.lan"], addresses: [] };
    const config = (tls: string) =>
      JSON.stringify({ listen: "0.0.0.0:443", host: "gw.lan", https: true, tls });
    const write = (ops: { key: string; value: string | null }[]) =>
      appendLocalChangeset(db, { zone, name: "d60", key, seal }, ops, Date.now());
    write([
      { key: requestKey("d60"), value: JSON.stringify(request) },
      { key: gatewayKey("d60"), value: config("zone") },
    ]);
    const gateway: Member = {
      id: deviceIdFromPublicKey(key.publicKey),
      name: "d60" as DeviceName,
      admittedAtMs: 0,
      quarantined: false,
    };
    expect([...readRequests(db, membershipOf(gateway))]).toEqual([["d60", request]]);
    expect([...readRequests(db, membershipOf({ ...gateway, revokedAfterSeq: 3 }))]).toEqual([]);
    expect([...readRequests(db, membershipOf({ ...gateway, quarantined: true }))]).toEqual([]);
    // Its request stays; gone over to ACME, or no gateway any more, it is not answered.
    write([{ key: gatewayKey("d60"), value: config("acme") }]);
    expect([...readRequests(db, membershipOf(gateway))]).toEqual([]);
    write([{ key: gatewayKey("d60"), value: null }]);
    expect([...readRequests(db, membershipOf(gateway))]).toEqual([]);
  });

  test("are read by their keys' exact spelling: another member cannot write one in another case", () => {
    const { db, zone, key, seal } = openTestNode(62);
    const other = { zone, name: "d63", key: signingKeyFromSeed(seed(63)), seal };
    const forged = { publicKey: "BBBB", dnsNames: ["gw.lan"], addresses: [] };
    // Keys only d62 may write are spelled in lower case: these are any member's to write.
    appendLocalChangeset(
      db,
      other,
      ["NODES/d62/zone-ca/request", "Nodes/d62/zone-ca/request"].map((k) => ({
        key: k,
        value: JSON.stringify(forged),
      })),
      Date.now(),
    );
    const gateway: Member = {
      id: deviceIdFromPublicKey(key.publicKey),
      name: "d62" as DeviceName,
      admittedAtMs: 0,
      quarantined: false,
    };
    expect([...readRequests(db, membershipOf(gateway))]).toEqual([]);
  });
});

describe("a certificate the zone CA issued", () => {
  const DAY = 86_400_000;
  const now = Date.parse("2026-12-01T12:00:00.000Z");
  // Issued as issueLeaf dates them: valid from a minute before, for 90 days.
  const issuedAt = (ms: number) => [ms - 60_000, ms - 60_000 + 90 * DAY] as const;

  test("is issued again at its renewal time, not before", () => {
    const [from, to] = issuedAt(now);
    expect(dueAgain(from, to, now)).toBe(false);
    expect(dueAgain(from, to, now + 80 * DAY)).toBe(true);
  });

  test("issued while this device's clock ran ahead, is issued again once it is set right", () => {
    // Valid only from ten days on: every browser refuses it until then.
    const [from, to] = issuedAt(now + 10 * DAY);
    expect(dueAgain(from, to, now)).toBe(true);
  });
});
