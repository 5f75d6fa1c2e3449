import { describe, expect, test } from "bun:test";
import { APP_PURGE_TYPE, grantsRemoval, signPurgeGrant, verifyPurgeGrant } from "./app-purge.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { signJws } from "./jws.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const zone = zoneIdFromPublicKey(owner.publicKey);
const otherOwner = signingKeyFromSeed(new Uint8Array(32).fill(2));
const otherZone = zoneIdFromPublicKey(otherOwner.publicKey);
const device = deviceIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(3)).publicKey);
const other = deviceIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(4)).publicKey);
const fields = { zone, app: "photos", device, removedAt: "2026-11-29T12:00:00.000Z" };

describe("a purge grant", () => {
  test("signed by the owner checks, for that zone, with what it names", () => {
    const grant = signPurgeGrant(fields, owner);
    expect(verifyPurgeGrant(grant.jws, zone)).toEqual(grant);
    expect(grant).toMatchObject(fields);
  });

  test("signed by another key, for another zone, of another type or with a field more, is refused", () => {
    const forged = signJws({ alg: "EdDSA", typ: APP_PURGE_TYPE, kid: zone }, fields, otherOwner);
    expect(() => verifyPurgeGrant(forged, zone)).toThrow(ProtocolError);
    const theirs = signPurgeGrant({ ...fields, zone: otherZone }, otherOwner);
    expect(() => verifyPurgeGrant(theirs.jws, zone)).toThrow(
      "the purge grant is not signed by this zone's owner",
    );
    const approval = signJws(
      { alg: "EdDSA", typ: "bucky-gateway-approval/1", kid: zone },
      fields,
      owner,
    );
    expect(() => verifyPurgeGrant(approval, zone)).toThrow("not a purge grant");
    const more = signJws(
      { alg: "EdDSA", typ: APP_PURGE_TYPE, kid: zone },
      { ...fields, apps: "*" },
      owner,
    );
    expect(() => verifyPurgeGrant(more, zone)).toThrow('purge grant has an unknown field "apps"');
  });

  test("a bit flipped in it is refused", () => {
    const { jws } = signPurgeGrant(fields, owner);
    const [header, payload, signature] = jws.split(".") as [string, string, string];
    const flipped = `${header}.${payload}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    expect(() => verifyPurgeGrant(flipped, zone)).toThrow(ProtocolError);
  });

  test("grants exactly the removal it was signed for", () => {
    const grant = signPurgeGrant(fields, owner);
    const removal = { app: "photos", removedAt: fields.removedAt, author: device as string };
    expect(grantsRemoval(grant, removal)).toBe(true);
    expect(grantsRemoval(grant, { ...removal, author: other })).toBe(false);
    expect(grantsRemoval(grant, { ...removal, app: "notes" })).toBe(false);
    expect(grantsRemoval(grant, { ...removal, removedAt: "2026-12-01T12:00:00.000Z" })).toBe(false);
  });
});
