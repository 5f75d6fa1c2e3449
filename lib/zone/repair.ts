/**
 * `bucky state repair`: rebuilds a home's zone state from its signed changesets
 * (lib/state/repair.ts), with its daemon stopped. It needs neither the documents in the
 * state (they may be what was altered) nor a peer: only the node's record and the device
 * key, which must match.
 */
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import { BuckyError } from "../errors.ts";
import { homePaths } from "../home.ts";
import { readKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import { daemonAnswers } from "../node/daemon-client.ts";
import { type Repair, repairState } from "../state/repair.ts";
import { StateSeal } from "../state/seal.ts";
import { openStateDb } from "../store/db.ts";
import { node } from "../store/schema.ts";
import { requireZone } from "./checked-zone.ts";

const RESTORE_HINT =
  "Restore the home with `bucky backup restore latest`, or move it away and join the zone again.";

export async function repairHome(home: string, log: Log, now: () => number): Promise<Repair> {
  const paths = homePaths(home);
  requireZone(paths);
  if (await daemonAnswers(home)) {
    throw new BuckyError(
      "E_UNAVAILABLE",
      "the daemon is running: the zone state cannot be repaired under it",
      "Stop it first (Ctrl-C, or `systemctl --user stop bucky`), then run this again.",
    );
  }
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
    return repairState(
      db,
      StateSeal.fromSeed(seed, self.deviceId as DeviceId),
      self.zoneId as ZoneId,
      self.deviceName,
      now(),
      log,
    );
  } finally {
    db.$client.close();
  }
}
