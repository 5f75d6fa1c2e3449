/**
 * A state whose rows were worked out under older merge rules, brought to the current ones
 * once, when it is first opened (before the start check and any daily verification, which
 * work the state out under the current rules and would find it differs). Version 1: of two
 * revocations of one device, the one keeping less stays (protocol/revocation-order.ts);
 * before, the last writer did. Every `devices/<n>/revoked` is worked out again from the
 * checkpoint and the changesets held, through the seal.
 */
import type { Database } from "bun:sqlite";
import { isRevocationKey } from "../../protocol/revocation-order.ts";
import type { Log } from "../log.ts";
import { reapplyKeys } from "./apply.ts";
import type { StateSeal } from "./seal.ts";

/** The version of the merge rules this bucky works the state out under. */
export const STATE_RULES_VERSION = 1;

/** Works out again the keys whose rule changed since the state's version; returns whether it did. */
export function upgradeStateRules(sqlite: Database, seal: StateSeal, log: Log): boolean {
  const keys = sqlite
    .transaction((): number | undefined => {
      if (rulesVersion(sqlite) >= STATE_RULES_VERSION) return undefined;
      const keys = new Set(
        sqlite
          .query<{ key: string }, []>(
            "SELECT key FROM state WHERE key GLOB 'devices/*/revoked' UNION SELECT key FROM checkpoint_base WHERE key GLOB 'devices/*/revoked'",
          )
          .all()
          .map((row) => row.key)
          .filter(isRevocationKey),
      );
      const tally = seal.tally(sqlite);
      reapplyKeys({ $client: sqlite }, tally, keys);
      tally.save();
      sqlite
        .query(
          "INSERT INTO state_rules (id, version) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        )
        .run(STATE_RULES_VERSION);
      return keys.size;
    })
    .immediate();
  if (keys === undefined) return false;
  log.info("worked the zone state out again under this version's rules", {
    rules: STATE_RULES_VERSION,
    keys,
  });
  return true;
}

function rulesVersion(sqlite: Database): number {
  const row = sqlite.query<{ version: number }, []>("SELECT version FROM state_rules").get();
  return row?.version ?? 0;
}
