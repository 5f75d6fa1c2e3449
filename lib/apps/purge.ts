/**
 * Who may purge an app: the owner alone. `bucky app remove --purge` deletes the app's data
 * on its holder, every standby's copy and every conflict copy, zone-wide; any member
 * writes the apps' specs, so a stolen laptop could otherwise destroy every copy of the
 * family's photos in one command.
 *
 * A removal that purges carries the owner's grant in its spec (protocol/app-purge.ts),
 * signed on the device holding the owner key as it writes the removal, and bound to that
 * removal: its app, its time, and the device whose row in the zone state it is. Every
 * device checks it where it reads it, before it deletes anything: a spec saying
 * `purge: true` without a grant for it is a removal that keeps the data, and `bucky status`
 * says so on every device, naming the device that wrote it.
 */

import { ownStatePrefix } from "../../protocol/app-permissions.ts";
import { grantsRemoval, signPurgeGrant } from "../../protocol/app-purge.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { checkAppName } from "../../protocol/names.ts";
import { releasedAppObjectsOps } from "../ndn/stored-files.ts";
import { type StateReader, sqliteOf, stateRowsMatching } from "../store/reads.ts";
import type { Membership } from "../sync/membership.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { ownerKeyToGrant, type PurgeGrants } from "./owner-grants.ts";
import { type AppSpec, appKeys } from "./spec.ts";

/** A removal that asks for a purge the owner did not grant: the device that wrote it. */
export interface UngrantedPurge {
  readonly app: string;
  /** The device whose write it is, by name (its id when it is no member). */
  readonly writtenBy: string;
}

/**
 * Whether the purge `spec` asks for is the owner's: a removal, with a grant the zone's
 * owner signed for exactly this removal, written by the device it names. Only then does a
 * device delete the app's data. `grants` checks each grant's signature once (by app).
 */
export function purgeGranted(db: StateReader, grants: PurgeGrants, spec: AppSpec): boolean {
  if (spec.desired !== "removed" || spec.purge !== true || spec.purgeGrant === undefined)
    return false;
  const author = specAuthor(db, spec.app);
  if (author === undefined) return false;
  const grant = grants.verified(spec.app, spec.purgeGrant);
  return (
    grant !== undefined &&
    grantsRemoval(grant, { app: spec.app, removedAt: spec.updatedAt, author })
  );
}

/** `spec` as every device carries it out: a purge the owner did not grant deletes nothing. */
export function asCarriedOut(db: StateReader, grants: PurgeGrants, spec: AppSpec): AppSpec {
  return spec.purge === true && !purgeGranted(db, grants, spec) ? { ...spec, purge: false } : spec;
}

/**
 * The removals of `specs` asking for a purge the owner did not grant, each with who wrote
 * it. Only of apps whose names are app names: any member writes specs, under any key, and
 * a "name" could be a sentence ("x; the owner must run …") said in the zone's words. No
 * app of such a name was ever installed, so there is no data to keep or purge.
 */
export function ungrantedPurges(
  db: StateReader,
  grants: PurgeGrants,
  membership: Membership,
  specs: readonly AppSpec[],
): UngrantedPurge[] {
  return specs
    .filter((spec) => spec.desired === "removed" && spec.purge === true)
    .filter((spec) => checkAppName(spec.app).ok && !purgeGranted(db, grants, spec))
    .map((spec) => {
      const author = specAuthor(db, spec.app) ?? "";
      return {
        app: spec.app,
        writtenBy: membership.byId.get(author as DeviceId)?.name ?? author,
      };
    });
}

/** What `bucky status` says of one, in the zone's words. */
export function describeUngrantedPurge({ app, writtenBy }: UngrantedPurge): string {
  return `app ${app} was removed with --purge by ${writtenBy}, which the owner did not authorise: its data is kept on every device; to delete it, run \`bucky app remove ${app} --purge\` on the device holding the owner key`;
}

/**
 * The owner's grant for the removal of `app` this device is about to write at `removedAt`:
 * refused on a device that does not hold the owner key, saying where to run it instead.
 */
export function grantPurge(zone: ZoneWriter, app: string, removedAt: string): string {
  const owner = ownerKeyToGrant(zone, {
    message: `only the owner may purge ${app} (delete its data and every copy of it, on every device), and this device does not hold the owner key`,
    hint: `Run \`bucky app remove ${app} --purge\` on the device holding the owner key, or \`bucky app remove ${app}\` without --purge here: the app is removed and its data kept.`,
  });
  return signPurgeGrant({ zone: zone.zoneId, app, device: zone.deviceId, removedAt }, owner).jws;
}

/** How many deletions of a purged app's state go in one changeset (each well within its bounds). */
const STATE_DELETIONS_PER_WRITE = 1_000;

/**
 * Deletes what `app` kept in the zone state, once the owner purged it: the keys it wrote
 * under its own prefix (`apps/<app>/`, through its app API), the records of the objects it
 * stored (every device copies those until they are let go) and the owner's limits for it.
 * They are its data too, and stayed on every device (and in every backup), and a new
 * install of the app read them back. Written by the device that wrote the purge, and by the
 * one that ran the app once it stopped it (a write of the app's after the first would
 * stand); a changeset per thousand. Returns how many were deleted.
 */
export function deletePurgedState(zone: ZoneWriter, app: string): number {
  const deletions = (pattern: string) =>
    stateRowsMatching(zone.db, pattern)
      .filter((row) => row.value !== null)
      .map((row) => ({ key: row.key, value: null }));
  const ops = [
    ...deletions(`${ownStatePrefix(app)}*`),
    ...releasedAppObjectsOps(zone.db, app),
    ...deletions(appKeys.limits(app)),
    ...deletions(appKeys.limit(app, "rps")),
    ...deletions(appKeys.limit(app, "bandwidth")),
  ];
  for (let at = 0; at < ops.length; at += STATE_DELETIONS_PER_WRITE)
    zone.write(ops.slice(at, at + STATE_DELETIONS_PER_WRITE));
  if (ops.length > 0) zone.log.info("app state purged", { app, keys: ops.length });
  return ops.length;
}

/**
 * The device whose write the spec of `app` is (the author of its row), if any: a purge is
 * the spec's own, never a start, stop or removal kept beside it (spec-acts.ts).
 */
function specAuthor(db: StateReader, app: string): string | undefined {
  const row = sqliteOf(db)
    .query<{ author: string }, [string]>("SELECT author FROM state WHERE key = ?")
    .get(appKeys.spec(app));
  return row?.author;
}
