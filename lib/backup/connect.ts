/**
 * Opening a target's repository files, the way this device reaches it: its own connection
 * (a directory, an SFTP server) when it is the target's via, else through the via device.
 */
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { PeerClient } from "../node/peer-client.ts";
import {
  MemoryContacts,
  type Peer,
  readDeviceDocument,
  readPeers,
  savedContacts,
} from "../node/peers.ts";
import { readRelays } from "../relay/relays.ts";
import { loadMembership, outcastNames } from "../sync/membership.ts";
import { openZone } from "../zone/open.ts";
import type { Backend } from "./backend.ts";
import { RemoteBackend } from "./remote-backend.ts";
import { connect } from "./targets.ts";
import type { ResolvedTarget } from "./zone-targets.ts";

/** How to call the other devices: a client signing as this one, and the peers it can call. */
export interface PeerReach {
  readonly client: PeerClient;
  readonly peers: readonly Peer[];
  /** The devices revoked or quarantined, by name: never back as any target's via. */
  readonly outcast: ReadonlySet<string>;
}

/** How the running daemon calls the other devices. */
export function nodeReach(node: NodeContext): PeerReach {
  return { client: node.client, peers: node.peers(), outcast: outcastNames(node.membership()) };
}

export async function openBackend(
  target: ResolvedTarget,
  reach: PeerReach | undefined,
  options: { create?: boolean } = {},
): Promise<Backend> {
  if (target.route.kind === "direct") return connect(target.route.connection, options);
  const via = target.route.via;
  const peer = reach?.peers.find((p) => p.name === via);
  if (reach?.outcast.has(via))
    throw new BuckyError(
      "E_UNAVAILABLE",
      `the backup target ${target.name} is reached through ${via}, which is no member of the zone any more (revoked, or quarantined): no device reaches it now`,
      `Remove the target (\`bucky backup target rm ${target.name}\`) and add it again on a device that reaches it.`,
    );
  if (!reach || !peer)
    throw new BuckyError(
      "E_UNAVAILABLE",
      `the backup target ${target.name} is reached through ${via}, which this device cannot call: it is no member in good standing, or has not said where it listens yet`,
      `Backups to ${target.name} go on once ${via} is back; or remove the target (\`bucky backup target rm ${target.name}\`) and add one this device reaches.`,
    );
  if (options.create)
    throw new BuckyError(
      "E_USAGE",
      `the target ${target.name} is made on ${via}, which reaches it`,
    );
  return new RemoteBackend(reach.client, peer, target.name, target.url);
}

/** Runs `work` with a way to call the zone's devices, as the device of `paths` (a command). */
export async function withHomePeers<T>(
  paths: HomePaths,
  log: Log,
  now: () => number,
  work: (reach: PeerReach) => Promise<T>,
): Promise<T> {
  const zone = openZone(paths.home, log);
  let client: PeerClient;
  let peers: Peer[];
  let outcast: Set<string>;
  try {
    const membership = loadMembership(zone.db, zone.zone.id);
    const relays = readRelays(zone.db, membership);
    const document = readDeviceDocument(zone.db, zone.device.name);
    // Starting from how the daemon last reached each device saves probing dead addresses.
    client = new PeerClient(zone.deviceKey, new MemoryContacts(savedContacts(zone.db)), now, {
      relaysFor: () => relays,
      document: () => document,
    });
    peers = readPeers(zone.db, membership, zone.device.id);
    outcast = outcastNames(membership);
  } finally {
    zone.close();
  }
  try {
    return await work({ client, peers, outcast });
  } finally {
    client.stop();
  }
}
