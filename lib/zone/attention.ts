/**
 * What needs the owner's attention beside the reliability notes, as data: devices and apps
 * without a sandbox, image apps no device can run, app specs this device cannot read, and
 * removals whose purge the owner did not authorise, devices quarantined for
 * equivocation, devices that lost their name to another admitted under it at once,
 * public files past the zone's budget for them, stored files with fewer than two copies,
 * budgets the owner did not sign, and members whose changes another refuses. `bucky status` says each in English
 * (its `warnings`, made from these notes and nothing else: lib/zone/status.ts) and the
 * panel in the viewer's language (lib/panel/overview.tsx); both say every kind through a
 * record keyed by the kinds (ByAttentionKind), so a kind added here is said by both, or
 * the build fails. Types only, and one loop: the panel loads nothing else of it.
 */
import type { UngrantedPurge } from "../apps/purge.ts";
import type { SandboxNote } from "../apps/sandbox-facts.ts";
import type { PublicPastBudgetNote } from "../gateway/public-budget.ts";
import type { ImageNote } from "../images/engine-facts.ts";
import type { StoredFilesAtRiskNote } from "../ndn/stored-files.ts";
import type { UnsignedBudgetNote } from "../state/budgets.ts";
import type { BrokenChainNote } from "../sync/broken-chains.ts";
import type { QuarantineNote, RevokedForkNote } from "../sync/quarantine-notes.ts";
import type { NameClash } from "./name-clashes.ts";
import type { WritesRefusedNote } from "./refused-writes.ts";

/** An app whose spec this device cannot read; `newer` when a newer bucky wrote it. */
export interface UnreadableApp {
  readonly app: string;
  readonly problem: string;
  readonly newer?: true;
}

export interface ZoneAttention {
  /** Devices that cannot sandbox apps, and apps running without a sandbox. */
  readonly sandbox: readonly SandboxNote[];
  /** Image apps no device of the zone runs images for, with the platforms of their image. */
  readonly imageNotes: readonly ImageNote[];
  /** Apps whose spec this device cannot read, run nowhere (a newer bucky's: run by the devices that run it). */
  readonly unreadableApps: readonly UnreadableApp[];
  /** Removals asking for a purge the owner did not authorise (the data is kept), each with who wrote it. */
  readonly ungrantedPurges: readonly UngrantedPurge[];
  /** Devices proven to have signed two histories (the same on every device: the proof travels). */
  readonly quarantined: readonly QuarantineNote[];
  /**
   * Devices revoked, then proven to fork within what the revocation keeps: the owner's to
   * cut again (the same on every device: the proof travels).
   */
  readonly revokedForks: readonly RevokedForkNote[];
  /**
   * Members whose changesets from a peer did not chain to what this device holds, not yet
   * found in a proof (lib/sync/broken-chains.ts): this device's, until the proof is formed.
   */
  readonly brokenChains: readonly BrokenChainNote[];
  /**
   * Devices admitted under a name another device was admitted under at the same time,
   * which lost it (lib/zone/name-clashes.ts): the same on every device.
   */
  readonly nameClashes: readonly NameClash[];
  /**
   * Public files past the zone's budget for them, which no gateway copies or serves
   * (lib/gateway/public-budget.ts): the same on every device.
   */
  readonly publicPastBudget: readonly PublicPastBudgetNote[];
  /**
   * Files stored with `bucky put` that fewer than two devices hold whole, lost with the one
   * that holds them (lib/ndn/stored-files.ts): the same on every device.
   */
  readonly storedFilesAtRisk: readonly StoredFilesAtRiskNote[];
  /**
   * Budgets the state holds that the owner did not sign, passed over for the default
   * (lib/state/budgets.ts): the same on every device.
   */
  readonly unsignedBudgets: readonly UnsignedBudgetNote[];
  /**
   * Members whose changes another member refuses by a write rule (an older bucky, most
   * often), as the refusing device says in its facts (lib/zone/refused-writes.ts): the same
   * on every device.
   */
  readonly writesRefused: readonly WritesRefusedNote[];
}

/** One way of saying each kind of note: a record with a key for every kind. */
export type ByAttentionKind<R> = {
  readonly [K in keyof ZoneAttention]: (note: ZoneAttention[K][number]) => R;
};

/** Each note of `attention`, said by `say`, kind after kind in the order `say` lists them. */
export function sayAttention<R>(attention: ZoneAttention, say: ByAttentionKind<R>): R[] {
  return (Object.keys(say) as (keyof ZoneAttention)[]).flatMap((kind) => {
    // The note and its way of saying are of the same kind: TypeScript cannot follow that.
    const sayOne = say[kind] as (note: unknown) => R;
    return attention[kind].map((note) => sayOne(note));
  });
}
