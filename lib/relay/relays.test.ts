/**
 * A relay ticket is no one's signed word: any member writes `relays/<id>`. One naming a
 * device of the zone, a gateway or one revoked, is no outside relay.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { encodeRelayTicket } from "../../protocol/relay.ts";
import { certificatePem, deviceCertificate } from "../../protocol/tls-cert.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, removeTestDatabases, seed } from "../state/test-db.ts";
import type { Member, Membership } from "../sync/membership.ts";
import { readRelays } from "./relays.ts";

afterAll(removeTestDatabases);

/** A ticket as a relay prints it, for the device of `seedNumber`, at `addrs`. */
function ticketOf(seedNumber: number, name: string, addrs: string[]) {
  const key = signingKeyFromSeed(seed(seedNumber));
  const id = deviceIdFromPublicKey(key.publicKey);
  const cert = certificatePem(deviceCertificate(key));
  return { id, text: encodeRelayTicket({ id, name, addrs, cert }) };
}

describe("outside relays", () => {
  test("a ticket naming a device of the zone, in any standing, is no relay; another's is", () => {
    const { db, zone, key, seal } = openTestNode(130);
    const author = { zone, name: "a", key, seal };
    appendLocalChangeset(db, author, foundingOps({ a: key }), 1000);
    const inZone = ticketOf(131, "gw", ["https://203.0.113.9:1"]);
    const outside = ticketOf(132, "far", ["https://198.51.100.7:8443"]);
    appendLocalChangeset(
      db,
      author,
      [inZone, outside].map((ticket) => ({
        key: `relays/${ticket.id}`,
        value: JSON.stringify(ticket.text),
      })),
      2000,
    );
    const gw: Member = { id: inZone.id, name: "gw", admittedAtMs: 0, quarantined: false } as Member;
    const zoneOf = (member: Member): Membership => ({
      byId: new Map([[member.id, member]]),
      byName: new Map([[member.name, member]]),
    });
    const none: Membership = { byId: new Map(), byName: new Map() };
    // Before gw was a device of the zone, its ticket stood for an outside relay.
    expect(readRelays(db, none).map((r) => r.name)).toEqual(["far", "gw"]);
    for (const standing of [gw, { ...gw, revokedAfterSeq: 4 }, { ...gw, quarantined: true }])
      expect(readRelays(db, zoneOf(standing)).map((r) => [r.name, r.addresses])).toEqual([
        ["far", ["https://198.51.100.7:8443"]],
      ]);
  });
});
