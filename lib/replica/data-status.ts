/**
 * Where an app's data is, as any device can tell from the zone's facts: the holder and
 * its epoch (and, after a failover, at most how much could have been lost, or why that is
 * not known), each standby
 * and how far behind the holder it is, a takeover due but not claimed yet, and the conflict
 * copies kept anywhere.
 */
import { DEFAULT_STANDBYS } from "../../protocol/app-manifest.ts";
import type { AppSpec } from "../apps/spec.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import type { Holding } from "./holding.ts";

export interface AppDataStatus {
  readonly holder: {
    readonly device: string;
    readonly epoch: number;
    readonly since: string;
    /** At most how much of the writes before the last takeover could have been lost. */
    readonly lostAtMostMs: number | null;
    /**
     * Why that is not known (null: it is, or nothing was taken over from a copy): the
     * device that took over was itself away when the holder went quiet.
     */
    readonly lostUnknownReason: string | null;
    /** When its newest snapshot was taken, as it last said. */
    readonly snapshotAt: string | null;
    /** The conflict copy it took over with, when it was one (`bucky app restore-copy`). */
    readonly restoredCopy: string | null;
  } | null;
  /** How many standbys its manifest asks for (0: its data is on its holder alone, by design). */
  readonly standbysAsked: number;
  readonly standbys: readonly {
    readonly device: string;
    /**
     * The time the copy it has whole holds every write from before, or null: it has none
     * yet. Its snapshot's time, or later once the holder found the data unchanged since
     * that snapshot (which may hold a write made while it was taken).
     */
    readonly snapshotAt: string | null;
    /** How far behind the holder's newest snapshot its copy is. */
    readonly lagMs: number | null;
    /** Bytes it still lacks of the holder's newest snapshot. */
    readonly lagBytes: number | null;
    /**
     * When it last read its whole copy back (lib/replica/follower.ts), as it says; null:
     * not yet. A damaged blob found then is fetched again from the holder at once.
     */
    readonly verifiedAt: string | null;
    /** Blobs of its copy found damaged then and not fetched again yet (0: whole); null: not read back yet. */
    readonly damagedBlobs: number | null;
  }[];
  readonly movingTo: string | null;
  /**
   * The holder has not been heard from within the live window, and `by` is to take the app
   * over, but has not claimed it (lib/replica/zone-holding.ts claimedHolding): it holds
   * back while it still hears the holder itself. Null when no takeover is due.
   */
  readonly takeover: {
    readonly by: string;
    /** How long the holder has not been heard alive; null: it never was, as far as this device knows. */
    readonly holderSilentMs: number | null;
  } | null;
  /** Copies kept because their writes never reached the holder: `bucky app restore-copy`. */
  readonly conflicts: readonly {
    readonly device: string;
    readonly name: string;
    readonly at: string;
    readonly bytes: number;
  }[];
}

export function appDataStatus(
  spec: AppSpec,
  holding: Holding,
  devices: readonly DeviceStanding[],
  takeover: AppDataStatus["takeover"],
): AppDataStatus {
  const app = spec.app;
  const byName = new Map(devices.map((device) => [device.name, device]));
  const holder = holding.holder;
  const held = holder ? byName.get(holder.device)?.facts.replicas?.held[app] : undefined;
  const current = held && held.epoch === holder?.epoch ? held : undefined;
  return {
    holder: holder
      ? {
          device: holder.device,
          epoch: holder.epoch,
          since: holder.since,
          lostAtMostMs: holder.lostAtMostMs,
          lostUnknownReason: holder.lostUnknownReason ?? null,
          snapshotAt: current ? new Date(current.at).toISOString() : null,
          restoredCopy: holder.restoredCopy ?? null,
        }
      : null,
    standbysAsked: spec.manifest.standbys ?? DEFAULT_STANDBYS,
    standbys: holding.standbys.map((device) => {
      const position = current?.standbys[device];
      const copy = byName.get(device)?.facts.replicas?.copies[app];
      return {
        device,
        snapshotAt: position ? new Date(position.at).toISOString() : null,
        lagMs: position ? position.lagMs : null,
        lagBytes: position ? position.lagBytes : null,
        verifiedAt: copy?.verifiedAt === undefined ? null : new Date(copy.verifiedAt).toISOString(),
        damagedBlobs: copy?.damagedBlobs ?? null,
      };
    }),
    movingTo: holding.movingTo ?? null,
    takeover,
    conflicts: devices.flatMap((device) =>
      (device.facts.replicas?.conflicts[app] ?? []).map((copy) => ({
        device: device.name,
        name: copy.name,
        at: copy.at,
        bytes: copy.bytes,
      })),
    ),
  };
}
