/**
 * This device's peers, reached from a home whose daemon is not running: by a repair or a
 * start that fetches what it lacks from them, and by a start that fails, to tell them why
 * (lib/node/last-word.ts). Where they listen is read from the state as it is: the pinned
 * certificate of each (its device key's) authenticates whoever answers, whatever the
 * state says.
 */
import type { SigningKey } from "../../protocol/ed25519.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { readRelays } from "../relay/relays.ts";
import type { StateDb } from "../store/db.ts";
import { loadMembership } from "../sync/membership.ts";
import { PeerClient } from "./peer-client.ts";
import {
  MemoryContacts,
  type Peer,
  readDeviceDocument,
  readPeers,
  savedContacts,
} from "./peers.ts";

/** Runs `work` with a client signing as this device (`key`) and the peers the state names. */
export async function withPeersAtRest<T>(
  db: StateDb,
  key: SigningKey,
  self: { deviceId: string; deviceName: string; zoneId: string },
  now: () => number,
  work: (client: PeerClient, peers: readonly Peer[]) => Promise<T>,
): Promise<T> {
  const membership = loadMembership(db, self.zoneId as ZoneId);
  const relays = readRelays(db, membership);
  const document = readDeviceDocument(db, self.deviceName);
  const client = new PeerClient(key, new MemoryContacts(savedContacts(db)), now, {
    relaysFor: () => relays,
    document: () => document,
  });
  try {
    return await work(client, readPeers(db, membership, self.deviceId as DeviceId));
  } finally {
    client.stop();
  }
}
