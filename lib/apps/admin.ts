/**
 * Installing, starting, stopping and removing apps: each is a write of the app's spec to
 * the zone state. Nothing runs here: every device's convergence loop reads the specs and
 * does its share.
 */

import { type AppManifest, isImageRun } from "../../protocol/app-manifest.ts";
import type { Op } from "../../protocol/changeset.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import type { ObjectStore } from "../ndn/store.ts";
import { releasedAppObjectsOps } from "../ndn/stored-files.ts";
import { readHoldingFacts } from "../replica/zone-holding.ts";
import { listInSentence } from "../sentence.ts";
import { refuseOutcast, standingOf } from "../sync/membership.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import type { AppArchives } from "./app-archive.ts";
import { installOp } from "./install-record.ts";
import { packDirectory, readPackage } from "./package-dir.ts";
import { deletePurgedState, grantPurge, purgeGranted } from "./purge.ts";
import { devicesWithoutSandbox } from "./sandbox-facts.ts";
import { type AppSpec, appKeys, type DesiredState, readSpec, unreadableSpec } from "./spec.ts";
import {
  appActOps,
  carriedActOps,
  desiredActOp,
  moveActOp,
  restoreCopyActOp,
  writtenWithActs,
} from "./spec-acts.ts";
import { grantUnsandboxed, unsandboxedGranted } from "./unsandboxed.ts";
import { startedSomewhere } from "./upgrade-rollback.ts";

export interface Installed {
  readonly app: string;
  readonly version: string;
  readonly package: ObjectId;
  /** Where it is placed: a device name, or "any". */
  readonly device: string;
  readonly upgradedFrom: string | null;
  /** The owner let it run without a sandbox where there is none. */
  readonly unsandboxed: boolean;
  /** An image app's image, by its digest. */
  readonly image?: string;
}

/** Where to place an app and what the owner allows it, as `bucky app install` says. */
export interface InstallOptions {
  /** A device name (default: the manifest's placement). */
  readonly device?: string;
  /** Let it run without a sandbox on a device that cannot give it one. */
  readonly unsandboxed?: boolean;
}

/** Installs the app in a directory (packed, then stored as named data). */
export function installApp(
  zone: ZoneWriter,
  store: ObjectStore,
  dir: string,
  options: InstallOptions = {},
): Installed {
  const { manifest, bytes } = packDirectory(dir);
  return installPackage(zone, store, manifest, bytes, options);
}

/**
 * Installs an app from a directory archive (a .tar or .tar.gz of the app's directory, or
 * of one directory holding it), as it arrives: see app-archive.ts.
 */
export function installArchive(
  zone: ZoneWriter,
  store: ObjectStore,
  archives: AppArchives,
  archive: Uint8Array | AsyncIterable<Uint8Array>,
  options: InstallOptions = {},
): Promise<Installed> {
  return archives.with(archive, (dir) => installApp(zone, store, dir, options));
}

/**
 * Installs an app from a package already stored as named data, by its id; `alongside` is
 * written in the same changeset as its spec (what the zone records of where it came from),
 * so no device ever has the one without the other.
 */
export function installStoredPackage(
  zone: ZoneWriter,
  store: ObjectStore,
  id: ObjectId,
  options: InstallOptions = {},
  alongside: readonly Op[] = [],
): Installed {
  const bytes = store.readObject(id);
  if (!bytes) {
    throw new BuckyError(
      "E_NOT_FOUND",
      `no package ${id} on this device`,
      "Store it first (`bucky put package.bucky`), or install from the app's directory.",
    );
  }
  return installPackage(zone, store, readPackage(bytes).manifest, bytes, options, alongside);
}

function installPackage(
  zone: ZoneWriter,
  store: ObjectStore,
  manifest: AppManifest,
  bytes: Uint8Array,
  options: InstallOptions,
  alongside: readonly Op[] = [],
): Installed {
  if (isImageRun(manifest.run))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${manifest.id} runs the image ${manifest.run.image}: install it from its directory or manifest file`,
      "`bucky app install <dir or bucky-app.json>` fetches its image into the zone.",
    );
  const placement = checkPlacement(zone, manifest, options);
  const unsandboxed = options.unsandboxed === true;
  if (!unsandboxed) {
    const bare = devicesWithoutSandbox(
      zone.db,
      zone.membership(),
      placement,
      manifest.network === "outbound",
    );
    if (bare.length > 0) {
      throw new BuckyError(
        "E_PERMISSION",
        `${manifest.id} would run without a sandbox (every file and the network of its device in its reach) on ${bare.join("; ")}`,
        "Install bubblewrap (and slirp4netns, for outbound network) there and restart its daemon, or install with --unsandboxed to let the app run without a sandbox.",
      );
    }
  }
  const stored = store.putBytes(bytes);
  return writeSpec(zone, manifest, stored.id, placement, { unsandboxed, alongside });
}

/**
 * Where `manifest` is placed, checked to be a device of the zone (or "any"): `--device`;
 * else, for an upgrade, where the app was put (pinned with `--device`, or a pinned app
 * moved): the new version's manifest says only where a first install goes. An upgrade
 * took the manifest's again, and undid the pin (an app with no data moved at once).
 */
export function checkPlacement(
  zone: ZoneWriter,
  manifest: AppManifest,
  options: InstallOptions,
): string {
  const current = readSpec(zone.db, manifest.id);
  const kept = current && current.desired !== "removed" ? current.placement : undefined;
  const placement = options.device ?? kept ?? manifest.placement;
  if (placement !== "any") {
    const member = zone.membership().byName.get(placement);
    if (!member || standingOf(zone.membership(), member.id) !== "member") {
      throw new BuckyError(
        "E_NOT_FOUND",
        options.device === undefined && kept !== undefined
          ? `${manifest.id} runs on ${placement}, which is no device of the zone now`
          : `the zone has no device named ${placement} to run ${manifest.id}`,
        options.device === undefined && kept !== undefined
          ? "Say where the new version runs with --device (or --device any)."
          : "See the devices with `bucky devices`.",
      );
    }
  }
  return placement;
}

/**
 * Writes the spec of an app installed (or upgraded) from `pkg`: its package, or an image
 * app's image record. Installing the same again changes nothing; the same version from
 * other files is refused.
 */
export function writeSpec(
  zone: ZoneWriter,
  manifest: AppManifest,
  pkg: ObjectId,
  placement: string,
  extra: {
    readonly unsandboxed?: boolean;
    readonly image?: AppSpec["image"];
    /** Written in the same changeset as the spec (or alone, when the spec stays as it is). */
    readonly alongside?: readonly Op[];
  },
): Installed {
  const unsandboxed = extra.unsandboxed === true;
  const alongside = extra.alongside ?? [];
  const current = readSpec(zone.db, manifest.id);
  if (current?.desired === "removed" && purgeGranted(zone.db, zone.purgeGrants, current))
    purgeDone(zone, manifest.id);
  if (current && current.desired !== "removed" && current.version === manifest.version) {
    if (
      current.package === pkg &&
      // The manifest too: one changed by hand (a member can) is written again as it is.
      JSON.stringify(current.manifest) === JSON.stringify(manifest) &&
      current.placement === placement &&
      // Asked to run unsandboxed, the spec must hold the owner's grant for it: one written
      // without (by a member, by hand) is written again, with it.
      (unsandboxed
        ? unsandboxedGranted(zone.unsandboxedGrants, current)
        : current.unsandboxed !== true)
    ) {
      if (alongside.length > 0) zone.write(alongside);
      return {
        app: manifest.id,
        version: manifest.version,
        package: pkg,
        device: placement,
        upgradedFrom: null,
        unsandboxed,
        ...imageOf(manifest),
      };
    }
    if (current.package !== pkg) {
      throw new BuckyError(
        "E_EXISTS",
        `app ${manifest.id} ${manifest.version} is already installed, with different ${extra.image ? "image" : "files"}`,
        "Another app uses this id, or this one changed: give it another id, or raise its version to upgrade.",
      );
    }
  }
  const previous = versionBefore(zone, current, pkg);
  const upgraded = current && current.desired !== "removed" ? current : undefined;
  const now = new Date(zone.now()).toISOString();
  const spec: AppSpec = {
    app: manifest.id,
    version: manifest.version,
    package: pkg,
    ...(previous ? { previousPackage: previous } : {}),
    manifest,
    ...(extra.image ? { image: extra.image } : {}),
    placement,
    ...(current?.moveTo && placement === "any"
      ? { moveTo: current.moveTo, ...(current.movedAt ? { movedAt: current.movedAt } : {}) }
      : {}),
    desired: current?.desired === "stopped" ? "stopped" : "running",
    ...(unsandboxed
      ? {
          unsandboxed,
          unsandboxedGrant: grantUnsandboxed(zone, manifest.id, pkg, manifest),
          ...previousGrant(current, previous),
        }
      : {}),
    // A conflict copy the owner asked back is still to be restored, and whom it is shared
    // with stays as the owner set it, across upgrades.
    ...(current?.restoreCopy ? { restoreCopy: current.restoreCopy } : {}),
    ...(current?.shared ? { shared: current.shared } : {}),
    ...(current?.shared && current.sharedAt ? { sharedAt: current.sharedAt } : {}),
    ...(current?.shared && current.sharedPastRemovals
      ? { sharedPastRemovals: current.sharedPastRemovals }
      : {}),
    installedAt: now,
    ...(upgraded?.installedAt ? { installedOver: upgraded.installedAt } : {}),
    updatedAt: now,
    actsAt: now,
  };
  zone.write([...installOps(current, spec), ...alongside]);
  const upgradedFrom = upgraded && upgraded.version !== manifest.version ? upgraded.version : null;
  zone.log.info(upgradedFrom ? "app upgraded" : "app installed", {
    app: manifest.id,
    version: manifest.version,
    package: pkg,
    image: isImageRun(manifest.run) ? manifest.run.image : undefined,
    placement,
    unsandboxed: unsandboxed || undefined,
  });
  return {
    app: manifest.id,
    version: manifest.version,
    package: pkg,
    device: placement,
    upgradedFrom,
    unsandboxed,
    ...imageOf(manifest),
  };
}

/**
 * The version before `pkg` (the spec's previousPackage), which stays on every device that
 * may run the app, to go back to: the version `current` installed, unless no device's
 * report says it ever started (an upgrade still waiting for its package, upgraded again).
 * Then it stays the one that upgrade was to replace, which runs meanwhile: else its
 * package would lose its place on every device, and a device restarted then would have
 * neither version to run. (A start not heard of here yet counts as none: a rollback still
 * goes only to a version that last ran healthy on its device, lib/apps/upgrade-rollback.ts.)
 */
function versionBefore(
  zone: ZoneWriter,
  current: AppSpec | undefined,
  pkg: ObjectId,
): ObjectId | undefined {
  if (!current) return undefined;
  if (current.package === pkg) return current.previousPackage;
  const waited =
    current.desired !== "removed" &&
    current.previousPackage !== undefined &&
    !startedSomewhere(zone.db, current, [...zone.membership().byName.keys()]);
  if (!waited) return current.package;
  // Back to the version that runs: there is no other to keep.
  return current.previousPackage === pkg ? undefined : current.previousPackage;
}

/**
 * What an install over `current` (as read) writes: its spec, and the same kept as the
 * install (install-record.ts). Over an install, whose people's acts apply to it
 * (spec-acts.ts), a move of its own where it places the app elsewhere; and a share or a
 * copy asked back an older bucky wrote into the spec, which stood over the acts before it
 * (this spec, marked, would let them undo it).
 */
export function installOps(current: AppSpec | undefined, spec: AppSpec): Op[] {
  const upgraded = spec.installedOver !== undefined && current?.placement !== spec.placement;
  return [
    { key: appKeys.spec(spec.app), value: JSON.stringify(spec) },
    installOp(spec),
    ...(upgraded ? [moveActOp(spec)] : []),
    ...(current && !writtenWithActs(current) ? appActOps(spec) : []),
  ];
}

/**
 * The owner's grant to run the version before unsandboxed, kept beside its package: a
 * rollback to it (lib/apps/upgrade-rollback.ts) runs bare only with it, the new version's
 * naming another package.
 */
function previousGrant(
  current: AppSpec | undefined,
  previous: ObjectId | undefined,
): Pick<AppSpec, "previousUnsandboxedGrant"> {
  if (!current || previous === undefined) return {};
  const grant =
    previous === current.package
      ? current.unsandboxedGrant
      : previous === current.previousPackage
        ? current.previousUnsandboxedGrant
        : undefined;
  return grant ? { previousUnsandboxedGrant: grant } : {};
}

function imageOf(manifest: AppManifest): { image?: string } {
  return isImageRun(manifest.run) ? { image: manifest.run.image } : {};
}

/**
 * Moves an app, and its data, to a device: the app stops, its last changes are shipped,
 * and it starts there (lib/replica/). A pinned app is pinned there; an app placed on any
 * device stays there while that device is live.
 */
export function moveApp(zone: ZoneWriter, app: string, device: string): AppSpec {
  const current = installedSpec(zone, app);
  refuseOutcast(zone.membership(), device, `move ${app} to ${device}`);
  const member = zone.membership().byName.get(device);
  if (!member || standingOf(zone.membership(), member.id) !== "member")
    throw new BuckyError(
      "E_NOT_FOUND",
      `the zone has no device named ${device} to move ${app} to`,
      "See the devices with `bucky devices`.",
    );
  const { movedAt: _, ...unmoved } = current;
  const now = new Date(zone.now()).toISOString();
  const spec: AppSpec = {
    ...unmoved,
    ...(current.placement === "any"
      ? { moveTo: device, movedAt: now }
      : { placement: device, moveTo: null }),
    updatedAt: now,
    actsAt: now,
  };
  zone.write([
    { key: appKeys.spec(app), value: JSON.stringify(spec) },
    // Beside it, where a stop, removal or share written at once elsewhere does not undo it.
    ...carriedActOps(current, spec).filter((op) => op.key !== moveActOp(spec).key),
    moveActOp(spec),
  ]);
  zone.log.info("app moving", { app, to: device });
  return spec;
}

/**
 * Asks for a conflict copy of an app's data back: the device keeping it takes the app
 * over with it (the data it replaces is kept as a conflict copy in turn: nothing is lost).
 */
export function restoreCopy(
  zone: ZoneWriter,
  app: string,
  copy: string,
  copies: readonly { readonly device: string; readonly name: string }[],
): AppSpec {
  const current = installedSpec(zone, app);
  const found = copies.find((c) => c.name === copy);
  if (!found)
    throw new BuckyError(
      "E_NOT_FOUND",
      `${app} has no conflict copy named ${copy}`,
      copies.length > 0
        ? `Its copies: ${copies.map((c) => `${c.name} (on ${c.device})`).join(", ")}.`
        : "It has none: see `bucky app status`.",
    );
  const at = new Date(zone.now()).toISOString();
  const spec: AppSpec = {
    ...current,
    restoreCopy: { device: found.device, name: found.name, at },
    updatedAt: at,
    actsAt: at,
  };
  const asked = restoreCopyActOp(spec);
  zone.write([
    { key: appKeys.spec(app), value: JSON.stringify(spec) },
    // Beside it, where a stop, move or share written at once elsewhere does not undo it
    // (with the others an older bucky's spec said, carried: the ask among them).
    ...carriedActOps(current, spec).filter((op) => op.key !== asked.key),
    asked,
  ]);
  zone.log.info("app copy restoring", { app, copy, device: found.device });
  return spec;
}

export function setDesired(
  zone: ZoneWriter,
  app: string,
  desired: DesiredState,
  purge = false,
): AppSpec {
  const found = readSpec(zone.db, app);
  // An app removed with its data kept can be purged later: its data is a leftover. So can
  // one whose purge the owner did not grant (a member wrote it): its data was kept.
  const purgeLeftover =
    found?.desired === "removed" &&
    desired === "removed" &&
    purge &&
    !purgeGranted(zone.db, zone.purgeGrants, found);
  const current = purgeLeftover && found ? found : installedSpec(zone, app);
  const updatedAt = new Date(zone.now()).toISOString();
  // Only the owner purges: the grant is signed for this removal, before anything is written.
  const purgeGrant = desired === "removed" && purge ? grantPurge(zone, app, updatedAt) : undefined;
  const { purgeGrant: _earlier, ...rest } = current;
  const spec: AppSpec = {
    ...rest,
    desired,
    ...(desired === "removed" ? { purge } : {}),
    ...(purgeGrant ? { purgeGrant } : {}),
    updatedAt,
    actsAt: updatedAt,
  };
  zone.write([
    { key: appKeys.spec(app), value: JSON.stringify(spec) },
    // Beside it, where a move or a share written at once elsewhere does not undo it.
    ...carriedActOps(current, spec).filter((op) => op.key !== desiredActOp(spec).key),
    desiredActOp(spec),
    // Its named data goes with its data, by the same grant, zone-wide.
    ...(purgeGrant ? releasedAppObjectsOps(zone.db, app) : []),
  ]);
  // And what it kept in the zone state.
  if (purgeGrant) deletePurgedState(zone, app);
  zone.log.info(
    `app ${desired === "removed" ? "removed" : desired === "running" ? "started" : "stopped"}`,
    { app, ...(desired === "removed" ? { purge } : {}) },
  );
  return spec;
}

/**
 * Refuses to install an app removed with --purge again while a device still claims to hold
 * its data or says it keeps a copy: that device has not carried the purge out (it was
 * offline), and the app would go on from what it kept, at the epoch of before.
 */
function purgeDone(zone: ZoneWriter, app: string): void {
  const membership = zone.membership();
  const facts = readHoldingFacts(zone.db, membership);
  const member = (name: string) => {
    const id = membership.byName.get(name)?.id;
    return id !== undefined && standingOf(membership, id) === "member";
  };
  const devices = [
    ...new Set([
      ...(facts.claims.get(app) ?? []).map((claim) => claim.device),
      ...(facts.copies.get(app)?.keys() ?? []),
    ]),
  ]
    .filter(member)
    .sort(compareCodeUnits);
  if (devices.length === 0) return;
  const named = listInSentence(devices);
  throw new BuckyError(
    "E_UNAVAILABLE",
    `${app} was removed with --purge, and ${named} ${devices.length === 1 ? "has" : "have"} not deleted its data yet`,
    `Start bucky on ${named} and install ${app} again once the purge is done there (a moment); a device gone for good: revoke it first (\`bucky devices revoke <device>\`).`,
  );
}

/** What removing an app did: its spec, now saying removed; or, for a spec no one can read, its deletion. */
export type Removal =
  | AppSpec
  | {
      readonly app: string;
      readonly desired: "removed";
      readonly unreadable: string;
      /** Its spec was written by a newer bucky (removed with force). */
      readonly newer?: true;
    };

/**
 * Removes an app: its spec says removed, and each device stops it (and with `purge` deletes
 * its data). A spec not of a spec's shape (any member writes specs) is run nowhere, and no
 * spec saying removed can be made of it: it is deleted, the owner's way out. Whatever data
 * of it a device kept is a leftover there (`bucky status --disk`). A spec a newer bucky
 * wrote is not this device's to judge: it runs on the devices that read it, and is deleted
 * only with `force`.
 */
export function removeApp(zone: ZoneWriter, app: string, purge = false, force = false): Removal {
  const unreadable = unreadableSpec(zone.db, app);
  if (unreadable === undefined) return setDesired(zone, app, "removed", purge);
  if (unreadable.newer && !force)
    throw new BuckyError(
      "E_USAGE",
      `${app} was installed by a newer bucky than this device's: ${unreadable.problem}`,
      `Update bucky on this device, then remove it from here; or remove it from a device that runs the newer bucky. To remove it for the whole zone from here anyway: \`bucky app remove ${app} --force\`.`,
    );
  // And the acts beside it (spec-acts.ts): a share there would hold for an install anew.
  zone.write(
    [
      appKeys.spec,
      appKeys.install,
      appKeys.desired,
      appKeys.removed,
      appKeys.move,
      appKeys.share,
      appKeys.restoreCopy,
    ].map((key) => ({ key: key(app), value: null })),
  );
  zone.log.info("app removed", { app, purge: false, unreadable: unreadable.problem });
  return {
    app,
    desired: "removed",
    unreadable: unreadable.problem,
    ...(unreadable.newer ? { newer: true as const } : {}),
  };
}

/** An app's spec, if the app is installed (not removed); else the error that says so. */
function installedSpec(zone: ZoneWriter, app: string): AppSpec {
  const current = readSpec(zone.db, app);
  const unreadable = current ? undefined : unreadableSpec(zone.db, app);
  if (unreadable?.newer)
    throw new BuckyError(
      "E_NOT_FOUND",
      `${app} was installed by a newer bucky than this device's: ${unreadable.problem}`,
      "Update bucky on this device, or manage it from a device that runs the newer bucky.",
    );
  if (unreadable !== undefined)
    throw new BuckyError(
      "E_NOT_FOUND",
      `${app} is not installed as bucky can run it: its spec in the zone state is not one bucky can read (${unreadable.problem})`,
      `Remove it with \`bucky app remove ${app}\`, or install it again.`,
    );
  if (!current || current.desired === "removed")
    throw new BuckyError(
      "E_NOT_FOUND",
      `no app ${app} is installed`,
      "See the apps with `bucky app list`.",
    );
  return current;
}
