/**
 * Whether this device's zone state is still what bucky wrote, checked every time the
 * zone is opened: the seal must verify, and the state rows (and, when a daemon starts,
 * the changeset rows too) must add up to its digests; this device's latest changeset
 * must be the one it sealed. That costs a read of the state and no signature check. If
 * anything is off, a full verification (lib/state/verify.ts) names what, the finding is
 * kept in the seal (so every later open says it at once, even of things only the full
 * verification sees) and the zone is refused until it is mended. A home made before the
 * seal existed is verified in full once, then sealed.
 */
import type { Database } from "bun:sqlite";
import { bytesEqual } from "../../protocol/encoding.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import type { SealFields } from "../../protocol/state-seal.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import { type CheckpointRecord, readCheckpointRecord } from "./checkpoint-record.ts";
import { upgradeStateRules } from "./rules-upgrade.ts";
import {
  CHANGESET_COLUMNS,
  type ChangesetRecord,
  changesetRowOf,
  rowsDigestSteps,
  STATE_COLUMNS,
  type StateRecord,
  type StateSeal,
  stateAltered,
  stateRowOf,
} from "./seal.ts";
import { describeProblems, runThrough, type Verdict, verifyNow } from "./verify.ts";

export interface IntegrityOptions {
  /** Check every changeset row against the seal too (a daemon starting), not only the state. */
  readonly everyRow: boolean;
  readonly nowMs: number;
  readonly log: Log;
}

/** Checks the state against its seal; returns the seal, or throws E_INTEGRITY naming what was altered. */
export function checkIntegrity(
  sqlite: Database,
  seal: StateSeal,
  zone: ZoneId,
  options: IntegrityOptions,
): SealFields {
  // One read transaction: the seal and the tables as of one moment.
  const seen = sqlite.transaction((): Seen => {
    let record: SealFields | undefined;
    try {
      record = seal.read(sqlite);
    } catch (error) {
      if (error instanceof BuckyError && error.code === "E_INTEGRITY") return { kind: "differs" };
      throw error;
    }
    if (!record) return { kind: "unsealed" };
    if (record.damage !== null) return { kind: "damaged", damage: record.damage };
    if (!tablesMatch(sqlite, seal, record, options.everyRow)) return { kind: "differs" };
    return { kind: "sound", record };
  })();
  switch (seen.kind) {
    case "sound":
      // Sound as written: a state worked out under older merge rules is brought to these.
      return upgradeStateRules(sqlite, seal, options.log)
        ? (seal.read(sqlite) as SealFields)
        : seen.record;
    case "damaged":
      throw stateAltered(sqlite.filename, seen.damage);
    case "unsealed":
      return sealFirstTime(sqlite, seal, zone, options);
    case "differs": {
      // A full verification says what, or finds it was only a write landing in between.
      const verdict = verifyNow(sqlite, seal, zone);
      const record = verdict.problemCount === 0 ? seal.read(sqlite) : undefined;
      if (record && record.damage === null) return record;
      throw recordDamage(sqlite, seal, verdict, options.log);
    }
  }
}

type Seen =
  | { kind: "sound"; record: SealFields }
  | { kind: "unsealed" }
  | { kind: "damaged"; damage: string }
  | { kind: "differs" };

/**
 * Keeps what a check found in the seal (the first finding stays until the state is
 * mended) and returns the error to throw.
 */
export function recordDamage(
  sqlite: Database,
  seal: StateSeal,
  verdict: Verdict,
  log: Log,
): BuckyError {
  const found = describeProblems(verdict);
  const what = sqlite
    .transaction(() => {
      let record: SealFields | undefined;
      try {
        record = seal.read(sqlite);
      } catch {
        // Its seal does not verify: the tables as they are, marked damaged, take its place.
      }
      if (record?.damage) return record.damage;
      seal.write(sqlite, { ...verdict.tables, verifiedAt: null, ...record, damage: found });
      // Said at the edge, as the error this returns; the log keeps that it was recorded.
      log.info("zone state found altered", { path: sqlite.filename, found });
      return found;
    })
    .immediate();
  return stateAltered(sqlite.filename, what);
}

/** Notes that a full verification of the state as of `atMs` found nothing wrong. */
export function recordVerified(sqlite: Database, seal: StateSeal, atMs: number): void {
  sqlite
    .transaction(() => {
      const record = seal.read(sqlite);
      if (!record || record.damage !== null) return;
      seal.write(sqlite, { ...record, verifiedAt: atMs });
    })
    .immediate();
}

/** A home made before the seal: verified in full, then sealed (by whoever opens it first). */
function sealFirstTime(
  sqlite: Database,
  seal: StateSeal,
  zone: ZoneId,
  options: IntegrityOptions,
): SealFields {
  const sealed = sqlite
    .transaction(() => {
      const record = seal.read(sqlite);
      if (record) return record;
      const verdict = verifyNow(sqlite, seal, zone);
      if (verdict.problemCount > 0) return verdict;
      seal.write(sqlite, { ...verdict.tables, verifiedAt: options.nowMs, damage: null });
      options.log.info("verified the zone state in full and sealed it", {
        changesets: verdict.tables.changesetRows,
        keys: verdict.tables.stateRows,
      });
      return seal.read(sqlite) as SealFields;
    })
    .immediate();
  if ("problems" in sealed) throw recordDamage(sqlite, seal, sealed, options.log);
  if (sealed.damage) throw stateAltered(sqlite.filename, sealed.damage);
  return upgradeStateRules(sqlite, seal, options.log) ? (seal.read(sqlite) as SealFields) : sealed;
}

/** Whether the tables add up to the seal's digests (one read of each, no signature checks). */
function tablesMatch(
  sqlite: Database,
  seal: StateSeal,
  record: SealFields,
  everyRow: boolean,
): boolean {
  return runThrough(tablesMatchSteps(sqlite, seal, record, everyRow));
}

/** Rows read between two steps. */
const ROWS_PER_STEP = 2000;

/**
 * The steps of checking the tables against the seal `record`: the state rows, this
 * device's head, and every changeset row (`everyRow`) or only their count. The last step
 * says whether they match.
 */
export function* tablesMatchSteps(
  sqlite: Database,
  seal: StateSeal,
  record: SealFields,
  everyRow: boolean,
): Generator<void, boolean, void> {
  const state = yield* rowsDigestSteps(
    sqlite.query<StateRecord, []>(`SELECT ${STATE_COLUMNS} FROM state`).iterate(),
    (row) => seal.stateRowMac(stateRowOf(row)),
    ROWS_PER_STEP,
  );
  if (state.rows !== record.stateRows || !bytesEqual(state.digest, record.stateDigest))
    return false;
  if (!(yield* checkpointMatches(sqlite, seal, everyRow))) return false;
  const ownHead = seal.ownHead(sqlite);
  if (ownHead === null ? record.ownHead !== null : !sameBytes(ownHead, record.ownHead))
    return false;
  if (!everyRow) {
    const count = sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM changesets").get();
    return count?.n === record.changesetRows;
  }
  const changesets = yield* rowsDigestSteps(
    sqlite.query<ChangesetRecord, []>(`SELECT ${CHANGESET_COLUMNS} FROM changesets`).iterate(),
    (row) => seal.changesetRowMac(changesetRowOf(row)),
    ROWS_PER_STEP,
  );
  return (
    changesets.rows === record.changesetRows &&
    bytesEqual(changesets.digest, record.changesetDigest)
  );
}

/**
 * Whether the checkpoint record verifies and checkpoint_base adds up to the digest it
 * keeps (every row read, or only counted).
 */
function* checkpointMatches(
  sqlite: Database,
  seal: StateSeal,
  everyRow: boolean,
): Generator<void, boolean, void> {
  let record: CheckpointRecord | undefined;
  try {
    record = readCheckpointRecord(sqlite, seal);
  } catch (error) {
    if (error instanceof BuckyError && error.code === "E_INTEGRITY") return false;
    throw error;
  }
  if (!everyRow) {
    const count = sqlite
      .query<{ n: number }, []>("SELECT count(*) AS n FROM checkpoint_base")
      .get();
    return count?.n === (record?.baseRows ?? 0);
  }
  const base = yield* rowsDigestSteps(
    sqlite.query<StateRecord, []>(`SELECT ${STATE_COLUMNS} FROM checkpoint_base`).iterate(),
    (row) => seal.baseRowMac(stateRowOf(row)),
    ROWS_PER_STEP,
  );
  return record
    ? base.rows === record.baseRows && bytesEqual(base.digest, record.baseDigest)
    : base.rows === 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array | null): boolean {
  return b !== null && bytesEqual(a, b);
}
