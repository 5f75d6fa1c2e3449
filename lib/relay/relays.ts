/**
 * Which relays a zone's devices may keep tunnels to and be reached through: its gateways
 * and relay-only devices (members with `nodes/<name>/gateway` or `nodes/<name>/relay`),
 * and relays outside the zone it was given tickets for (`relays/<device id>`).
 *
 * A ticket is no one's signed word (any member writes `relays/`), so one naming a device of
 * the zone, in any standing, is no outside relay: it would put a dead address in place of a
 * gateway's own (every tunnel to it lost), or make a revoked device a relay again.
 */
import { or } from "drizzle-orm";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { decodeRelayTicket, encodeRelayTicket, type RelayTicket } from "../../protocol/relay.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import type { Peer } from "../node/peers.ts";
import { peerOf } from "../node/peers.ts";
import type { StateQueries } from "../store/db.ts";
import { keyGlob } from "../store/key-glob.ts";
import { state } from "../store/schema.ts";
import { type Membership, standingOf } from "../sync/membership.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";

const OUTSIDE_PREFIX = "relays/";

export function readRelays(db: StateQueries, membership: Membership): Peer[] {
  const relays = new Map<DeviceId, Peer>();
  const rows = db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(or(keyGlob("nodes/*/gateway"), keyGlob("nodes/*/relay"), keyGlob(`${OUTSIDE_PREFIX}*`)))
    .all();
  for (const { key, value } of rows) {
    if (!value) continue;
    if (key.startsWith(OUTSIDE_PREFIX)) {
      const outside = outsideRelay(value);
      if (outside && !membership.byId.has(outside.id)) relays.set(outside.id, outside);
      continue;
    }
    const member = membership.byName.get(key.split("/")[1] ?? "");
    if (!member || standingOf(membership, member.id) !== "member") continue;
    const peer = peerOf(db, member);
    if (peer) relays.set(peer.id, peer);
  }
  return [...relays.values()].sort((a, b) => compareCodeUnits(a.name, b.name));
}

/** Whether a change to `key` can change the relays. */
export const touchesRelays = (key: string) =>
  key.startsWith("devices/") ||
  key.startsWith(OUTSIDE_PREFIX) ||
  /^nodes\/[^/]+\/(gateway|relay)$/.test(key);

/** The relay a ticket describes, as a peer, when the stored ticket still checks out. */
function outsideRelay(value: string): Peer | undefined {
  try {
    const ticket = decodeRelayTicket(JSON.parse(value) as string);
    return { id: ticket.id, name: ticket.name, addresses: ticket.addrs, certPem: ticket.cert };
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

export interface RelayView {
  readonly id: DeviceId;
  readonly name: string;
  readonly addresses: readonly string[];
  /** A member of the zone (a gateway or relay-only device), or a relay outside it. */
  readonly member: boolean;
}

export function listRelays(zone: ZoneWriter): RelayView[] {
  const membership = zone.membership();
  return readRelays(zone.db, membership).map((relay) => ({
    id: relay.id,
    name: relay.name,
    addresses: relay.addresses,
    member: membership.byId.has(relay.id),
  }));
}

/** Lets the zone's devices use a relay outside it, from the ticket that relay printed. */
export function addRelay(zone: ZoneWriter, text: string): RelayView {
  let ticket: RelayTicket;
  try {
    ticket = decodeRelayTicket(text.trim());
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new BuckyError(
      "E_INVALID_INPUT",
      `that is not a relay ticket: ${error.message}`,
      "Copy the whole bucky-relay:… line `bucky gateway enable --relay-only` printed on the relay.",
    );
  }
  if (zone.membership().byId.has(ticket.id)) {
    throw new BuckyError(
      "E_EXISTS",
      `${ticket.name} is a device of this zone`,
      "It relays for the zone already.",
    );
  }
  zone.write([
    { key: `${OUTSIDE_PREFIX}${ticket.id}`, value: JSON.stringify(encodeRelayTicket(ticket)) },
  ]);
  zone.log.info("relay added", { relay: ticket.name, id: ticket.id });
  return { id: ticket.id, name: ticket.name, addresses: ticket.addrs, member: false };
}

/** Stops using a relay outside the zone, named by name or id. */
export function removeRelay(zone: ZoneWriter, which: string): { removed: RelayView } {
  const outside = listRelays(zone).filter((r) => !r.member);
  const byName = outside.filter((r) => r.name === which);
  // Relays of other zones name themselves: two may share a name, and which of them went
  // would be the list's order, not the person's choice.
  if (byName.length > 1)
    throw new BuckyError(
      "E_USAGE",
      `${byName.length} outside relays are named ${which}`,
      `Name the one to remove by its id: ${byName.map((r) => `${r.id} (${r.addresses.join(", ")})`).join(", ")}.`,
    );
  const relay = outside.find((r) => r.id === which) ?? byName[0];
  if (!relay) {
    throw new BuckyError(
      "E_NOT_FOUND",
      `the zone uses no outside relay named ${which}`,
      "See them with `bucky relay list`; a gateway of the zone stops relaying with `bucky gateway disable` on it.",
    );
  }
  zone.write([{ key: `${OUTSIDE_PREFIX}${relay.id}`, value: null }]);
  zone.log.info("relay removed", { relay: relay.name, id: relay.id });
  return { removed: relay };
}
