/**
 * `bucky put` and `bucky get`: a file into this device's store, and an object out of the
 * zone (this device first, then the others) into a file, or its head into memory,
 * verified chunk by chunk.
 */
import { existsSync, statSync } from "node:fs";
import { basename } from "node:path";
import type { ObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { PeerClient } from "../node/peer-client.ts";
import { MemoryContacts, readDeviceDocument, readPeers, savedContacts } from "../node/peers.ts";
import { readRelays } from "../relay/relays.ts";
import type { StateQueries } from "../store/db.ts";
import { loadMembership } from "../sync/membership.ts";
import { homeHasZone } from "../zone/home-contents.ts";
import { openZone } from "../zone/open.ts";
import { referrers } from "./collect.ts";
import { fetchHead, fetchToFile, type ObjectSource, peerSource, storeSource } from "./fetch.ts";
import { requireObjectId } from "./object-id.ts";
import { pin, unpin } from "./pins.ts";
import { builtInRoots, type RootKind } from "./roots.ts";
import { ObjectStore, type StoredObject } from "./store.ts";
import { isStoredFile } from "./stored-files.ts";

/** Stores a file in this device's store, kept as the owner's until `bucky rm` releases it. */
export function putFile(home: string, path: string, log: Log, nowMs: number): StoredObject {
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
  const zone = openZone(home, log);
  try {
    const stored = storeKept(new ObjectStore(zone.paths.ndnDir), zone.db, path, nowMs);
    log.info("stored file", { id: stored.id, size: stored.size, path });
    return stored;
  } finally {
    zone.close();
  }
}

/**
 * Stores the file at `path` in `store` and pins it as the owner's. An object found stored
 * already is not written again, and the daemon's collection (another process) may remove
 * it before the pin commits, if nothing kept it past its grace period: once the pin is
 * committed nothing removes it, so what went missing meanwhile is stored again.
 */
export function storeKept(
  store: ObjectStore,
  db: StateQueries,
  path: string,
  nowMs: number,
): StoredObject {
  const stored = store.putFile(path);
  pin(db, stored.id, basename(path), nowMs);
  if (!store.holdsWhole(stored.id)) store.putFile(path);
  return stored;
}

export interface Released {
  readonly id: ObjectId;
  /** Whether it was stored on this device with bucky put (its pin here let go). */
  readonly storedHere: boolean;
  /** Other roots that still keep it on this device (it stays while they do). */
  readonly keptBy: readonly string[];
  /** When it is collected at the earliest, if nothing else keeps it (RFC 3339), else null. */
  readonly collectedAfter: string | null;
}

/**
 * Releases an object the owner stored (`bucky rm`), once the daemon let it go zone-wide
 * (or the zone has no record of it: a file put here before stored files were zone records
 * and not recorded yet): it is collected after the grace period unless something else
 * keeps it (an app's package, a public object).
 */
export function releaseObject(
  home: string,
  id: string,
  log: Log,
  options: {
    nowMs: number;
    graceMs: number;
    /** The roots beside the built-in ones (images, catalogs), as the daemon's collector has them. */
    extraRoots: (zone: { db: StateQueries; paths: HomePaths; store: ObjectStore }) => RootKind[];
    /** Whether the daemon just let it go zone-wide (a file the zone stored, from any device). */
    releasedZoneWide: boolean;
  },
): Released {
  const parsed = requireObjectId(id);
  const zone = openZone(home, log);
  try {
    // The zone's record keeps it on every device: let go here alone, it would stay.
    if (!options.releasedZoneWide && isStoredFile(zone.db, parsed.id))
      throw new BuckyError(
        "E_UNAVAILABLE",
        `${parsed.id} is stored zone-wide, and this device's daemon is not running to let it go`,
        "Start it (`bucky up`), or run `bucky rm` on another device of the zone; nothing was released.",
      );
    const storedHere = unpin(zone.db, parsed.id);
    if (!storedHere && !options.releasedZoneWide)
      throw new BuckyError(
        "E_NOT_FOUND",
        `${parsed.id} is not a file stored in the zone with bucky put`,
        "Check the id `bucky put` printed.",
      );
    const store = new ObjectStore(zone.paths.ndnDir);
    const roots = [
      ...builtInRoots(zone.db),
      ...options.extraRoots({ db: zone.db, paths: zone.paths, store }),
    ];
    const keptBy = referrers(store, roots, parsed.id);
    log.info("object released", { id: parsed.id, keptBy: keptBy.join(",") || undefined });
    return {
      id: parsed.id,
      storedHere,
      keptBy,
      collectedAfter:
        keptBy.length > 0 ? null : new Date(options.nowMs + options.graceMs).toISOString(),
    };
  } finally {
    zone.close();
  }
}

export async function getObject(options: {
  home: string;
  id: string;
  output: string;
  log: Log;
  now: () => number;
}): Promise<{ id: ObjectId; size: number; path: string }> {
  const parsed = requireObjectId(options.id);
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
    // Requests are tagged under the pair key each peer shares with this device (request-auth
    // v2) rather than signed: one key agreement per peer, not a signature per chunk.
    client = new PeerClient(
      zone.deviceKey,
      contacts,
      options.now,
      {
        relaysFor: () => relays,
        document: () => readDeviceDocument(zone.db, zone.device.name),
      },
      zone.requestKeys,
    );
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
