/**
 * `bucky state repair`: rebuilds a home's zone state from its signed changesets
 * (lib/state/repair.ts), with its daemon stopped. It needs neither the documents in the
 * state (they may be what was altered) nor, mostly, a peer: only the node's record and the
 * device key, which must match. A peer is called only when this device's own changesets
 * that its checkpoint keeps are damaged: those are put back from its copy first
 * (lib/checkpoint/own-kept.ts); the daemon's start does that much itself
 * (mendOwnKeptAtStart).
 */
import { existsSync } from "node:fs";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import { damagedOwnKept, type KeptSource, putBackOwnKept } from "../checkpoint/own-kept.ts";
import { BuckyError } from "../errors.ts";
import { type HomePaths, homePaths } from "../home.ts";
import { readKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import { withoutDaemon } from "../node/daemon-lock.ts";
import { withPeersAtRest } from "../node/peers-at-rest.ts";
import { type Repair, repairState } from "../state/repair.ts";
import { StateSeal } from "../state/seal.ts";
import { verifyNow } from "../state/verify.ts";
import { openStateDb, type StateDb } from "../store/db.ts";
import { node } from "../store/schema.ts";
import { requireZone } from "./checked-zone.ts";

const RESTORE_HINT =
  "Restore the home with `bucky backup restore latest`, or move it away and join the zone again.";

export async function repairHome(home: string, log: Log, now: () => number): Promise<Repair> {
  const paths = homePaths(home);
  requireZone(paths);
  return await withoutDaemon(
    home,
    "the zone state cannot be repaired under it",
    "Stop it first (`bucky stop`), then run this again.",
    () => repairStopped(paths, log, now),
  );
}

async function repairStopped(paths: HomePaths, log: Log, now: () => number): Promise<Repair> {
  log.attachFile(paths.logsDir);
  const db = openStateDb(paths.stateDb, { create: false });
  try {
    const self = db.select().from(node).get();
    if (!self)
      throw new BuckyError("E_INTEGRITY", `${paths.stateDb} has no node record`, RESTORE_HINT);
    const seed = readKeyFile(paths.deviceKey, "device", log);
    if (deviceIdFromPublicKey(signingKeyFromSeed(seed).publicKey) !== self.deviceId) {
      throw new BuckyError(
        "E_INTEGRITY",
        `the device key ${paths.deviceKey} is not the key of the device ${paths.stateDb} belongs to`,
        RESTORE_HINT,
      );
    }
    const damaged = damagedOwnKept(db.$client, self.deviceId, self.zoneId as ZoneId);
    const from =
      damaged.length > 0
        ? await withPeerSources(db, signingKeyFromSeed(seed), self, now, (sources) =>
            putBackOwnKept(db.$client, self.deviceId, self.zoneId as ZoneId, damaged, sources, log),
          )
        : undefined;
    const repair = repairState(
      db,
      StateSeal.fromSeed(seed, self.deviceId as DeviceId),
      self.zoneId as ZoneId,
      self.deviceName,
      now(),
      log,
    );
    if (from === undefined) return repair;
    const found = `this device's own changeset${damaged.length === 1 ? "" : "s"} #${damaged.join(", #")} that its checkpoint keeps did not verify`;
    return {
      ...repair,
      repaired: true,
      found: [found, ...repair.found],
      restored: damaged.map((seq) => ({ seq, from })),
    };
  } finally {
    db.$client.close();
  }
}

/**
 * At the daemon's start, before the state is checked: this device's own changesets that
 * its checkpoint keeps, damaged, are put back from a peer's copy (as `bucky state repair`
 * does), and the state is sealed again, when that is all that was wrong: the start then
 * goes on, with nobody to run a command. Anything else, or no peer answering, is left
 * for the start's own check to refuse, as before (and `bucky state repair` to mend).
 */
export async function mendOwnKeptAtStart(home: string, log: Log, now: () => number): Promise<void> {
  const paths = homePaths(home);
  if (!existsSync(paths.stateDb) || !existsSync(paths.deviceKey)) return;
  // A state that does not even open or read is the start's own check's to report.
  let db: StateDb;
  try {
    db = openStateDb(paths.stateDb, { create: false });
  } catch {
    return;
  }
  try {
    const found = ownDamage(db);
    if (!found) return;
    const { self, damaged } = found;
    const zone = self.zoneId as ZoneId;
    const seed = readKeyFile(paths.deviceKey, "device", log);
    if (deviceIdFromPublicKey(signingKeyFromSeed(seed).publicKey) !== self.deviceId) return;
    try {
      await withPeerSources(db, signingKeyFromSeed(seed), self, now, (sources) =>
        putBackOwnKept(db.$client, self.deviceId, zone, damaged, sources, log),
      );
    } catch (error) {
      // No peer answering, or none keeping them any more (the zone compacted past them).
      if (!(error instanceof BuckyError && ["E_UNAVAILABLE", "E_INTEGRITY"].includes(error.code)))
        throw error;
      log.warn(error.message, { hint: error.hint ?? "" });
      return;
    }
    // Put back byte for byte, the tables match their seal again; only the damage a check
    // recorded there may remain, which the repair clears.
    const seal = StateSeal.fromSeed(seed, self.deviceId as DeviceId);
    if (verifyNow(db.$client, seal, zone).problemCount > 0) return;
    repairState(db, seal, zone, self.deviceName, now(), log);
  } finally {
    db.$client.close();
  }
}

/** This device's record and its damaged kept changesets, if any (none when unreadable). */
function ownDamage(db: StateDb) {
  try {
    const self = db.select().from(node).get();
    if (!self) return undefined;
    const damaged = damagedOwnKept(db.$client, self.deviceId, self.zoneId as ZoneId);
    return damaged.length > 0 ? { self, damaged } : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `work` with this device's peers as sources of the checkpoint's first page (or, of
 * one that compacted since, of this device's changesets it still keeps). */
function withPeerSources<T>(
  db: StateDb,
  key: SigningKey,
  self: { deviceId: string; deviceName: string; zoneId: string },
  now: () => number,
  work: (sources: KeptSource[]) => Promise<T>,
): Promise<T> {
  return withPeersAtRest(db, key, self, now, (client, peers) =>
    work(
      peers.map((peer) => ({
        name: peer.name,
        fetchPage: (request) =>
          client.post(peer, "/v1/sync/checkpoint", request, { repeatable: true }),
        fetchEarlier: (request) =>
          client.post(peer, "/v1/sync/earlier", request, { repeatable: true }),
      })),
    ),
  );
}
