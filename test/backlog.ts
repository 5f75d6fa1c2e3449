/**
 * Writes many keys into a stopped device's database, signed by its own key, as if it had
 * made those writes itself: a large zone to sync, for tests and benchmarks.
 */
import { join } from "node:path";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { appendLocalChangeset } from "../lib/state/feed.ts";
import { StateSeal } from "../lib/state/seal.ts";
import { openStateDb } from "../lib/store/db.ts";
import { node } from "../lib/store/schema.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../protocol/ids.ts";

/** Writes `changesets` changesets of `keys` keys each, under `bulk/<changeset>/<key>`. */
export function writeBacklog(home: string, changesets: number, keys: number): void {
  const log = createLog({ level: "silent" });
  const seed = readKeyFile(join(home, "identity", "device.key"), "device", log);
  const key = signingKeyFromSeed(seed);
  const seal = StateSeal.fromSeed(seed, deviceIdFromPublicKey(key.publicKey));
  const db = openStateDb(join(home, "state.db"), { create: false });
  try {
    const self = db.select().from(node).get() as { zoneId: string; deviceName: string };
    for (let c = 0; c < changesets; c++) {
      const ops = Array.from({ length: keys }, (_, k) => ({
        key: `bulk/${c}/${k}`,
        value: String(c * keys + k),
      }));
      appendLocalChangeset(
        db,
        { zone: self.zoneId as ZoneId, name: self.deviceName, key, seal },
        ops,
        Date.now(),
      );
    }
  } finally {
    db.$client.close();
  }
}
