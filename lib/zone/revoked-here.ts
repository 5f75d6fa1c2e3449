/**
 * A device the owner revoked learns it, and stops taking part in the zone. Revoked while
 * it was away, it never syncs again (every peer refuses it), so it would never hear of the
 * revocation in the zone state: it would go on running its apps on stale data, taking
 * over apps it was a standby of (it hears nobody alive), and, as a gateway, letting people
 * sign in with passwords changed since and sessions ended since. So each peer's refusal
 * of a revoked device carries the revocation itself (E_REVOKED, `revocation`: the owner's
 * signed word, which no member can forge), and the device, once it checks out against the
 * owner key and names this device, keeps it in `<home>/revoked` and stops its daemon. The
 * same when its own state holds it (heard before the others stopped answering). The
 * daemon does not start again in that home; the home is left as it was.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Revocation, verifyRevocation } from "../../protocol/documents.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { decodeJws } from "../../protocol/jws.ts";
import { isRecord } from "../../protocol/shape.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { BuckyError } from "../errors.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";

/** Where a device keeps the revocation it was told of. */
export const revokedFile = (home: string) => join(home, "revoked");

/** The owner's revocation of `device` the state holds, whatever name it was under. */
export function revocationIn(
  db: StateReader,
  zone: ZoneId,
  device: DeviceId,
): Revocation | undefined {
  const rows = sqliteOf(db)
    .query<{ value: string }, []>(
      "SELECT value FROM state WHERE key GLOB 'devices/*/revoked' AND value IS NOT NULL",
    )
    .all();
  for (const { value } of rows) {
    const revocation = checkedRevocation(jsonOrNothing(value), zone, device);
    if (revocation) return revocation;
  }
  return undefined;
}

/** What a peer answers a device the owner revoked: its revocation, for it to stop. */
export function revokedRefusal(revocation: Revocation): BuckyError {
  return new BuckyError("E_REVOKED", "you are revoked in this zone", undefined, {
    details: { revocation: revocation.jws },
  });
}

/**
 * The revocation of this device (`device` in `zone`) it knows of: kept in its home, or
 * held in its state. Undefined while it is no revoked device.
 */
export function ownRevocation(
  home: string,
  db: StateReader,
  zone: ZoneId,
  device: DeviceId,
): Revocation | undefined {
  const path = revokedFile(home);
  if (existsSync(path)) {
    const kept = checkedRevocation(readFileSync(path, "utf8").trim(), zone, device);
    if (kept) return kept;
  }
  return revocationIn(db, zone, device);
}

/** `jws` when it is the owner's revocation of this device: a peer's word alone is taken for nothing. */
export function checkedRevocation(
  jws: unknown,
  zone: ZoneId,
  device: DeviceId,
): Revocation | undefined {
  if (typeof jws !== "string") return undefined;
  try {
    // The name read first: a peer answering a stranger's requests (any key signs one) checks
    // no signature for it.
    const { payload } = decodeJws(jws);
    if (!isRecord(payload) || payload.id !== device) return undefined;
    const revocation = verifiedRevocation(jws, zone);
    return revocation.id === device ? revocation : undefined;
  } catch (error) {
    if (error instanceof ProtocolError) return undefined;
    throw error;
  }
}

/** Keeps this device's revocation in its home (over anything there that does not check out). */
export function keepRevocation(home: string, revocation: Revocation): void {
  const path = revokedFile(home);
  if (existsSync(path) && readFileSync(path, "utf8").trim() === revocation.jws) return;
  writeFileAtomic(path, `${revocation.jws}\n`, 0o644);
}

/**
 * Refuses a home whose device the owner revoked, with what to do: its daemon does not
 * start, and its status says that alone.
 */
export function refuseIfRevoked(
  home: string,
  db: StateReader,
  zone: ZoneId,
  device: DeviceId,
): void {
  const revocation = ownRevocation(home, db, zone, device);
  if (revocation) throw revokedHereError(revocation);
}

/** The error this device's daemon stops with, and refuses to start with, once revoked. */
export function revokedHereError(revocation: Revocation): BuckyError {
  const at = new Date(revocation.issuedAt * 1000).toISOString();
  return new BuckyError(
    "E_REVOKED",
    `this device, ${revocation.name}, was revoked by the zone's owner (${at}): it takes no part in the zone any more, and its daemon does not run`,
    "Its home is left as it was. To use this machine in the zone again, ask for a new invitation and join it into a new home under a new name (`bucky join <token> --home <dir> --device <name>`: the revoked device's name stays taken).",
  );
}

/**
 * Revocations that checked out, by zone and text: a revoked device's key (a thief's) asking
 * again and again costs a peer no signature check of the revocation each time. Few: one a
 * device the owner revoked.
 */
const verified = new Map<string, Revocation>();
const MAX_VERIFIED = 256;

function verifiedRevocation(jws: string, zone: ZoneId): Revocation {
  const key = `${zone} ${jws}`;
  const known = verified.get(key);
  if (known) return known;
  const revocation = verifyRevocation(jws, zone);
  if (verified.size >= MAX_VERIFIED) verified.clear();
  verified.set(key, revocation);
  return revocation;
}

function jsonOrNothing(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
