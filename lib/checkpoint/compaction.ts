/**
 * The two steps of compacting the zone's history that every device takes alike, whoever
 * runs them (the daemon's Compactor on a timer, tests directly):
 *
 * - endorse: compute this device's checkpoint at a cut and say so in the zone state;
 * - adopt: take the newest checkpoint the zone agreed on that this device can compute
 *   too, and prune the changesets it supersedes.
 */
import type { Op } from "../../protocol/changeset.ts";
import { endorsementKey, endorsementValue } from "../../protocol/checkpoint.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import { type CheckpointRecord, readCheckpointRecord } from "../state/checkpoint-record.ts";
import type { StateSeal } from "../state/seal.ts";
import type { StateDb } from "../store/db.ts";
import type { Membership } from "../sync/membership.ts";
import { adoptComputed, pruneCovered } from "./adopt.ts";
import { type Endorsement, isAgreed, readEndorsements } from "./agreement.ts";
import type { Candidate, Target } from "./candidate.ts";

export interface Compacting {
  readonly db: StateDb;
  readonly seal: StateSeal;
  readonly zone: ZoneId;
  readonly deviceName: string;
  now(): number;
  membership(): Membership;
  /** Writes to the zone state as this device. */
  write(ops: readonly Op[]): void;
  /** Computes a checkpoint on top of `held` (the daemon does it on a snapshot, in slices). */
  compute(held: CheckpointRecord | undefined, target: Target): Promise<Candidate | undefined>;
}

/**
 * Computes this device's checkpoint at `cut` (unless `mine` is it already) and endorses
 * it, if it covers anything new; returns it.
 */
export async function endorseAt(
  c: Compacting,
  cut: number,
  mine?: Candidate,
): Promise<Candidate | undefined> {
  const held = readCheckpointRecord(c.db.$client, c.seal);
  if (cut <= (held?.checkpoint.cut ?? 0)) return undefined;
  const candidate =
    mine?.checkpoint.cut === cut && mine.after === held?.checkpoint.id
      ? mine
      : await c.compute(held, { cut });
  if (!candidate) return undefined;
  const key = endorsementKey(c.deviceName);
  const value = endorsementValue(candidate.checkpoint);
  const current = c.db.$client
    .query<{ value: string | null }, [string]>("SELECT value FROM state WHERE key = ?1")
    .get(key)?.value;
  if (current !== value) c.write([{ key, value }]);
  return candidate;
}

export interface Adopted {
  readonly candidate: Candidate;
  readonly endorsers: readonly string[];
  /** How many changesets it let go of. */
  readonly pruned: number;
}

/**
 * Adopts the newest checkpoint past the one held that more than half of the members in
 * good standing endorse and this device computes alike, and prunes what it supersedes.
 */
export async function adoptAgreed(c: Compacting, mine?: Candidate): Promise<Adopted | undefined> {
  const sqlite = c.db.$client;
  const held = readCheckpointRecord(sqlite, c.seal);
  const endorsed = readEndorsements(
    sqlite
      .query<{ key: string; value: string | null; author: string; seq: number }, []>(
        "SELECT key, value, author, seq FROM state WHERE key GLOB 'nodes/*/checkpoint'",
      )
      .all(),
  );
  const newest = [...endorsed.values()]
    .filter((list) => (list[0]?.checkpoint.cut ?? 0) > (held?.checkpoint.cut ?? 0))
    .sort((a, b) => (b[0]?.checkpoint.cut ?? 0) - (a[0]?.checkpoint.cut ?? 0));
  const membership = c.membership();
  for (const endorsements of newest) {
    const checkpoint = (endorsements[0] as Endorsement).checkpoint;
    if (
      !isAgreed(
        endorsements.map((e) => e.author),
        membership,
      )
    )
      continue;
    const candidate =
      mine?.checkpoint.id === checkpoint.id && mine.after === held?.checkpoint.id
        ? mine
        : await c.compute(held, { checkpoint });
    if (!candidate) continue;
    const bytes = endorsements.flatMap((endorsement) => {
      const row = sqlite
        .query<{ bytes: Uint8Array }, [string, number]>(
          "SELECT bytes FROM changesets WHERE author = ?1 AND seq = ?2",
        )
        .get(endorsement.author, endorsement.seq);
      return row ? [new Uint8Array(row.bytes)] : [];
    });
    if (!adoptComputed(c.db, c.seal, candidate, bytes, c.now())) continue;
    return {
      candidate,
      endorsers: endorsements.map((e) => e.device),
      pruned: pruneCovered(c.db, c.seal),
    };
  }
  return undefined;
}
