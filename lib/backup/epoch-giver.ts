/**
 * The daemon's part in giving key epochs on (epoch-grants.ts): it looks whether a member
 * whose facts say it holds the backup key is left out of an epoch this device opens, and
 * gives it, once; and, holding the owner key, whether the newest epoch is still sealed to a
 * revoked device, and renews it (lib/zone/devices.ts renewOpenKeyEpoch). It looks when that can have changed, not on a timer: when a device's
 * facts come to say (or prove anew) that it holds the key, when the zone's epochs, members
 * or grants change, and at start. An idle zone costs it nothing.
 */
import type { Changeset } from "../../protocol/changeset.ts";
import type { DeviceFacts } from "../../protocol/device-facts.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { readPayload } from "../facts/payload.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { renewOpenKeyEpoch } from "../zone/devices.ts";
import { epochGrantOps } from "./epoch-grants.ts";
import { newestOpenToRevoked } from "./key-epochs.ts";

/** Changes batched into one look: a page of facts or changesets comes at once. */
const SOON_MS = 100;
/** A look that failed (a disk full, say) is tried again after this long. */
const RETRY_MS = 60_000;

export class EpochGiver {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly stops: (() => void)[] = [];
  /** What each device's facts last said of the backup key (its proof, or nothing). */
  private readonly saidKey = new Map<DeviceId, string | undefined>();
  /**
   * The revoked devices a renewal shut out already: one found open again (a member writing
   * grants to it) is said, not renewed for again, so no member makes the owner's device
   * draw epochs without end.
   */
  private readonly renewedFor = new Set<DeviceId>();
  private stopped = false;

  constructor(
    private readonly node: NodeContext,
    private readonly log: Log,
  ) {}

  start(): void {
    const { node } = this;
    this.stops.push(
      node.onChange((changesets) => {
        if (mayChangeGiving(changesets)) this.soon(SOON_MS);
      }),
      node.onRebase(() => this.soon(SOON_MS)),
      node.onFactsArrived((records) => {
        if (records.some((record) => this.keySaidAnew(record))) this.soon(SOON_MS);
      }),
    );
    this.look();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const stop of this.stops.splice(0)) stop();
  }

  /** Whether `record` says something new of its device's backup key. */
  private keySaidAnew(record: DeviceFacts): boolean {
    const backup = readPayload(record.facts).backup;
    const said = backup?.key === true ? backup.keyProof : undefined;
    const before = this.saidKey.get(record.device);
    this.saidKey.set(record.device, said);
    return said !== undefined && said !== before;
  }

  private soon(ms: number): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.look();
    }, ms);
    this.timer.unref?.();
  }

  private look(): void {
    const { node } = this;
    // First, on a device holding the owner key: a newest epoch still open to a revoked
    // device (two revocations at once) is renewed, and what follows gives the new one. On
    // its own: one that keeps failing holds no giving back.
    if (node.zone.holdsOwnerKey) {
      try {
        const open = newestOpenToRevoked(node.db, node.zoneId, node.membership());
        if (open.some((id) => !this.renewedFor.has(id))) {
          renewOpenKeyEpoch(node, open);
          for (const id of open) this.renewedFor.add(id);
        } else if (open.length > 0)
          this.log.warn(
            "the newest backup key is open to a revoked device again: not renewed again",
            {
              devices: open.join(","),
            },
          );
      } catch (error) {
        this.log.warn("could not renew the backup key", { why: (error as Error).message });
        this.soon(RETRY_MS);
      }
    }
    try {
      const phraseRoot = node.backupRoot();
      if (!phraseRoot) return;
      const ops = epochGrantOps({
        phraseRoot,
        db: node.db,
        zone: node.zoneId,
        giver: { id: node.deviceId, name: node.deviceName },
        membership: node.membership(),
        roots: () => node.backupEpochRoots(),
      });
      if (ops.length === 0) return;
      node.write(ops);
      this.log.info("backup key epochs given to devices left out of them", {
        grants: ops.length,
        keys: ops.map((op) => op.key.split("/").slice(3).join("/")).join(","),
      });
    } catch (error) {
      // The device left out says what it lacks meanwhile.
      this.log.warn("could not give backup key epochs on", { why: (error as Error).message });
      this.soon(RETRY_MS);
    }
  }
}

/**
 * Whether applied changesets may change who is left out of which epoch: the epochs, the
 * members (documents, revocations), the grants given (this device's own roots among them).
 * No changesets at all is a batch of proofs that quarantined a device.
 */
function mayChangeGiving(changesets: readonly Changeset[]): boolean {
  if (changesets.length === 0) return true;
  return changesets.some((changeset) =>
    changeset.ops.some(
      (op) =>
        op.key.startsWith("devices/") ||
        op.key.startsWith("system/backup/key-epochs/") ||
        (op.key.startsWith("nodes/") && op.key.includes("/backup-epoch-grants/")),
    ),
  );
}
