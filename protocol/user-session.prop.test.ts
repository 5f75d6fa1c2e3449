/**
 * Accounts, enrollments and people's sessions verify to exactly what was signed, and any
 * single bit flipped in one is refused with a ProtocolError.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  checkUserName,
  ROLES,
  signAccount,
  signEnrollment,
  type UserName,
  verifyAccount,
  verifyEnrollment,
} from "./accounts.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toBase64url } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import {
  MAX_SESSION_S,
  signPasswordProof,
  signUserSession,
  verifyUserSession,
} from "./user-session.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const zone = zoneIdFromPublicKey(owner.publicKey);
const gatewayKey = signingKeyFromSeed(new Uint8Array(32).fill(3));
const gateway = deviceIdFromPublicKey(gatewayKey.publicKey);
const passwordKey = signingKeyFromSeed(new Uint8Array(32).fill(5));

const name = fc.stringMatching(/^[a-z][a-z0-9]{2,20}$/).filter((n) => checkUserName(n).ok);
const account = fc
  .record({
    user: name.map((n) => n as UserName),
    rev: fc.integer({ min: 1, max: 2 ** 30 }),
    role: fc.constantFrom(...ROLES, null),
    issuedAt: fc.nat({ max: 2 ** 40 }),
  })
  .chain((fields) =>
    fc.integer({ min: 0, max: fields.rev }).map((creds) => ({ ...fields, creds, zone })),
  );
const claims = fc
  .record({
    zone: fc.constant(zone),
    user: name.map((n) => n as UserName),
    gateway: fc.constant(gateway),
    nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }).map(toBase64url),
    issuedAt: fc.nat({ max: 2 ** 40 }),
    lasts: fc.integer({ min: 1, max: MAX_SESSION_S }),
  })
  .map(({ lasts, ...c }) => ({ ...c, expiresAt: c.issuedAt + lasts }));

function flipBit(text: string, index: number, bit: number): string {
  const flipped = String.fromCharCode(text.charCodeAt(index) ^ (1 << bit));
  return `${text.slice(0, index)}${flipped}${text.slice(index + 1)}`;
}

function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("accounts and enrollments", () => {
  test("verify to exactly what the owner signed; a flipped bit is refused", () => {
    fc.assert(
      fc.property(account, fc.nat(), fc.nat(7), (fields, position, bit) => {
        const jws = signAccount(fields, owner);
        expect(verifyAccount(jws, zone)).toEqual({ ...fields, jws });
        const changed = flipBit(jws, position % jws.length, bit);
        expect(errorOf(() => verifyAccount(changed, zone))).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 300 },
    );
  });

  test("enrollments too", () => {
    fc.assert(
      fc.property(
        name,
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.nat(),
        fc.nat(7),
        (user, nonce, position, bit) => {
          const made = signEnrollment(
            { zone, user: user as UserName, creds: 1, gateway, nonce, expiresAt: 9 },
            owner,
          );
          expect(verifyEnrollment(made.jws, zone)).toEqual(made);
          const changed = flipBit(made.jws, position % made.jws.length, bit);
          expect(errorOf(() => verifyEnrollment(changed, zone))).toBeInstanceOf(ProtocolError);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("people's sessions", () => {
  test("verify to exactly what the gateway signed; a flipped bit is refused", () => {
    fc.assert(
      fc.property(claims, fc.nat(), fc.nat(7), (c, position, bit) => {
        const proof = {
          k: "password" as const,
          cred: "abc",
          sig: signPasswordProof(c, passwordKey),
        };
        const token = signUserSession(c, proof, gatewayKey);
        expect(verifyUserSession(token, zone, c.issuedAt)).toEqual({ claims: c, proof });
        const changed = flipBit(token, position % token.length, bit);
        expect(errorOf(() => verifyUserSession(changed, zone, c.issuedAt))).toBeInstanceOf(
          ProtocolError,
        );
      }),
      { numRuns: 300 },
    );
  });
});
