/**
 * Whose word a snapshot is. Every holder of the zone's backup key (every device that backs
 * up, and a revoked one that kept it) can write a snapshot in any device's name; only the
 * device's own key can sign one. A snapshot is trusted when it is signed, for itself, by
 * the key of the device it is filed under, by the zone's owner-signed device documents,
 * and that device is a member in good standing (not revoked, not quarantined). A restore
 * takes no one else's data; `bucky backup list` and `verify` say which fail, and why.
 */
import type { Snapshot } from "../../protocol/backup/formats.ts";
import {
  checkSnapshotSignature,
  type SnapshotSignature,
} from "../../protocol/backup/snapshot-signature.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { type Membership, standingOf } from "../sync/membership.ts";

export interface NamedSnapshot {
  readonly name: string;
  readonly snapshot: Snapshot;
}

/**
 * What a snapshot's check found:
 *   signed       signed by the device it names, a member of the zone (or, with no zone to
 *                check against, by the key its signature names)
 *   unsigned     made by an older bucky: nothing says who wrote it
 *   forged       a signature that does not hold, is for another snapshot, or is another
 *                device's key; or a snapshot of another zone
 *   revoked      signed by the device it names, which the owner revoked
 *   quarantined  signed by the device it names, which the zone caught equivocating
 *   unknown      filed under a name no device of the zone has
 */
export type SnapshotTrust =
  | "signed"
  | "unsigned"
  | "forged"
  | "revoked"
  | "quarantined"
  | "unknown";

export interface SnapshotCheck {
  readonly trust: SnapshotTrust;
  /** The device whose key signed it: its name in the zone, else its id; null if none did. */
  readonly signedBy: string | null;
  /** Why it is not trusted, in words; "" when it is. */
  readonly why: string;
}

/** The zone a snapshot is checked against: its id and devices. */
export interface SnapshotJudge {
  readonly zone: ZoneId;
  readonly membership: Membership;
}

/**
 * Each snapshot's signature checked once against one zone (two Ed25519 verifications: its
 * record and its device document), however often a restore asks: what the signature says
 * depends on the snapshot and the zone only, not on the zone state it is judged by.
 */
export class SnapshotSignatures {
  private readonly checked = new Map<string, SnapshotSignature>();

  constructor(readonly zone: ZoneId | undefined) {}

  of(entry: NamedSnapshot): SnapshotSignature {
    let signature = this.checked.get(entry.name);
    if (!signature) {
      signature = checkSnapshotSignature(entry.name, entry.snapshot, this.zone);
      this.checked.set(entry.name, signature);
    }
    return signature;
  }
}

export function checkSnapshot(
  entry: NamedSnapshot,
  judge: SnapshotJudge | undefined,
  /** Signatures checked already, used when checked against the judge's zone. */
  signatures?: SnapshotSignatures,
): SnapshotCheck {
  const { name, snapshot } = entry;
  const signature =
    signatures && signatures.zone === judge?.zone
      ? signatures.of(entry)
      : checkSnapshotSignature(name, snapshot, judge?.zone);
  if (signature.kind === "unsigned")
    return {
      trust: "unsigned",
      signedBy: null,
      why:
        snapshot.signed === undefined
          ? "it is unsigned (made by an older bucky): nothing says which device wrote it"
          : "its signature is of a newer bucky's form, which this one cannot check",
    };
  const signer = signature.by && judge?.membership.byId.get(signature.by);
  const signedBy = signer ? signer.name : (signature.by ?? null);
  if (signature.kind === "forged") return { trust: "forged", signedBy, why: signature.why };
  if (!judge) return { trust: "signed", signedBy, why: "" };
  if (snapshot.zone !== judge.zone)
    return { trust: "forged", signedBy, why: `it names another zone (${snapshot.zone})` };
  const named = judge.membership.byName.get(snapshot.device);
  if (named?.id !== signature.by)
    return {
      trust: named ? "forged" : "unknown",
      signedBy,
      why: named
        ? `it is signed by ${signer ? signer.name : "a key that is no device of the zone"}, not by ${snapshot.device}`
        : `${snapshot.device} is not a device of the zone`,
    };
  const standing = standingOf(judge.membership, named.id);
  if (standing === "revoked")
    return { trust: "revoked", signedBy, why: `${snapshot.device} was revoked` };
  if (standing === "quarantined")
    return { trust: "quarantined", signedBy, why: `${snapshot.device} is quarantined` };
  return { trust: "signed", signedBy, why: "" };
}

/**
 * How far past a restore's now a snapshot may be dated (clocks differ): one dated later is
 * no device's newest, only a holder of the backup key making its own come first.
 */
export const SNAPSHOT_AHEAD_ALLOWANCE_MS = 10 * 60_000;

/** Whether `snapshot` is dated no later than `nowMs` and the allowance (and at a time at all). */
export function datedByNow(snapshot: Snapshot, nowMs: number): boolean {
  return Date.parse(snapshot.time) <= nowMs + SNAPSHOT_AHEAD_ALLOWANCE_MS;
}

/** The newest snapshot of each device, by device name, among `all`. */
export function newestByDevice(all: readonly NamedSnapshot[]): Map<string, NamedSnapshot> {
  const newest = new Map<string, NamedSnapshot>();
  for (const entry of all) {
    const known = newest.get(entry.snapshot.device);
    if (!known || compareCodeUnits(entry.snapshot.time, known.snapshot.time) > 0)
      newest.set(entry.snapshot.device, entry);
  }
  return newest;
}

/** A snapshot a restore did not take, though it was the newest of its device. */
export interface LeftOut {
  readonly snapshot: string;
  readonly device: string;
  readonly time: string;
  readonly trust: Exclude<SnapshotTrust, "signed">;
  readonly signedBy: string | null;
  readonly why: string;
}

/**
 * The newest trusted snapshot of each device, and, of each device, the newest snapshot
 * left out that is newer than the one taken (what was taken before snapshots were signed).
 */
export function trustedNewest(
  all: readonly NamedSnapshot[],
  judge: SnapshotJudge,
  signatures?: SnapshotSignatures,
): { newest: Map<string, NamedSnapshot>; leftOut: LeftOut[] } {
  const checks = new Map(all.map((entry) => [entry.name, checkSnapshot(entry, judge, signatures)]));
  const newest = newestByDevice(all.filter((s) => checks.get(s.name)?.trust === "signed"));
  const untrusted = all.filter((s) => {
    const taken = newest.get(s.snapshot.device);
    return (
      checks.get(s.name)?.trust !== "signed" &&
      (!taken || compareCodeUnits(s.snapshot.time, taken.snapshot.time) > 0)
    );
  });
  const leftOut = [...newestByDevice(untrusted).values()]
    .map((s) => {
      const check = checks.get(s.name) as SnapshotCheck;
      return {
        snapshot: s.name,
        device: s.snapshot.device,
        time: s.snapshot.time,
        trust: check.trust as LeftOut["trust"],
        signedBy: check.signedBy,
        why: check.why,
      };
    })
    .sort((a, b) => compareCodeUnits(a.device, b.device));
  return { newest, leftOut };
}
