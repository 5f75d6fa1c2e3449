/**
 * Which checkpoints the zone agrees on, read from the zone state: each device writes the
 * checkpoint it computed to its own `nodes/<device>/checkpoint` (an endorsement, signed
 * like any changeset), and a checkpoint that more than half of the members in good
 * standing endorse is agreed. Nobody coordinates: every device reads the same
 * endorsements and counts alike.
 *
 * A device that cannot compute a checkpoint itself (it joins, or was away while the
 * others let the history before it go) takes it on the word of its endorsers: the
 * changesets that carry their endorsements travel with it (an offer), each checked
 * against its author's key, and counted against every member either side knows of.
 */
import {
  type DecodedChangeset,
  decodeChangeset,
  verifyChangeset,
} from "../../protocol/changeset.ts";
import {
  type Checkpoint,
  type CheckpointOffer,
  endorsementKey,
  readEndorsement,
} from "../../protocol/checkpoint.ts";
import { verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { type DeviceId, publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import { type Membership, standingOf } from "../sync/membership.ts";

/** An endorsement held in the zone state. */
export interface Endorsement {
  readonly device: string;
  readonly author: string;
  readonly seq: number;
  readonly checkpoint: Checkpoint;
}

/** Every endorsement the state holds (the latest of each device), by checkpoint id. */
export function readEndorsements(
  rows: readonly { key: string; value: string | null; author: string; seq: number }[],
): Map<string, Endorsement[]> {
  const byId = new Map<string, Endorsement[]>();
  for (const row of rows) {
    const device = row.key.split("/")[1] as string;
    if (row.key !== endorsementKey(device)) continue;
    const checkpoint = readEndorsement(row.value);
    if (!checkpoint) continue;
    const list = byId.get(checkpoint.id) ?? [];
    list.push({ device, author: row.author, seq: row.seq, checkpoint });
    byId.set(checkpoint.id, list);
  }
  return byId;
}

/** Whether more than half of `membership`'s members in good standing are among `endorsers` (ids). */
export function isAgreed(endorsers: Iterable<string>, membership: Membership): boolean {
  const standing = new Set(
    [...membership.byId.keys()].filter((id) => standingOf(membership, id) === "member"),
  );
  const counted = new Set<string>();
  for (const id of endorsers) if (standing.has(id as DeviceId)) counted.add(id);
  return counted.size * 2 > standing.size;
}

/**
 * The members of two views together (this device's and the checkpoint's own): a device
 * either knows of counts, and one revoked or quarantined in either does not stand.
 */
export function unionOf(a: Membership, b: Membership): Membership {
  const byId = new Map(a.byId);
  for (const [id, member] of b.byId) {
    const known = byId.get(id);
    byId.set(
      id,
      known
        ? {
            ...known,
            quarantined: known.quarantined || member.quarantined,
            ...lowest("revokedAfterSeq", known.revokedAfterSeq, member.revokedAfterSeq),
            ...lowest("forkSeq", known.forkSeq, member.forkSeq),
            ...lowest("refusedFromSeq", known.refusedFromSeq, member.refusedFromSeq),
          }
        : member,
    );
  }
  return { byId, byName: new Map([...byId.values()].map((member) => [member.name, member])) };
}

/** `{[field]: the lower of a and b}`, or nothing when neither is set. */
function lowest<K extends string>(
  field: K,
  a: number | undefined,
  b: number | undefined,
): { [key in K]?: number } {
  if (a === undefined && b === undefined) return {};
  return { [field]: Math.min(a ?? Number.POSITIVE_INFINITY, b ?? Number.POSITIVE_INFINITY) } as {
    [key in K]?: number;
  };
}

/**
 * The devices (ids) whose endorsements of the offered checkpoint verify: each a changeset
 * of this zone, signed by its author, a member of `membership`, writing its own
 * endorsement of exactly this checkpoint.
 */
export function offerEndorsers(
  offer: CheckpointOffer,
  zone: ZoneId,
  membership: Membership,
): Set<DeviceId> {
  const endorsers = new Set<DeviceId>();
  for (const bytes of offer.endorsements) {
    let changeset: DecodedChangeset;
    try {
      changeset = decodeChangeset(bytes);
      if (changeset.zone !== zone) continue;
      const member = membership.byId.get(changeset.author);
      if (!member) continue;
      verifyChangeset(
        changeset,
        verifyKeyFromPublicKey(publicKeyOfId(changeset.author, "device") as Uint8Array),
      );
      const op = changeset.ops.find((o) => o.key === endorsementKey(member.name));
      if (op && readEndorsement(op.value)?.id === offer.checkpoint.id)
        endorsers.add(changeset.author);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  return endorsers;
}
