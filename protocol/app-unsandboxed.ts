/**
 * The owner's consent to run one package of an app without a sandbox, on a device that
 * cannot give it one (`bucky app install --unsandboxed`). Unsandboxed, an app runs as the
 * daemon's user with every file of its device in its reach (the device key, and the owner
 * key where it is kept), and any member writes the apps' specs: a spec saying
 * `unsandboxed: true` by itself would let a stolen laptop run what it likes as root on
 * every device without bubblewrap. So the spec carries this grant too:
 *
 *   grant = JWS (typ bucky-app-unsandboxed/1, kid = zone id, signed by the owner key)
 *           { zone, app, package }
 *
 * It is bound to the app and the package the owner allowed: an upgrade (or a thief's
 * package under the app's name) needs the owner's grant again. Not to the device that
 * wrote the spec, nor to its time: any member still stops, starts, moves or limits the app,
 * writing its spec again with the grant inside.
 *
 * Pure.
 */
import type { SigningKey } from "./ed25519.ts";
import type { ZoneId } from "./ids.ts";
import { type GrantKind, signOwnerGrant, verifyOwnerGrant } from "./owner-grant.ts";
import { requireString } from "./shape.ts";

export const APP_UNSANDBOXED_TYPE = "bucky-app-unsandboxed/1";
/** A grant's JWS is small: two ids and a name. */
export const MAX_UNSANDBOXED_GRANT_LENGTH = 2048;

const UNSANDBOXED_GRANT: GrantKind = {
  type: APP_UNSANDBOXED_TYPE,
  what: "grant to run unsandboxed",
  fields: ["zone", "app", "package"],
  maxLength: MAX_UNSANDBOXED_GRANT_LENGTH,
};

export interface UnsandboxedGrant {
  readonly zone: ZoneId;
  readonly app: string;
  /** The package allowed (its object id, as the spec names it). */
  readonly package: string;
  readonly jws: string;
}

export function signUnsandboxedGrant(
  fields: Omit<UnsandboxedGrant, "jws">,
  owner: SigningKey,
): UnsandboxedGrant {
  const { zone, app, package: pkg } = fields;
  const jws = signOwnerGrant(UNSANDBOXED_GRANT, { zone, app, package: pkg }, owner);
  // Checked as any reader would, so that nothing is signed that no one accepts.
  return verifyUnsandboxedGrant(jws, zone);
}

/** Checks a grant: the owner of `zone` signed it, for that zone, and it names a package. */
export function verifyUnsandboxedGrant(jws: string, zone: ZoneId): UnsandboxedGrant {
  const payload = verifyOwnerGrant(jws, zone, UNSANDBOXED_GRANT);
  return {
    zone,
    app: requireString(payload.app, "grant to run unsandboxed: app", 128),
    package: requireString(payload.package, "grant to run unsandboxed: package", 128),
    jws,
  };
}

/** Whether `grant` lets `spec`'s package of its app run without a sandbox. */
export function grantsPackage(
  grant: UnsandboxedGrant,
  spec: { readonly app: string; readonly package: string },
): boolean {
  return grant.app === spec.app && grant.package === spec.package;
}
