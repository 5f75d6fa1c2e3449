/**
 * The zone CA's part on a device holding the owner key: it answers the gateways'
 * requests in the zone state. When a gateway asks and there is no root yet, it makes the
 * root (signed by the owner key too); then, for each request with no current certificate
 * (none, another key or names, or two thirds into its life), it issues one, if the owner
 * approved that gateway for every name it asks (lib/gateway/approval.ts): a member writes
 * its own request, and could otherwise ask for `router.lan` or another gateway's host.
 * It looks whenever a request, an answer or an approval changes, and every ten minutes
 * for renewals.
 */
import { isApprovalKey, notApproved, unapprovedFor } from "../gateway/approval.ts";
import { readKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { renewAt } from "./store.ts";
import {
  issuedKey,
  issueLeaf,
  isZoneCaKey,
  makeRoot,
  readIssued,
  readRequests,
  readRoot,
  rootKey,
  type ZoneRoot,
} from "./zone-ca.ts";

const LOOK_EVERY_MS = 10 * 60_000;

export class ZoneCaIssuer {
  private timer: ReturnType<typeof setInterval> | undefined;
  private unsubscribe: (() => void) | undefined;
  /** What was last refused to each gateway, said once (not at every look). */
  private readonly refused = new Map<string, string>();

  constructor(
    private readonly node: NodeContext,
    private readonly log: Log,
  ) {}

  start(): void {
    if (!this.node.zone.holdsOwnerKey) return;
    this.unsubscribe = this.node.onChange((changesets) => {
      if (changesets.some((c) => c.ops.some((op) => isZoneCaKey(op.key) || isApprovalKey(op.key))))
        queueMicrotask(() => this.look());
    });
    this.timer = setInterval(() => this.look(), LOOK_EVERY_MS);
    this.look();
  }

  stop(): void {
    clearInterval(this.timer);
    this.unsubscribe?.();
  }

  /** The zone's root, made now if there is none (on a device holding the owner key). */
  ensureRoot(): ZoneRoot | undefined {
    const zone = { id: this.node.zoneId, name: this.node.zone.zone.name };
    const existing = readRoot(this.node.db, zone.id, zone.name);
    if (existing || !this.node.zone.holdsOwnerKey) return existing;
    const seed = this.ownerSeed();
    const root = makeRoot(zone, seed, this.node.ownerKey(), this.node.now());
    this.node.write([{ key: rootKey(this.node.deviceName), value: JSON.stringify(root) }]);
    this.log.info("zone CA created", { zone: zone.name });
    return readRoot(this.node.db, zone.id, zone.name);
  }

  private look(): void {
    try {
      const requests = readRequests(this.node.db, this.node.membership());
      if (requests.size === 0) return;
      const root = this.ensureRoot();
      if (!root) return;
      const zone = { id: this.node.zoneId, name: this.node.zone.zone.name };
      const now = this.node.now();
      for (const [gateway, request] of requests) {
        const unapproved = unapprovedFor(this.node, gateway, request);
        if (unapproved.length > 0) {
          const { message } = notApproved(gateway, unapproved);
          if (this.refused.get(gateway) !== message)
            this.log.warn("zone CA refused a request", { gateway, error: message });
          this.refused.set(gateway, message);
          continue;
        }
        this.refused.delete(gateway);
        const issued = readIssued(this.node.db, root, gateway, request);
        if (issued && !dueAgain(issued.validFromDate.getTime(), issued.validToDate.getTime(), now))
          continue;
        let cert: string;
        try {
          cert = issueLeaf(zone, this.ownerSeed(), request, now);
        } catch (error) {
          this.log.warn("zone CA refused a request", {
            gateway,
            error: (error as Error).message,
          });
          continue;
        }
        this.node.write([
          { key: issuedKey(this.node.deviceName, gateway), value: JSON.stringify({ cert }) },
        ]);
        this.log.info("zone CA issued a certificate", {
          gateway,
          names: [...request.dnsNames, ...request.addresses].join(","),
        });
      }
    } catch (error) {
      this.node.diskFull(error);
    }
  }

  private ownerSeed(): Uint8Array {
    return readKeyFile(this.node.zone.paths.ownerKey, "owner", this.log);
  }
}

/**
 * Whether a certificate valid from `fromMs` to `toMs` is to be issued again at `nowMs`:
 * renewal time, or a certificate not valid yet. One issued while this device's clock ran
 * ahead is refused by browsers as not valid yet once the clock is set right, and was kept
 * until its renewal time came by the corrected clock.
 */
export function dueAgain(fromMs: number, toMs: number, nowMs: number): boolean {
  return nowMs >= renewAt(fromMs, toMs) || nowMs < fromMs - NOT_YET_VALID_SLACK_MS;
}

/** How far ahead a certificate's start may be before it counts as not valid yet. */
const NOT_YET_VALID_SLACK_MS = 60_000;
