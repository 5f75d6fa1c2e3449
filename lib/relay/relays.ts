/**
 * Which devices relay for the zone: its gateways (members in good standing with a
 * `nodes/<name>/gateway` entry), since they are the ones others can reach.
 */
import { like } from "drizzle-orm";
import type { Peer } from "../node/peers.ts";
import { peerOf } from "../node/peers.ts";
import type { StateQueries } from "../store/db.ts";
import { state } from "../store/schema.ts";
import { type Membership, standingOf } from "../sync/membership.ts";

export function readRelays(db: StateQueries, membership: Membership): Peer[] {
  const relays: Peer[] = [];
  const rows = db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(like(state.key, "nodes/%/gateway"))
    .all();
  for (const { key, value } of rows) {
    const member = membership.byName.get(key.split("/")[1] ?? "");
    if (!value || !member || standingOf(membership, member.id) !== "member") continue;
    const peer = peerOf(db, member);
    if (peer) relays.push(peer);
  }
  return relays.sort((a, b) => a.name.localeCompare(b.name));
}

/** Whether a change to `key` can change the relays. */
export const touchesRelays = (key: string) =>
  key.startsWith("devices/") || /^nodes\/[^/]+\/gateway$/.test(key);
