/**
 * `bucky put` and `bucky get`: a file into this device's store, and an object out of the
 * zone (this device first, then the others) into a file, or its head into memory,
 * verified chunk by chunk.
 */
import { existsSync, statSync } from "node:fs";
import type { ObjectId } from "../../protocol/ndn.ts";
import { parseObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import { homePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { PeerClient } from "../node/peer-client.ts";
import { MemoryContacts, readDeviceDocument, readPeers, savedContacts } from "../node/peers.ts";
import { readRelays } from "../relay/relays.ts";
import { loadMembership } from "../sync/membership.ts";
import { homeHasZone } from "../zone/home-contents.ts";
import { openZone } from "../zone/open.ts";
import { fetchHead, fetchToFile, type ObjectSource, peerSource, storeSource } from "./fetch.ts";
import { ObjectStore, type StoredObject } from "./store.ts";

export function putFile(home: string, path: string, log: Log): StoredObject {
  if (!homeHasZone(home)) {
    throw new BuckyError(
      "E_NO_ZONE",
      `${home} has no zone`,
      "Create one with `bucky init` or `bucky join`.",
    );
  }
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new BuckyError("E_NOT_FOUND", `${path} is not a file`, "Name a regular file to store.");
  }
  const stored = new ObjectStore(homePaths(home).ndnDir).putFile(path);
  log.attachFile(homePaths(home).logsDir);
  log.info("stored file", { id: stored.id, size: stored.size, path });
  return stored;
}

export async function getObject(options: {
  home: string;
  id: string;
  output: string;
  log: Log;
  now: () => number;
}): Promise<{ id: ObjectId; size: number; path: string }> {
  const parsed = parseObjectId(options.id);
  if (!parsed) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${options.id} is not an object id`,
      "Ids look like sha256:<64 hex> or clist:<64 hex>.",
    );
  }
  if (existsSync(options.output)) {
    throw new BuckyError(
      "E_EXISTS",
      `${options.output} already exists; nothing was written`,
      "Choose another path with -o, or remove it first.",
    );
  }
  const size = await withZoneSources(options, (sources) =>
    fetchToFile(parsed.id, options.output, sources),
  );
  options.log.info("fetched object", { id: parsed.id, size, path: options.output });
  return { id: parsed.id, size, path: options.output };
}

/** The first `maxBytes` of an object, from this device or any other, verified. */
export function readObjectHead(options: {
  home: string;
  id: ObjectId;
  maxBytes: number;
  log: Log;
  now: () => number;
}): Promise<{ bytes: Uint8Array; size: number }> {
  return withZoneSources(options, (sources) => fetchHead(options.id, sources, options.maxBytes));
}

/** Runs `work` with the places an object can come from: this device's store, then its peers. */
async function withZoneSources<T>(
  options: { home: string; log: Log; now: () => number },
  work: (sources: ObjectSource[]) => Promise<T>,
): Promise<T> {
  const zone = openZone(options.home, options.log);
  let client: PeerClient | undefined;
  try {
    const membership = loadMembership(zone.db, zone.zone.id);
    const relays = readRelays(zone.db, membership);
    // Starting from how the daemon last reached each device saves probing dead addresses.
    const contacts = new MemoryContacts(savedContacts(zone.db));
    client = new PeerClient(zone.deviceKey, contacts, options.now, {
      relaysFor: () => relays,
      document: () => readDeviceDocument(zone.db, zone.device.name),
    });
    const peers = readPeers(zone.db, membership, zone.device.id);
    return await work([
      storeSource(new ObjectStore(zone.paths.ndnDir)),
      ...peers.map((peer) => peerSource(client as PeerClient, peer)),
    ]);
  } finally {
    client?.stop();
    zone.close();
  }
}
