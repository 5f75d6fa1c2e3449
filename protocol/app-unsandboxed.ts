/**
 * The owner's consent to run one package of an app without a sandbox, on a device that
 * cannot give it one (`bucky app install --unsandboxed`). Unsandboxed, an app runs as the
 * daemon's user with every file of its device in its reach (the device key, and the owner
 * key where it is kept), and any member writes the apps' specs: a spec saying
 * `unsandboxed: true` by itself would let a stolen laptop run what it likes as root on
 * every device without bubblewrap. So the spec carries this grant too:
 *
 *   grant = JWS (typ bucky-app-unsandboxed/1, kid = zone id, signed by the owner key)
 *           { zone, app, package, manifest }
 *
 * It is bound to the app, the package the owner allowed and the manifest the spec carries
 * (its digest: what runs is the spec's manifest, its command and environment, and a thief
 * could keep the package and change those): an upgrade, a thief's package under the app's
 * name or a manifest changed by hand needs the owner's grant again. Not to the device that
 * wrote the spec, nor to its time: any member still stops, starts, moves or limits the app,
 * writing its spec again with the grant inside.
 *
 * Pure.
 */
import { createHash } from "node:crypto";
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
  fields: ["zone", "app", "package", "manifest"],
  maxLength: MAX_UNSANDBOXED_GRANT_LENGTH,
};

export interface UnsandboxedGrant {
  readonly zone: ZoneId;
  readonly app: string;
  /** The package allowed (its object id, as the spec names it). */
  readonly package: string;
  /** The manifest allowed, as the spec carries it: manifestDigest. */
  readonly manifest: string;
  readonly jws: string;
}

/**
 * The digest of a manifest (sha256, hex) as JSON with every object's keys in code-unit
 * order: the same manifest, read from a spec or from its package (a rollback's), makes the
 * same digest on every device, whatever order its keys were written in.
 */
export function manifestDigest(manifest: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(sortedKeys(manifest)))
    .digest("hex");
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== "object") return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort())
    sorted[key] = sortedKeys((value as Record<string, unknown>)[key]);
  return sorted;
}

export function signUnsandboxedGrant(
  fields: Omit<UnsandboxedGrant, "jws">,
  owner: SigningKey,
): UnsandboxedGrant {
  const { zone, app, package: pkg, manifest } = fields;
  const jws = signOwnerGrant(UNSANDBOXED_GRANT, { zone, app, package: pkg, manifest }, owner);
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
    manifest: requireString(payload.manifest, "grant to run unsandboxed: manifest", 64),
    jws,
  };
}

/** Whether `grant` lets `spec`'s package of its app, as its manifest says, run without a sandbox. */
export function grantsPackage(
  grant: UnsandboxedGrant,
  spec: { readonly app: string; readonly package: string; readonly manifest: unknown },
): boolean {
  return (
    grant.app === spec.app &&
    grant.package === spec.package &&
    grant.manifest === manifestDigest(spec.manifest)
  );
}
