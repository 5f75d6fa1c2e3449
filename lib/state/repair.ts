/**
 * Mending an altered zone state from its signed changesets: changesets that do not
 * verify are dropped, with the later ones of their authors (which chain to them), the
 * state is rebuilt from the rest, and both are sealed afresh. What other devices wrote
 * comes back from them at the next sync. This device's own changesets are never dropped:
 * it would sign their numbers again, which its peers take for equivocation. Those its
 * checkpoint keeps are put back from a peer before this runs (lib/zone/repair.ts); a
 * device whose other own changesets are damaged is restored from a backup instead.
 */
import type { Database } from "bun:sqlite";
import type { ZoneId } from "../../protocol/ids.ts";
import { stateKeys } from "../../protocol/state-key.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import type { StateDb } from "../store/db.ts";
import { rebuildState } from "./apply.ts";
import { peekCheckpointRecord, writeCheckpointRecord } from "./checkpoint-record.ts";
import type { StateSeal } from "./seal.ts";
import { describeProblems, verifyNow } from "./verify.ts";

export interface Repair {
  /** Whether anything was wrong (and is now mended). */
  readonly repaired: boolean;
  /** What was found altered. */
  readonly found: readonly string[];
  /** The changesets dropped: they come back from the devices that hold them. */
  readonly dropped: readonly { readonly author: string; readonly seq: number }[];
  /** This device's own changesets put back from a peer's copy (lib/checkpoint/own-kept.ts). */
  readonly restored: readonly { readonly seq: number; readonly from: string }[];
  readonly changesets: number;
  readonly keys: number;
}

/** A chain of drops ends within a few rounds (an author loses membership with a document). */
const MAX_ROUNDS = 8;

const OWN_DAMAGED_HINT =
  "Restore the home with `bucky backup restore latest` (the daemon stopped), or move it " +
  "away and join the zone again as a new device.";

export function repairState(
  db: StateDb,
  seal: StateSeal,
  zone: ZoneId,
  deviceName: string,
  nowMs: number,
  log: Log,
): Repair {
  const sqlite = db.$client;
  return sqlite
    .transaction((): Repair => {
      let verdict = verifyNow(sqlite, seal, zone);
      const damage = recordedDamage(sqlite, seal);
      if (verdict.problemCount === 0 && damage === null)
        return {
          repaired: false,
          found: [],
          dropped: [],
          restored: [],
          changesets: verdict.tables.changesetRows,
          keys: verdict.tables.stateRows,
        };
      const found = verdict.problems.length > 0 ? verdict.problems : [damage as string];
      if (!verdict.checkpointWhole)
        throw new BuckyError(
          "E_INTEGRITY",
          `the zone state in ${sqlite.filename} was altered where its checkpoint holds it (${describeProblems(verdict)}): the changesets it replaced are gone, so it cannot be rebuilt here`,
          OWN_DAMAGED_HINT,
        );
      const record = peekCheckpointRecord(sqlite);
      const frontier = record?.frontier ?? new Map<string, number>();
      const dropped: { author: string; seq: number }[] = [];
      for (let round = 0; verdict.bad.length > 0; round++) {
        if (round === MAX_ROUNDS) throw cannotRepair(sqlite, describeProblems(verdict));
        if (verdict.bad.some((bad) => bad.author === seal.device)) {
          throw new BuckyError(
            "E_INTEGRITY",
            `the zone state in ${sqlite.filename} was altered, and this device's own changesets with it (${describeProblems(verdict)}): rebuilt without them, it would sign their numbers again`,
            OWN_DAMAGED_HINT,
          );
        }
        const drop = sqlite.prepare("DELETE FROM changesets WHERE local_order = ?1");
        for (const bad of verdict.bad) {
          drop.run(bad.localOrder);
          dropped.push({ author: bad.author, seq: bad.seq });
        }
        rebuildState(sqlite, frontier);
        verdict = verifyNow(sqlite, seal, zone, { againstSeal: false });
      }
      rebuildState(sqlite, frontier);
      verdict = verifyNow(sqlite, seal, zone, { againstSeal: false });
      if (verdict.problemCount > 0) throw cannotRepair(sqlite, describeProblems(verdict));
      requireDocuments(sqlite, deviceName);
      if (record)
        writeCheckpointRecord(sqlite, seal, {
          ...record,
          baseDigest: verdict.base.digest,
          baseRows: verdict.base.rows,
        });
      seal.write(sqlite, { ...verdict.tables, verifiedAt: nowMs, damage: null });
      log.info("zone state repaired", {
        found: found[0],
        dropped: dropped.length,
        changesets: verdict.tables.changesetRows,
        keys: verdict.tables.stateRows,
      });
      return {
        repaired: true,
        found,
        dropped,
        restored: [],
        changesets: verdict.tables.changesetRows,
        keys: verdict.tables.stateRows,
      };
    })
    .immediate();
}

/** The damage a check kept in the seal, or null (a seal that does not verify is found anyway). */
function recordedDamage(sqlite: Database, seal: StateSeal): string | null {
  try {
    return seal.read(sqlite)?.damage ?? null;
  } catch {
    return null;
  }
}

/** What is left must still make this device a member of its zone, or it cannot run. */
function requireDocuments(sqlite: Database, deviceName: string): void {
  const held = (key: string) =>
    sqlite
      .query<{ value: string | null }, [string]>("SELECT value FROM state WHERE key = ?1")
      .get(key)?.value;
  if (!held(stateKeys.zoneDocument) || !held(stateKeys.deviceDocument(deviceName))) {
    throw cannotRepair(
      sqlite,
      "the changesets that hold the zone's documents are among the damaged",
    );
  }
}

function cannotRepair(sqlite: Database, why: string): BuckyError {
  return new BuckyError(
    "E_INTEGRITY",
    `the zone state in ${sqlite.filename} cannot be rebuilt from its changesets: ${why}`,
    OWN_DAMAGED_HINT,
  );
}
