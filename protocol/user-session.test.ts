import { describe, expect, test } from "bun:test";
import { OWNER_USER, type UserName } from "./accounts.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toBase64url } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { signJws } from "./jws.ts";
import {
  checkOwnerProof,
  checkPasswordProof,
  MAX_SESSION_AHEAD_S,
  MAX_SESSION_S,
  passkeyChallenge,
  type SessionClaims,
  signAppUser,
  signOwnerLogin,
  signPasswordProof,
  signUserSession,
  verifyAppUser,
  verifyOwnerLogin,
  verifyUserSession,
} from "./user-session.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const zone = zoneIdFromPublicKey(owner.publicKey);
const gatewayKey = signingKeyFromSeed(new Uint8Array(32).fill(3));
const gateway = deviceIdFromPublicKey(gatewayKey.publicKey);
const otherKey = signingKeyFromSeed(new Uint8Array(32).fill(4));
const other = deviceIdFromPublicKey(otherKey.publicKey);
const passwordKey = signingKeyFromSeed(new Uint8Array(32).fill(5));
const NOW = 1_800_000_000;

const claims = (fields: Partial<SessionClaims> = {}): SessionClaims => ({
  zone,
  user: "ann" as UserName,
  gateway,
  nonce: toBase64url(new Uint8Array(16).fill(9)),
  issuedAt: NOW,
  expiresAt: NOW + 3600,
  ...fields,
});

describe("a person's session", () => {
  test("round trips under its gateway's signature, with its proof", () => {
    const c = claims();
    const proof = { k: "password" as const, cred: "abc", sig: signPasswordProof(c, passwordKey) };
    const token = signUserSession(c, proof, gatewayKey);
    expect(verifyUserSession(token, zone, NOW)).toEqual({ claims: c, proof });
    expect(() => verifyUserSession(token, zone, NOW + 3600)).toThrow("expired");
  });

  test("dated further ahead than clocks may be: refused, or it would outlive its 30 days", () => {
    const proof = { k: "owner" as const, link: "x" };
    const dated = (issuedAt: number) =>
      signUserSession(claims({ issuedAt, expiresAt: issuedAt + MAX_SESSION_S }), proof, gatewayKey);
    expect(verifyUserSession(dated(NOW + MAX_SESSION_AHEAD_S), zone, NOW).claims.issuedAt).toBe(
      NOW + MAX_SESSION_AHEAD_S,
    );
    // A member device's sign-out everywhere dated in year 128724 once dated the next session
    // there: it never expired.
    for (const issuedAt of [NOW + MAX_SESSION_AHEAD_S + 1, 4e12])
      expect(() => verifyUserSession(dated(issuedAt), zone, NOW)).toThrow("dated in the future");
  });

  test("a bit flipped, another signer, unknown fields: refused", () => {
    const c = claims();
    const token = signUserSession(c, { k: "owner", link: "x" }, gatewayKey);
    const flipped = `${token.slice(0, -3)}${token.at(-3) === "A" ? "B" : "A"}${token.slice(-2)}`;
    expect(() => verifyUserSession(flipped, zone, NOW)).toThrow(ProtocolError);
    // Claiming another gateway signed it.
    const [, payload, signature] = token.split(".");
    const header = toBase64url(
      new TextEncoder().encode(
        JSON.stringify({ alg: "EdDSA", typ: "bucky-session/2", kid: other }),
      ),
    );
    expect(() => verifyUserSession(`${header}.${payload}.${signature}`, zone, NOW)).toThrow(
      "signature does not verify",
    );
    const extra = signJws(
      { alg: "EdDSA", typ: "bucky-session/2", kid: gateway },
      {
        zone,
        user: "ann",
        nonce: c.nonce,
        iat: NOW,
        exp: NOW + 9,
        proof: { k: "owner", link: "x" },
        role: "admin",
      },
      gatewayKey,
    );
    expect(() => verifyUserSession(extra, zone, NOW)).toThrow('unknown field "role"');
    const noProof = signJws(
      { alg: "EdDSA", typ: "bucky-session/2", kid: gateway },
      { zone, user: "ann", nonce: c.nonce, iat: NOW, exp: NOW + 9, proof: { k: "trust-me" } },
      gatewayKey,
    );
    expect(() => verifyUserSession(noProof, zone, NOW)).toThrow("no known kind");
    // A gateway cannot make a session last longer than any may.
    const long = signUserSession(
      claims({ expiresAt: NOW + 31 * 24 * 3600 }),
      { k: "owner", link: "x" },
      gatewayKey,
    );
    expect(() => verifyUserSession(long, zone, NOW)).toThrow("at most 30 days");
  });

  test("a password proof holds for its claims only, and for the password's key only", () => {
    const c = claims();
    const proof = { k: "password" as const, cred: "abc", sig: signPasswordProof(c, passwordKey) };
    expect(() => checkPasswordProof(proof, c, passwordKey.publicKey)).not.toThrow();
    // Another gateway, person or time: the same signature proves nothing.
    for (const moved of [
      claims({ gateway: other }),
      claims({ user: "bob" as UserName }),
      claims({ expiresAt: NOW + 7200 }),
    ])
      expect(() => checkPasswordProof(proof, moved, passwordKey.publicKey)).toThrow(
        "does not verify",
      );
    expect(() => checkPasswordProof(proof, c, otherKey.publicKey)).toThrow("does not verify");
  });

  test("a passkey's challenge is the hash of every claim", () => {
    expect(passkeyChallenge(claims())).toBe(passkeyChallenge(claims()));
    expect(passkeyChallenge(claims({ gateway: other }))).not.toBe(passkeyChallenge(claims()));
    expect(passkeyChallenge(claims({ nonce: toBase64url(new Uint8Array(16)) }))).not.toBe(
      passkeyChallenge(claims()),
    );
  });
});

describe("the owner's login link", () => {
  const link = (fields: Partial<Parameters<typeof signOwnerLogin>[0]> = {}, key = owner) =>
    signOwnerLogin(
      {
        zone,
        gateway,
        device: other,
        nonce: new Uint8Array(16).fill(2),
        expiresAt: NOW + 600,
        ...fields,
      },
      key,
    );

  test("is taken by its gateway while it lasts", () => {
    const made = link();
    expect(verifyOwnerLogin(made.jws, zone, gateway, NOW)).toEqual(made);
    expect(() => verifyOwnerLogin(made.jws, zone, other, NOW)).toThrow("another gateway");
    expect(() => verifyOwnerLogin(made.jws, zone, gateway, NOW + 600)).toThrow("expired");
    expect(() => verifyOwnerLogin(link({}, gatewayKey).jws, zone, gateway, NOW)).toThrow(
      ProtocolError,
    );
  });

  test("proves an owner's session only at its gateway, and only the owner's", () => {
    const made = link();
    const owners = claims({ user: OWNER_USER });
    expect(checkOwnerProof({ k: "owner", link: made.jws }, owners).device).toBe(other);
    expect(() => checkOwnerProof({ k: "owner", link: made.jws }, claims())).toThrow(
      "only the owner's",
    );
    expect(() =>
      checkOwnerProof({ k: "owner", link: made.jws }, claims({ user: OWNER_USER, gateway: other })),
    ).toThrow("another gateway");
    expect(() =>
      checkOwnerProof(
        { k: "owner", link: made.jws },
        claims({ user: OWNER_USER, issuedAt: NOW + 601 }),
      ),
    ).toThrow("after its login link expired");
  });
});

describe("the app-user assertion", () => {
  const session = { claims: claims(), proof: { k: "owner" as const, link: "x" } };
  const assertion = signAppUser(
    { zone, app: "notes", audience: other, expiresAt: NOW + 60, session },
    gatewayKey,
  );

  test("carries the session to the one device and app it names", () => {
    expect(verifyAppUser(assertion, zone, other, "notes", NOW)).toEqual({
      forwardedBy: gateway,
      session,
      expiresAt: NOW + 60,
    });
    expect(() => verifyAppUser(assertion, zone, gateway, "notes", NOW)).toThrow("another device");
    expect(() => verifyAppUser(assertion, zone, other, "site", NOW)).toThrow("another app");
    expect(() => verifyAppUser(assertion, zone, other, "notes", NOW + 60)).toThrow("expired");
  });

  test("is no session cookie, and a cookie is no assertion", () => {
    expect(() => verifyUserSession(assertion, zone, NOW)).toThrow("not a bucky-session/2");
    const cookie = signUserSession(session.claims, session.proof, gatewayKey);
    expect(() => verifyAppUser(cookie, zone, other, "notes", NOW)).toThrow(
      "not a bucky-app-user/1",
    );
  });

  test("another gateway forwards a session as the one that signed it: its claims say which", () => {
    const forwarded = signAppUser(
      { zone, app: "notes", audience: other, expiresAt: NOW + 60, session },
      otherKey,
    );
    expect(verifyAppUser(forwarded, zone, other, "notes", NOW)).toEqual({
      forwardedBy: other,
      session,
      expiresAt: NOW + 60,
    });
    const flipped = `${forwarded.slice(0, -3)}${forwarded.at(-3) === "A" ? "B" : "A"}${forwarded.slice(-2)}`;
    expect(() => verifyAppUser(flipped, zone, other, "notes", NOW)).toThrow(ProtocolError);
  });
});
