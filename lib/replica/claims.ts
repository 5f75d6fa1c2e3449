/**
 * Who holds an app's data: each device that took an app over says so in the zone state,
 * under a key only it may write, with an epoch one past the one it took over from:
 *
 *   nodes/<device>/holds/<app>   {epoch, since, from, lostAtMostMs, lostUnknownReason?}
 *
 * The holder is the member (quarantined or not) whose claim has the highest epoch (the
 * lower device id when two devices claimed the same one in a partition). A fact every
 * device reads alike, not a command: a device that sees a higher epoch than its own steps
 * down by itself.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import { checkAppName } from "../../protocol/names.ts";
import { isConflictCopyName } from "../../protocol/replica.ts";
import { isRecord } from "../../protocol/shape.ts";
import { type StateReader, stateRowsMatching } from "../store/reads.ts";
import { type Membership, standingOf } from "../sync/membership.ts";

export interface HolderClaim {
  readonly device: string;
  readonly deviceId: DeviceId;
  readonly epoch: number;
  /** When it took the app over (RFC 3339). */
  readonly since: string;
  /** The snapshot it started from: null when it started with the data it had. */
  readonly from: {
    readonly device: string;
    readonly epoch: number;
    readonly seq: number;
    readonly at: number;
    /** What the snapshot held (its content digest). */
    readonly content?: string;
  } | null;
  /** At most how much of the writes before it took over could have been lost. */
  readonly lostAtMostMs: number | null;
  /**
   * Why that is not known, when it took over from a copy but cannot bound it (it was away
   * itself when the holder went quiet: lib/replica/loss-bound.ts). Its own words.
   */
  readonly lostUnknownReason?: string;
  /** A conflict copy brought back with `bucky app restore-copy`, by name. */
  readonly restoredCopy?: string;
}

/** The most of a claim's reason kept: a member writes it as it likes. */
const MAX_REASON_CHARS = 400;

export const claimKey = (device: string, app: string) => `nodes/${device}/holds/${app}`;

/**
 * Every member's claim on each app, by app; a quarantined member's too. A device proven to
 * sign two histories (a home put back from an older copy, a stolen key) still holds the
 * data it held: its claim stands, the device counted as gone, so a standby takes the app
 * over from its copy, saying how much could be missing, or nobody runs the app. Left out,
 * the app had no holder: it started anew, empty, wherever no copy was.
 */
export function readClaims(db: StateReader, membership: Membership): Map<string, HolderClaim[]> {
  const rows = stateRowsMatching(db, "nodes/*/holds/*");
  const claims = new Map<string, HolderClaim[]>();
  for (const { key, value } of rows) {
    // The pattern matches keys of more segments too (nodes/a/holds/notes/x, nodes/a/x/holds/y):
    // a claim is one at nodes/<device>/holds/<app> alone, of an app's name.
    const [, device, , app, ...rest] = key.split("/");
    if (rest.length > 0 || !app || !checkAppName(app).ok) continue;
    const member = device ? membership.byName.get(device) : undefined;
    const standing = member ? standingOf(membership, member.id) : "unknown";
    if (!value || !member || (standing !== "member" && standing !== "quarantined")) continue;
    const claim = parseClaim(value, device as string, member.id);
    if (!claim) continue;
    claims.set(app, [...(claims.get(app) ?? []), claim]);
  }
  return claims;
}

/** The claim that wins: the highest epoch, then the lower device id. */
export function holderOf(claims: readonly HolderClaim[] | undefined): HolderClaim | undefined {
  let best: HolderClaim | undefined;
  for (const claim of claims ?? [])
    if (
      !best ||
      claim.epoch > best.epoch ||
      (claim.epoch === best.epoch && claim.deviceId < best.deviceId)
    )
      best = claim;
  return best;
}

/** A claim as its device wrote it, or undefined when it is not one. */
export function parseClaim(
  value: string,
  device: string,
  deviceId: DeviceId,
): HolderClaim | undefined {
  try {
    const parsed = JSON.parse(value) as Partial<HolderClaim>;
    if (!Number.isSafeInteger(parsed.epoch) || (parsed.epoch as number) < 1) return undefined;
    return {
      device,
      deviceId,
      epoch: parsed.epoch as number,
      since: typeof parsed.since === "string" ? parsed.since : "",
      from: parseFrom(parsed.from),
      lostAtMostMs: typeof parsed.lostAtMostMs === "number" ? parsed.lostAtMostMs : null,
      ...(typeof parsed.lostUnknownReason === "string" && parsed.lostAtMostMs === null
        ? { lostUnknownReason: parsed.lostUnknownReason.slice(0, MAX_REASON_CHARS) }
        : {}),
      // Shown by `bucky app status` and the panel: only when it is a conflict copy's name.
      ...(typeof parsed.restoredCopy === "string" && isConflictCopyName(parsed.restoredCopy)
        ? { restoredCopy: parsed.restoredCopy }
        : {}),
    };
  } catch {
    return undefined;
  }
}

/** The snapshot a claim says it started from, or null when it does not say one of its shape. */
function parseFrom(value: unknown): HolderClaim["from"] {
  if (!isRecord(value)) return null;
  const { device, epoch, seq, at, content } = value;
  const whole = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (typeof device !== "string" || !whole(epoch) || !whole(seq) || !whole(at)) return null;
  if (content !== undefined && typeof content !== "string") return null;
  return {
    device,
    epoch: epoch as number,
    seq: seq as number,
    at: at as number,
    ...(content !== undefined ? { content } : {}),
  };
}
