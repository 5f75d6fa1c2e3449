/**
 * Running an app without a sandbox is the owner's call (protocol/app-unsandboxed.ts): the
 * spec that says so carries the owner's grant for its package and manifest, signed where
 * the owner key is, and every device checks it before it runs the app bare. A spec saying `unsandboxed`
 * without one (a member writing the zone state by hand, or a package changed under the
 * grant) is one the owner did not allow: the app runs only where it is sandboxed, and a
 * device that cannot sandbox it says why in the app's status.
 */
import type { AppManifest } from "../../protocol/app-manifest.ts";
import {
  grantsPackage,
  manifestDigest,
  signUnsandboxedGrant,
} from "../../protocol/app-unsandboxed.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { ownerKeyToGrant, type UnsandboxedGrants } from "./owner-grants.ts";
import type { AppSpec } from "./spec.ts";

/**
 * The owner's grant to run `pkg` of `app` unsandboxed, as `manifest` (the spec's) says:
 * refused on a device that does not hold the owner key, saying where to run it instead.
 */
export function grantUnsandboxed(
  zone: ZoneWriter,
  app: string,
  pkg: string,
  manifest: AppManifest,
): string {
  const owner = ownerKeyToGrant(zone, {
    message: `only the owner may let ${app} run without a sandbox (every file and the network of its device in its reach), and this device does not hold the owner key`,
    hint: "Run the install with --unsandboxed on the device holding the owner key, or install bubblewrap (and slirp4netns, for outbound network) where the app would run.",
  });
  return signUnsandboxedGrant(
    { zone: zone.zoneId, app, package: pkg, manifest: manifestDigest(manifest) },
    owner,
  ).jws;
}

/** Whether the owner let `spec`'s package run unsandboxed: its grant, for it, is the owner's. */
export function unsandboxedGranted(grants: UnsandboxedGrants, spec: AppSpec): boolean {
  if (spec.unsandboxed !== true || spec.unsandboxedGrant === undefined) return false;
  const grant = grants.verified(spec.app, spec.unsandboxedGrant);
  return grant !== undefined && grantsPackage(grant, spec);
}
