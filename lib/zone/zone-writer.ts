import type { Changeset, Op } from "../../protocol/changeset.ts";
import type { SigningKey } from "../../protocol/ed25519.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import type { PurgeGrants, UnsandboxedGrants } from "../apps/owner-grants.ts";
import type { Log } from "../log.ts";
import type { StateSeal } from "../state/seal.ts";
import type { StateDb } from "../store/db.ts";
import type { Membership } from "../sync/membership.ts";

/** What zone administration needs from the running node (the node's context provides it). */
export interface ZoneWriter {
  readonly db: StateDb;
  readonly zoneId: ZoneId;
  readonly deviceId: DeviceId;
  readonly addresses: readonly string[];
  readonly log: Log;
  /** The seal over this device's state: its invitations carry macs under it. */
  readonly seal: StateSeal;
  /** The owner's purge grants, each checked once (lib/apps/owner-grants.ts). */
  readonly purgeGrants: PurgeGrants;
  /** The owner's grants to run a package unsandboxed, each checked once (lib/apps/unsandboxed.ts). */
  readonly unsandboxedGrants: UnsandboxedGrants;
  now(): number;
  membership(): Membership;
  /** Signs, stores, applies and shares a local write. */
  write(ops: readonly Op[]): Changeset;
  /** The owner key; throws E_PERMISSION on a device that does not hold it. */
  ownerKey(): SigningKey;
  /** The zone's backup root, on a device that holds it. */
  backupRoot(): Uint8Array | undefined;
  /**
   * The roots of the zone's backup key epochs (lib/backup/key-epochs.ts) this device opens,
   * by name: an admission with the backup key seals them to the new device too.
   */
  backupEpochRoots?(): ReadonlyMap<string, Uint8Array>;
}
