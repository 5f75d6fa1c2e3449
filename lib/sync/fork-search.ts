/**
 * Finding where two histories of one author part, from a broken chain: a member's
 * changeset whose prev is not the hash this device holds at the seq before shows that the
 * sender holds another history of it below. This device asks the sender for that
 * author's changesets below (lib/sync/exchange.ts changesetsBelow, a bounded few a round)
 * and compares them with its own: the lowest seq where they differ after the same
 * changeset is the fork point, and the two make the proof (protocol/equivocation.ts) that
 * quarantines the author on every device. When the answer reaches no seq where both
 * agree, the next round asks further below.
 */
import { decodeChangeset } from "../../protocol/changeset.ts";
import { bytesEqual } from "../../protocol/encoding.ts";
import { makeProof } from "../../protocol/equivocation.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import type { StateDb } from "../store/db.ts";

/** What comparing a peer's changesets below a broken chain found. */
export type ForkSearch =
  /** The fork point: the proof to take (its signatures are checked where it is taken). */
  | { readonly kind: "proof"; readonly proof: Uint8Array }
  /** They differ down to the lowest sent: ask for those below `below` next. */
  | { readonly kind: "further"; readonly below: number }
  /** Nothing to go on: they agree, or the peer sent nothing this device can compare. */
  | { readonly kind: "none" };

/**
 * Compares `answer` (the peer's changesets of `author`, any order, as it sent them) with
 * what this device holds at the same seqs.
 */
export function searchFork(
  db: StateDb,
  zone: ZoneId,
  author: DeviceId,
  answer: readonly Uint8Array[],
): ForkSearch {
  const theirs = [];
  for (const bytes of answer) {
    try {
      const changeset = decodeChangeset(bytes);
      if (changeset.zone === zone && changeset.author === author) theirs.push(changeset);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  theirs.sort((a, b) => b.seq - a.seq);
  const heldAt = db.$client.prepare<{ hash: Uint8Array; bytes: Uint8Array }, [string, number]>(
    "SELECT hash, bytes FROM changesets WHERE author = ?1 AND seq = ?2",
  );
  let proof: Uint8Array | undefined;
  let lowestDiffering: number | undefined;
  for (const changeset of theirs) {
    const held = heldAt.get(author, changeset.seq);
    // Not held (let go of at a checkpoint, or past this device's head): nothing to compare.
    if (!held) continue;
    // Both hold this one: the histories part above it, where nothing was a fork point.
    if (bytesEqual(new Uint8Array(held.hash), changeset.hash)) break;
    lowestDiffering = changeset.seq;
    try {
      proof = makeProof(new Uint8Array(held.bytes), changeset.bytes).bytes;
      break;
    } catch (error) {
      // Not where they part: they differ below too.
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  if (proof) return { kind: "proof", proof };
  const lowestSent = theirs.at(-1)?.seq;
  if (lowestDiffering !== undefined && lowestDiffering === lowestSent && lowestDiffering > 1)
    return { kind: "further", below: lowestDiffering };
  return { kind: "none" };
}
