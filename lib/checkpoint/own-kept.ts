/**
 * This device's own changesets that its checkpoint keeps (the one its frontier names, and
 * those holding evidence), put back from a peer's copy when damaged here. A repair cannot
 * drop them as it drops another device's: this device would sign their numbers again,
 * which its peers take for equivocation. But every peer holding the checkpoint keeps the
 * same changesets, and serves them with its first page (checkpointPage): the exact bytes
 * this device signed, checked here against its own key, the frontier's hash and the
 * checkpoint's evidence rows, so a peer can hand back nothing this device did not write
 * into that checkpoint. Only the damaged rows are rewritten: the changesets this device
 * wrote after them (which may be nowhere else) stay as they are.
 *
 * A peer that compacted again while this device was away holds only its newer checkpoint,
 * and refuses a page of this one. It still keeps what that one keeps of this device (the
 * evidence, and each feed's last covered changeset, unless this device wrote past it):
 * those are asked for one by one as a broken chain's are (`/v1/sync/earlier`), and checked
 * the same way. When no peer keeps them any more, that is said as it is: waiting for
 * another device would not bring them back.
 */
import type { Database } from "bun:sqlite";
import { type DecodedChangeset, decodeChangeset } from "../../protocol/changeset.ts";
import { decodePage, encodePageRequest } from "../../protocol/checkpoint.ts";
import type { VerifyKey } from "../../protocol/ed25519.ts";
import { bytesEqual } from "../../protocol/encoding.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { decodeEntries, encodeEarlierRequest } from "../../protocol/sync-messages.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import { peekCheckpointRecord } from "../state/checkpoint-record.ts";
import { statesWithBase } from "../state/checkpoint-rows.ts";
import { isEvidence } from "../state/evidence.ts";
import { CHANGESET_COLUMNS, type ChangesetRecord } from "../state/seal.ts";
import { checkChangeset } from "../state/verify.ts";
import { checkpointReplaced } from "./transfer.ts";

/** A device that may hold the checkpoint: asked for its first page. */
export interface KeptSource {
  readonly name: string;
  /** Asks it for a page of the checkpoint (the encoded request), returning its answer. */
  readonly fetchPage: (request: Uint8Array) => Promise<Uint8Array>;
  /**
   * Asks it for an author's changesets below a seq (an encoded EarlierRequest), returning
   * its answer (encoded entries): for a peer that no longer holds the checkpoint.
   */
  readonly fetchEarlier: (request: Uint8Array) => Promise<Uint8Array>;
}

/** The seqs of this device's kept changesets whose rows do not check out here. */
export function damagedOwnKept(sqlite: Database, device: string, zone: ZoneId): number[] {
  const record = peekCheckpointRecord(sqlite);
  const end = record?.checkpoint.frontier.find((entry) => entry.author === device);
  if (!end) return [];
  const keys = new Map<string, VerifyKey>();
  const damaged: number[] = [];
  for (const row of sqlite
    .query<ChangesetRecord, [string, number]>(
      `SELECT ${CHANGESET_COLUMNS} FROM changesets WHERE author = ?1 AND seq <= ?2 ORDER BY seq`,
    )
    .iterate(device, end.seq)) {
    const checked = checkChangeset(row, undefined, zone, keys);
    if (
      "problem" in checked ||
      (row.seq === end.seq && !bytesEqual(checked.changeset.hash, end.hash))
    )
      damaged.push(row.seq);
  }
  return damaged;
}

/**
 * Puts back the damaged `seqs` of this device's kept changesets from the first source that
 * holds them all, checked. Returns who they came from. Throws E_UNAVAILABLE when none
 * answered with them, and E_INTEGRITY when every one that answered had compacted past the
 * checkpoint and kept them no more (only a backup, or joining again, mends that).
 */
export async function putBackOwnKept(
  sqlite: Database,
  device: string,
  zone: ZoneId,
  seqs: readonly number[],
  sources: readonly KeptSource[],
  log: Log,
): Promise<string> {
  const record = peekCheckpointRecord(sqlite);
  if (!record || seqs.length === 0) throw new Error("nothing of a checkpoint to put back");
  const tried: string[] = [];
  const compactedPast: string[] = [];
  for (const source of sources) {
    let found: Map<number, DecodedChangeset>;
    let replaced = false;
    try {
      let kept: readonly Uint8Array[];
      try {
        const page = decodePage(
          await source.fetchPage(encodePageRequest({ id: record.checkpoint.id, after: "" })),
        );
        kept = page.changesets;
      } catch (error) {
        if (!checkpointReplaced(error)) throw error;
        replaced = true;
        const { held, gone } = await stillHeldBy(source, device, seqs);
        if (gone.length > 0) {
          compactedPast.push(source.name);
          throw new ProtocolError(
            `it compacted past this device's checkpoint since, and keeps no #${gone.join(", #")} of it any more`,
          );
        }
        kept = held;
      }
      found = ownCopies(sqlite, device, zone, seqs, kept);
    } catch (error) {
      if (!(error instanceof BuckyError || error instanceof ProtocolError)) throw error;
      log.debug("a peer's copy of this device's kept changesets was not taken", {
        peer: source.name,
        why: error.message,
      });
      tried.push(`${source.name} (${error.message})`);
      continue;
    }
    sqlite.transaction(() => {
      const rewrite = sqlite.prepare(
        "UPDATE changesets SET hash = ?1, bytes = ?2 WHERE author = ?3 AND seq = ?4",
      );
      for (const [seq, changeset] of found)
        rewrite.run(changeset.hash, changeset.bytes, device, seq);
    })();
    log.info("own kept changesets put back", {
      from: source.name,
      seqs: seqs.join(","),
      ...(replaced ? { via: "earlier" } : {}),
    });
    return source.name;
  }
  const these = `this device's own changeset${seqs.length === 1 ? "" : "s"} #${seqs.join(", #")} that its checkpoint keeps`;
  const are = seqs.length === 1 ? "is" : "are";
  if (compactedPast.length > 0 && compactedPast.length === tried.length)
    throw new BuckyError(
      "E_INTEGRITY",
      `${these} ${are} damaged, and the devices that answered (${compactedPast.join(", ")}) compacted the zone past that checkpoint while this device was away, and keep ${seqs.length === 1 ? "it" : "them"} no more: ${tried.join("; ")}`,
      "Waiting for another device will not bring it back. Restore the home with `bucky backup restore latest` (the daemon stopped), or move it away and join the zone again as a new device.",
    );
  throw new BuckyError(
    "E_UNAVAILABLE",
    `${these} ${are} damaged, and no other device gave a copy of ${seqs.length === 1 ? "it" : "them"}${tried.length > 0 ? `: ${tried.join("; ")}` : " (it knows of none it can call)"}`,
    "Start the daemon of another device of the zone (`bucky daemon` there), then run `bucky state repair` here again.",
  );
}

/**
 * What `source` still holds of this device's changesets `seqs`, each asked for alone (the
 * highest it holds below the next seq), and the seqs it no longer holds.
 */
async function stillHeldBy(
  source: KeptSource,
  device: string,
  seqs: readonly number[],
): Promise<{ held: Uint8Array[]; gone: number[] }> {
  const held: Uint8Array[] = [];
  const gone: number[] = [];
  for (const seq of seqs) {
    const answer = decodeEntries(
      await source.fetchEarlier(
        encodeEarlierRequest({ author: device as DeviceId, below: seq + 1 }),
      ),
    );
    const first = answer.entries[0];
    const changeset = first ? decodeChangeset(first) : undefined;
    if (first && changeset?.author === device && changeset.seq === seq) held.push(first);
    else gone.push(seq);
  }
  return { held, gone };
}

/**
 * This device's changesets `seqs` among those a peer's checkpoint keeps, each checked: the
 * exact bytes this device signed, the one the frontier names by its hash, and writing what
 * the checkpoint's evidence rows say it wrote. Throws a ProtocolError when one is missing
 * or does not check out.
 */
function ownCopies(
  sqlite: Database,
  device: string,
  zone: ZoneId,
  seqs: readonly number[],
  kept: readonly Uint8Array[],
): Map<number, DecodedChangeset> {
  const record = peekCheckpointRecord(sqlite);
  const end = record?.checkpoint.frontier.find((entry) => entry.author === device);
  const wanted = new Set(seqs);
  const found = new Map<number, DecodedChangeset>();
  const keys = new Map<string, VerifyKey>();
  for (const bytes of kept) {
    let changeset: DecodedChangeset;
    try {
      changeset = decodeChangeset(bytes);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      continue;
    }
    if (changeset.author !== device || !wanted.has(changeset.seq)) continue;
    const checked = checkChangeset(
      {
        local_order: 0,
        author: device,
        seq: changeset.seq,
        hash: changeset.hash,
        bytes,
        received_at: 0,
      },
      undefined,
      zone,
      keys,
    );
    if ("problem" in checked)
      throw new ProtocolError(`its copy of #${changeset.seq} does not verify`);
    if (changeset.seq === end?.seq && !bytesEqual(changeset.hash, end.hash))
      throw new ProtocolError(`its #${changeset.seq} is not the one the checkpoint names`);
    found.set(changeset.seq, checked.changeset);
  }
  const missing = seqs.filter((seq) => !found.has(seq));
  if (missing.length > 0)
    throw new ProtocolError(`its checkpoint keeps no #${missing.join(", #")} of this device`);
  // What the checkpoint says each wrote, of the evidence it keeps them for.
  const frontier = record?.frontier ?? new Map<string, number>();
  for (const { checkpoint: row } of statesWithBase(sqlite, frontier)) {
    if (!row || row[4] !== device || !found.has(row[5]) || !isEvidence(row[0])) continue;
    const wrote = found.get(row[5])?.ops.find((op) => op.key === row[0]);
    if (wrote?.value !== row[1])
      throw new ProtocolError(`its #${row[5]} did not write the checkpoint's ${row[0]}`);
  }
  return found;
}
