import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toBase64url } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import {
  decodePasswordChange,
  type PasswordChange,
  passwordChangeId,
  signPasswordChange,
} from "./password-change.ts";
import { writeProblem } from "./write-rules.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const zone = zoneIdFromPublicKey(owner.publicKey);
const oldKey = signingKeyFromSeed(new Uint8Array(32).fill(2));
const newKey = signingKeyFromSeed(new Uint8Array(32).fill(3));
const thief = signingKeyFromSeed(new Uint8Array(32).fill(4));
const member = deviceIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(5)).publicKey);

const change = (previous = oldKey, fields: Partial<PasswordChange> = {}) =>
  signPasswordChange(
    {
      user: "ann",
      cred: toBase64url(new Uint8Array(16).fill(7)),
      salt: toBase64url(new Uint8Array(16).fill(8)),
      publicKey: toBase64url(newKey.publicKey),
      memoryKiB: 65_536,
      passes: 2,
      parallelism: 1,
      changedAt: "2027-01-15T08:00:00.000Z",
      ...fields,
    },
    zone,
    previous,
  );

const write = (key: string, value: unknown) =>
  writeProblem(
    { key, value: value === null ? null : JSON.stringify(value) },
    { name: "laptop", id: member },
    zone,
  );

describe("a password change", () => {
  test("is signed by the password it replaces, and reads back as signed", () => {
    const made = change();
    expect(made.prev).toBe(toBase64url(oldKey.publicKey));
    expect(decodePasswordChange(JSON.parse(JSON.stringify(made)), zone)).toEqual(made);
  });

  test("any field changed, or another zone, and it does not verify", () => {
    const made = change();
    for (const altered of [
      { ...made, publicKey: toBase64url(thief.publicKey) },
      { ...made, user: "bob" },
      { ...made, prev: toBase64url(thief.publicKey) },
      { ...made, memoryKiB: 8 },
      { ...made, extra: 1 },
    ])
      expect(() => decodePasswordChange(altered, zone)).toThrow(ProtocolError);
    const elsewhere = zoneIdFromPublicKey(thief.publicKey);
    expect(() => decodePasswordChange(made, elsewhere)).toThrow(ProtocolError);
  });

  test("any member may record one under its digest, for its person; none may delete one", () => {
    const made = change();
    const key = `users/ann/password-changes/${passwordChangeId(made, zone)}`;
    expect(write(key, made)).toBeUndefined();
    expect(write(key, null)).toContain("cannot be deleted");
    // Under another id: it would take the place of another change.
    expect(write(`users/ann/password-changes/${"A".repeat(43)}`, made)).toContain("digest");
    expect(write(`users/bob/password-changes/${passwordChangeId(made, zone)}`, made)).toContain(
      "password of ann",
    );
    // Naming as replaced a key that did not sign it.
    const forged = { ...change(thief), prev: toBase64url(oldKey.publicKey) };
    expect(write(`users/ann/password-changes/${passwordChangeId(forged, zone)}`, forged)).toContain(
      "not signed by the password it replaces",
    );
  });
});
