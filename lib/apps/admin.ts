/**
 * Installing, starting, stopping and removing apps: each is a write of the app's spec to
 * the zone state. Nothing runs here: every device's convergence loop reads the specs and
 * does its share.
 */
import type { ObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import type { ObjectStore } from "../ndn/store.ts";
import { standingOf } from "../sync/membership.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { packDirectory } from "./package-dir.ts";
import { type AppSpec, appKeys, type DesiredState, readSpec } from "./spec.ts";

export interface Installed {
  readonly app: string;
  readonly version: string;
  readonly package: ObjectId;
  /** Where it is placed: a device name, or "any". */
  readonly device: string;
  readonly upgradedFrom: string | null;
}

export function installApp(
  zone: ZoneWriter,
  store: ObjectStore,
  dir: string,
  device?: string,
): Installed {
  const { manifest, bytes } = packDirectory(dir);
  const placement = device ?? manifest.placement;
  if (placement !== "any") {
    const member = zone.membership().byName.get(placement);
    if (!member || standingOf(zone.membership(), member.id) !== "member") {
      throw new BuckyError(
        "E_NOT_FOUND",
        `the zone has no device named ${placement} to run ${manifest.id}`,
        "See the devices with `bucky devices`.",
      );
    }
  }
  const current = readSpec(zone.db, manifest.id);
  const stored = store.putBytes(bytes);
  if (current && current.desired !== "removed" && current.version === manifest.version) {
    if (current.package === stored.id && current.placement === placement) {
      return {
        app: manifest.id,
        version: manifest.version,
        package: stored.id,
        device: placement,
        upgradedFrom: null,
      };
    }
    if (current.package !== stored.id) {
      throw new BuckyError(
        "E_EXISTS",
        `app ${manifest.id} ${manifest.version} is already installed, with different files`,
        "Another app uses this id, or this one changed: give it another id, or raise its version to upgrade.",
      );
    }
  }
  const spec: AppSpec = {
    app: manifest.id,
    version: manifest.version,
    package: stored.id,
    manifest,
    placement,
    desired: current?.desired === "stopped" ? "stopped" : "running",
    updatedAt: new Date(zone.now()).toISOString(),
  };
  zone.write([{ key: appKeys.spec(manifest.id), value: JSON.stringify(spec) }]);
  const upgradedFrom =
    current && current.desired !== "removed" && current.version !== manifest.version
      ? current.version
      : null;
  zone.log.info(upgradedFrom ? "app upgraded" : "app installed", {
    app: manifest.id,
    version: manifest.version,
    package: stored.id,
    placement,
  });
  return {
    app: manifest.id,
    version: manifest.version,
    package: stored.id,
    device: placement,
    upgradedFrom,
  };
}

export function setDesired(
  zone: ZoneWriter,
  app: string,
  desired: DesiredState,
  purge = false,
): AppSpec {
  const current = readSpec(zone.db, app);
  if (!current || current.desired === "removed") {
    throw new BuckyError(
      "E_NOT_FOUND",
      `no app ${app} is installed`,
      "See the apps with `bucky app list`.",
    );
  }
  const spec: AppSpec = {
    ...current,
    desired,
    ...(desired === "removed" ? { purge } : {}),
    updatedAt: new Date(zone.now()).toISOString(),
  };
  zone.write([{ key: appKeys.spec(app), value: JSON.stringify(spec) }]);
  zone.log.info(
    `app ${desired === "removed" ? "removed" : desired === "running" ? "started" : "stopped"}`,
    { app, ...(desired === "removed" ? { purge } : {}) },
  );
  return spec;
}
