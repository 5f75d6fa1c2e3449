import { describe, expect, test } from "bun:test";
import {
  APP_UNSANDBOXED_TYPE,
  grantsPackage,
  manifestDigest,
  signUnsandboxedGrant,
  verifyUnsandboxedGrant,
} from "./app-unsandboxed.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { signJws } from "./jws.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const zone = zoneIdFromPublicKey(owner.publicKey);
const otherOwner = signingKeyFromSeed(new Uint8Array(32).fill(2));
const otherZone = zoneIdFromPublicKey(otherOwner.publicKey);
const member = signingKeyFromSeed(new Uint8Array(32).fill(3));
const pkg = `sha256:${"a".repeat(64)}`;
const manifest = { id: "site", version: "1.0.0", run: { command: ["bun", "serve.ts"] } };
const fields = { zone, app: "site", package: pkg, manifest: manifestDigest(manifest) };

describe("an unsandboxed grant", () => {
  test("signed by the owner checks, for that zone, with what it names", () => {
    const grant = signUnsandboxedGrant(fields, owner);
    expect(verifyUnsandboxedGrant(grant.jws, zone)).toEqual(grant);
    expect(grant).toMatchObject(fields);
  });

  test("signed by a member's key, for another zone, of another type or with a field more, is refused", () => {
    expect(deviceIdFromPublicKey(member.publicKey)).not.toBe(zone);
    const byMember = signJws(
      { alg: "EdDSA", typ: APP_UNSANDBOXED_TYPE, kid: zone },
      fields,
      member,
    );
    expect(() => verifyUnsandboxedGrant(byMember, zone)).toThrow(ProtocolError);
    const theirs = signUnsandboxedGrant({ ...fields, zone: otherZone }, otherOwner);
    expect(() => verifyUnsandboxedGrant(theirs.jws, zone)).toThrow(
      "the grant to run unsandboxed is not signed by this zone's owner",
    );
    const purge = signJws({ alg: "EdDSA", typ: "bucky-app-purge/1", kid: zone }, fields, owner);
    expect(() => verifyUnsandboxedGrant(purge, zone)).toThrow("not a grant to run unsandboxed");
    const anyApp = signJws(
      { alg: "EdDSA", typ: APP_UNSANDBOXED_TYPE, kid: zone },
      { ...fields, apps: "*" },
      owner,
    );
    expect(() => verifyUnsandboxedGrant(anyApp, zone)).toThrow(
      'grant to run unsandboxed has an unknown field "apps"',
    );
  });

  test("lets exactly the package of the app it was signed for run, as its manifest says", () => {
    const grant = signUnsandboxedGrant(fields, owner);
    const spec = { app: "site", package: pkg, manifest };
    expect(grantsPackage(grant, spec)).toBe(true);
    // Read back from the spec's JSON, as every device does, or its keys in another order
    // (a package's manifest read by another bucky): the same.
    expect(grantsPackage(grant, JSON.parse(JSON.stringify(spec)))).toBe(true);
    const reordered = { run: { command: ["bun", "serve.ts"] }, version: "1.0.0", id: "site" };
    expect(grantsPackage(grant, { ...spec, manifest: reordered })).toBe(true);
    expect(grantsPackage(grant, { ...spec, package: `sha256:${"b".repeat(64)}` })).toBe(false);
    expect(grantsPackage(grant, { ...spec, app: "notes" })).toBe(false);
    // The command a thief put in the spec, the package kept: not the one allowed.
    const altered = { ...manifest, run: { command: ["/bin/sh", "-c", "cat ~/.bucky/identity/*"] } };
    expect(grantsPackage(grant, { ...spec, manifest: altered })).toBe(false);
  });
});
