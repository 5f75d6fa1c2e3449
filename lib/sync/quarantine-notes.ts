/**
 * The devices quarantined, as `bucky status` says them: read from membership alone, so
 * status's path with no node running loads nothing of the store (no drizzle).
 */
import type { Database } from "bun:sqlite";
import { decodeChangeset } from "../../protocol/changeset.ts";
import {
  type CheckpointRow,
  decodeCheckpoint,
  frontierSeqs,
  rowsOf,
  rowWins,
} from "../../protocol/checkpoint.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { listInSentence } from "../sentence.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import type { Membership } from "./membership.ts";

/**
 * A device quarantined, for `bucky status`: who, and the seq its histories part at (every
 * device refuses its changesets from there on).
 */
export interface QuarantineNote {
  readonly device: string;
  readonly seq: number;
}

/**
 * The devices quarantined and not revoked, by name, for `bucky status`: the same wherever
 * the proof is.
 */
export function quarantineNotes(membership: Membership): QuarantineNote[] {
  const notes: QuarantineNote[] = [];
  for (const member of membership.byId.values()) {
    // A device revoked since needs nothing more of the owner.
    if (member.forkSeq === undefined || member.revokedAfterSeq !== undefined) continue;
    notes.push({ device: member.name, seq: member.forkSeq });
  }
  return notes.sort((a, b) => compareCodeUnits(a.device, b.device));
}

/**
 * A device revoked, then proven to have signed two histories within what its revocation
 * keeps (at `seq`): devices may hold either history there (a thief's second one too) until
 * the owner revokes it again, keeping #1 to `recutSeq` (0: it parts at its first change,
 * which no revocation cuts below). That drops what it wrote past it on every device, and
 * the devices whose admission was written there (`admitted`, by name).
 */
export interface RevokedForkNote {
  readonly device: string;
  readonly keptSeq: number;
  readonly seq: number;
  readonly recutSeq: number;
  readonly admitted: readonly string[];
}

/** The revoked devices proven to fork within what their revocation keeps, by name. */
export function revokedForkNotes(db: StateReader, membership: Membership): RevokedForkNote[] {
  const notes: RevokedForkNote[] = [];
  for (const member of membership.byId.values()) {
    const { revokedAfterSeq, forkSeq, recutSeq } = member;
    if (revokedAfterSeq === undefined || forkSeq === undefined || recutSeq === undefined) continue;
    const admitted = droppedByRecut(sqliteOf(db), membership, member.id, recutSeq);
    notes.push({ device: member.name, keptSeq: revokedAfterSeq, seq: forkSeq, recutSeq, admitted });
  }
  return notes.sort((a, b) => compareCodeUnits(a.device, b.device));
}

/**
 * The devices (by name) a revocation of `id` keeping #1 to `keptSeq` would take out of
 * the zone, read without writing, as lib/sync/cut.ts's drop would do it: each device
 * document goes back to what the checkpoint and the changesets held that stay give it;
 * a device whose document that changes is no member, and what it wrote past the
 * checkpoint goes too, and so on. A device whose document something that stays wrote
 * (again) stays, and is not named.
 */
function droppedByRecut(
  sqlite: Database,
  membership: Membership,
  id: string,
  keptSeq: number,
): string[] {
  const held = sqlite.query<{ body: Uint8Array }, []>("SELECT body FROM checkpoint").get();
  const frontier = held ? frontierSeqs(decodeCheckpoint(new Uint8Array(held.body))) : new Map();
  const covered = (author: string, seq: number) => seq <= (frontier.get(author) ?? 0);
  // Each device document now, and where its value starts again (the checkpoint's row).
  const documents = sqlite
    .query<
      {
        key: string;
        value: string | null;
        hlc_ms: number;
        hlc_counter: number;
        author: string;
        seq: number;
      },
      []
    >(
      "SELECT key, value, hlc_ms, hlc_counter, author, seq FROM state WHERE key >= 'devices/' AND key < 'devices/\x7f' AND key GLOB 'devices/*/doc'",
    )
    .all();
  const base = sqlite.prepare<CheckpointRow, [string]>(
    "SELECT key, value, hlc_ms, hlc_counter, author, seq FROM checkpoint_base WHERE key = ?1",
  );
  const startOf = new Map<string, CheckpointRow | undefined>();
  for (const row of documents) {
    const kept = base.values(row.key)[0] as CheckpointRow | undefined;
    startOf.set(
      row.key,
      kept ??
        (covered(row.author, row.seq)
          ? [row.key, row.value, row.hlc_ms, row.hlc_counter, row.author, row.seq]
          : undefined),
    );
  }
  // The writes of device documents past the checkpoint, in the order they were applied.
  const writes: CheckpointRow[] = [];
  for (const { bytes } of sqlite
    .query<{ bytes: Uint8Array }, []>("SELECT bytes FROM changesets ORDER BY local_order")
    .iterate()) {
    const changeset = decodeChangeset(new Uint8Array(bytes));
    if (covered(changeset.author, changeset.seq)) continue;
    for (const row of rowsOf(changeset)) if (startOf.has(row[0])) writes.push(row);
  }
  const cut = new Map<string, number>([[id, keptSeq]]);
  const gone = new Set<string>();
  for (;;) {
    const before = gone.size;
    for (const { key, value } of documents) {
      const name = key.split("/")[1] ?? key;
      if (value === null || gone.has(name)) continue;
      let after = startOf.get(key);
      for (const write of writes) {
        if (write[0] !== key || write[5] > (cut.get(write[4]) ?? Number.POSITIVE_INFINITY))
          continue;
        if (!after || rowWins(write, after)) after = write;
      }
      if (after?.[1] === value) continue;
      gone.add(name);
      const member = membership.byName.get(name);
      if (member && !cut.has(member.id)) cut.set(member.id, frontier.get(member.id) ?? 0);
    }
    if (gone.size === before) break;
  }
  const self = [...membership.byId.values()].find((member) => member.id === id)?.name;
  return [...gone].filter((name) => name !== self).sort(compareCodeUnits);
}

/** A revoked device proven to fork within what its revocation keeps, in English. */
export function describeRevokedFork(note: RevokedForkNote): string {
  const { device, keptSeq, seq, recutSeq, admitted } = note;
  if (recutSeq < 1)
    return `device ${device} was revoked keeping #1–#${keptSeq}, but its history parts at #1 (two different first changesets): no revocation can keep less; each device keeps what it holds of it`;
  const also =
    admitted.length === 0
      ? ""
      : `, including the devices it admitted then: ${listInSentence(admitted)}, which must be invited again`;
  return `device ${device} was revoked keeping #1–#${keptSeq}, but its history parts at #${seq}: revoke it again (\`bucky devices revoke ${device}\` on a device holding the owner key) to keep #1–#${recutSeq}; this drops what it wrote from #${recutSeq + 1} on, on every device${also}`;
}
