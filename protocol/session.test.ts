import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { signLoginToken, signSession, verifyLoginToken, verifySession } from "./session.ts";

const device = signingKeyFromSeed(new Uint8Array(32).fill(4));
const zone = zoneIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(1)).publicKey);
const other = zoneIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(2)).publicKey);
const nonce = new Uint8Array(16).fill(5);

const reason = (verify: () => unknown) => {
  try {
    verify();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as Error).message;
  }
  throw new Error("expected a refusal");
};

describe("login tokens", () => {
  test("round trip, naming the device that issued it", () => {
    const token = signLoginToken({ zone, nonce, expiresAt: 2000 }, device);
    expect(verifyLoginToken(token.jws, zone, 1999)).toEqual({ ...token });
    expect(token.issuer).toBe(deviceIdFromPublicKey(device.publicKey));
  });

  test("refused when expired, for another zone, or altered", () => {
    const token = signLoginToken({ zone, nonce, expiresAt: 2000 }, device);
    expect(reason(() => verifyLoginToken(token.jws, zone, 2000))).toBe(
      "the login link has expired",
    );
    expect(reason(() => verifyLoginToken(token.jws, other, 1000))).toBe(
      "the login link is for another zone",
    );
    const [h, p, s] = token.jws.split(".") as [string, string, string];
    const altered = `${h}.${Buffer.from(JSON.stringify({ zone, nonce: token.nonce, exp: 9999 })).toString("base64url")}.${s}`;
    expect(reason(() => verifyLoginToken(altered, zone, 1000))).toBe(
      "JWS signature does not verify",
    );
    void p;
  });

  test("a session is not a login token, nor the reverse", () => {
    const session = signSession(
      { zone, device: deviceIdFromPublicKey(device.publicKey), expiresAt: 2000 },
      device,
    );
    expect(reason(() => verifyLoginToken(session, zone, 1000))).toBe("not a bucky-login/1 token");
    const login = signLoginToken({ zone, nonce, expiresAt: 2000 }, device);
    expect(reason(() => verifySession(login.jws, zone, 1000))).toBe("not a bucky-session/1 token");
  });
});

describe("sessions", () => {
  test("round trip, and expiry", () => {
    const id = deviceIdFromPublicKey(device.publicKey);
    const session = signSession({ zone, device: id, expiresAt: 2000 }, device);
    expect(verifySession(session, zone, 1999)).toEqual({
      zone,
      issuer: id,
      device: id,
      expiresAt: 2000,
    });
    expect(reason(() => verifySession(session, zone, 2000))).toBe("the session has expired");
    expect(reason(() => verifySession(session, other, 1000))).toBe(
      "the session is for another zone",
    );
  });
});
