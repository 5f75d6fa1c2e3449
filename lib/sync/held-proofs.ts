/**
 * The equivocation proofs held (the `quarantine` table) that prove what they claim. The
 * table is not sealed (lib/state/seal.ts covers `state` and `changesets`), so a row is
 * counted only when its halves rebuild into a proof (protocol/equivocation.ts) of that
 * row's device and seq, of this zone, that the device's key signed: whoever can write the
 * database but not sign as a device cannot quarantine an honest one. A row's verdict is
 * kept by the digest of its bytes, so membership, read at every batch, stays cheap.
 */
import { createHash } from "node:crypto";
import { verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { decodeProof, makeProof, verifyProof } from "../../protocol/equivocation.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { type DeviceId, publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";

/** The most verdicts remembered; past that they are forgotten and checked again. */
const MAX_VERDICTS = 4096;
const verdicts = new Map<string, boolean>();

interface Row {
  readonly device: string;
  readonly seq: number;
  readonly kept: Uint8Array;
  readonly conflicting: Uint8Array;
}

/** Each device with a proof held that verifies, and the proof's seq (where the histories part). */
export function provenForks(db: StateReader, zone: ZoneId): Map<DeviceId, number> {
  const rows = sqliteOf(db)
    .query<Row, []>("SELECT device_id AS device, seq, kept, conflicting FROM quarantine")
    .all();
  const forks = new Map<DeviceId, number>();
  for (const row of rows) if (proves(row, zone)) forks.set(row.device as DeviceId, row.seq);
  return forks;
}

/**
 * The seq of the proof held of `device` that verifies, if any: one row read (none at all
 * when none is held), for the checks made at every local write.
 */
export function provenFork(db: StateReader, zone: ZoneId, device: DeviceId): number | undefined {
  const row = sqliteOf(db)
    .query<Row, [string]>(
      "SELECT device_id AS device, seq, kept, conflicting FROM quarantine WHERE device_id = ?",
    )
    .get(device);
  return row && proves(row, zone) ? row.seq : undefined;
}

function proves(row: Row, zone: ZoneId): boolean {
  const kept = new Uint8Array(row.kept);
  const conflicting = new Uint8Array(row.conflicting);
  const key = createHash("sha256")
    .update(`bucky-quarantine-row/${zone}/${row.device}/${row.seq}/${kept.length}\n`)
    .update(kept)
    .update(conflicting)
    .digest("base64");
  const known = verdicts.get(key);
  if (known !== undefined) return known;
  const verdict = verifies(row, kept, conflicting, zone);
  if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
  verdicts.set(key, verdict);
  return verdict;
}

function verifies(row: Row, kept: Uint8Array, conflicting: Uint8Array, zone: ZoneId): boolean {
  try {
    const proof = decodeProof(makeProof(kept, conflicting).bytes);
    if (proof.zone !== zone || proof.device !== row.device || proof.seq !== row.seq) return false;
    verifyProof(proof, verifyKeyFromPublicKey(publicKeyOfId(proof.device, "device") as Uint8Array));
    return true;
  } catch (error) {
    if (error instanceof ProtocolError) return false;
    throw error;
  }
}
