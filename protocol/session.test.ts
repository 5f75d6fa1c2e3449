import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { signJws } from "./jws.ts";
import {
  LOGIN_TYPE_V1,
  SESSION_TYPE_V1,
  signLoginToken,
  signSession,
  verifyLoginToken,
  verifySession,
} from "./session.ts";

const device = signingKeyFromSeed(new Uint8Array(32).fill(4));
const zone = zoneIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(1)).publicKey);
const other = zoneIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(2)).publicKey);
const gateway = deviceIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(6)).publicKey);
const otherGateway = deviceIdFromPublicKey(
  signingKeyFromSeed(new Uint8Array(32).fill(7)).publicKey,
);
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
  test("round trip, naming the device that issued it and the gateway that takes it", () => {
    const token = signLoginToken({ zone, gateway, nonce, expiresAt: 2000 }, device);
    expect(verifyLoginToken(token.jws, zone, gateway, 1999)).toEqual({ ...token });
    expect(token.issuer).toBe(deviceIdFromPublicKey(device.publicKey));
    expect(token.gateway).toBe(gateway);
  });

  test("the same fixed inputs give exactly the same token (bucky-login/2)", () => {
    const token = signLoginToken({ zone, gateway, nonce, expiresAt: 2000 }, device);
    const [header, payload] = token.jws.split(".") as [string, string];
    expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({
      alg: "EdDSA",
      typ: "bucky-login/2",
      kid: token.issuer,
    });
    expect(JSON.parse(Buffer.from(payload, "base64url").toString())).toEqual({
      zone,
      gw: gateway,
      nonce: "BQUFBQUFBQUFBQUFBQUFBQ",
      exp: 2000,
    });
    expect(token.jws).toBe(GOLDEN_LOGIN_V2);
  });

  test("another gateway of the zone refuses it, so it opens at most one session", () => {
    const token = signLoginToken({ zone, gateway, nonce, expiresAt: 2000 }, device);
    expect(reason(() => verifyLoginToken(token.jws, zone, otherGateway, 1000))).toBe(
      "the login link is for another gateway of the zone",
    );
  });

  test("a first-version token, which any gateway took, is refused with its reason", () => {
    const issuer = deviceIdFromPublicKey(device.publicKey);
    const v1 = signJws(
      { alg: "EdDSA", typ: LOGIN_TYPE_V1, kid: issuer },
      { zone, nonce: "BQUFBQUFBQUFBQUFBQUFBQ", exp: 2000 },
      device,
    );
    expect(reason(() => verifyLoginToken(v1, zone, gateway, 1000))).toBe(
      "it was made by an older bucky, for any gateway",
    );
  });

  test("refused when expired, for another zone, or altered", () => {
    const token = signLoginToken({ zone, gateway, nonce, expiresAt: 2000 }, device);
    expect(reason(() => verifyLoginToken(token.jws, zone, gateway, 2000))).toBe(
      "the login link has expired",
    );
    expect(reason(() => verifyLoginToken(token.jws, other, gateway, 1000))).toBe(
      "the login link is for another zone",
    );
    const [h, , s] = token.jws.split(".") as [string, string, string];
    for (const fields of [
      { zone, gw: gateway, nonce: token.nonce, exp: 9999 },
      { zone, gw: otherGateway, nonce: token.nonce, exp: 2000 },
    ]) {
      const altered = `${h}.${Buffer.from(JSON.stringify(fields)).toString("base64url")}.${s}`;
      expect(reason(() => verifyLoginToken(altered, zone, fields.gw, 1000))).toBe(
        "JWS signature does not verify",
      );
    }
  });

  test("a session is not a login token, nor the reverse", () => {
    const session = signSession(
      { zone, device: deviceIdFromPublicKey(device.publicKey), nonce, expiresAt: 2000 },
      device,
    );
    expect(reason(() => verifyLoginToken(session, zone, gateway, 1000))).toBe(
      "not a bucky-login/2 token",
    );
    const login = signLoginToken({ zone, gateway, nonce, expiresAt: 2000 }, device);
    expect(reason(() => verifySession(login.jws, zone, 1000))).toBe("not a bucky-session/3 token");
  });
});

describe("sessions", () => {
  const id = deviceIdFromPublicKey(device.publicKey);

  test("round trip with its nonce, and expiry", () => {
    const session = signSession({ zone, device: id, nonce, expiresAt: 2000 }, device);
    expect(verifySession(session, zone, 1999)).toEqual({
      zone,
      issuer: id,
      device: id,
      nonce: "BQUFBQUFBQUFBQUFBQUFBQ",
      expiresAt: 2000,
    });
    expect(reason(() => verifySession(session, zone, 2000))).toBe("the session has expired");
    expect(reason(() => verifySession(session, other, 1000))).toBe(
      "the session is for another zone",
    );
  });

  test("two with the same fields but their nonces are two cookies (bucky-session/3)", () => {
    const one = signSession({ zone, device: id, nonce, expiresAt: 2000 }, device);
    const two = signSession(
      { zone, device: id, nonce: new Uint8Array(16).fill(6), expiresAt: 2000 },
      device,
    );
    expect(one).not.toBe(two);
    expect(JSON.parse(Buffer.from(one.split(".")[0] as string, "base64url").toString())).toEqual({
      alg: "EdDSA",
      typ: "bucky-session/3",
      kid: id,
    });
  });

  test("a nonce of another length, or spelled another way, is refused", () => {
    const [h, , s] = signSession({ zone, device: id, nonce, expiresAt: 2000 }, device).split(".");
    for (const spelled of ["BQUFBQUFBQUFBQUFBQUFBQ==", "BQUFBQUFBQUFBQUFBQUFBR", "BQUF"]) {
      const payload = { zone, dev: id, nonce: spelled, exp: 2000 };
      const resigned = signJws({ alg: "EdDSA", typ: "bucky-session/3", kid: id }, payload, device);
      expect(reason(() => verifySession(resigned, zone, 1000))).toBe(
        "the session's nonce is malformed",
      );
      const altered = `${h}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${s}`;
      expect(reason(() => verifySession(altered, zone, 1000))).toBe(
        "JWS signature does not verify",
      );
    }
  });

  test("a first-version session, with no nonce, still works until it expires", () => {
    const v1 = signJws(
      { alg: "EdDSA", typ: SESSION_TYPE_V1, kid: id },
      { zone, dev: id, exp: 2000 },
      device,
    );
    expect(verifySession(v1, zone, 1999)).toEqual({
      zone,
      issuer: id,
      device: id,
      expiresAt: 2000,
    });
    expect(reason(() => verifySession(v1, zone, 2000))).toBe("the session has expired");
    const withNonce = signJws(
      { alg: "EdDSA", typ: SESSION_TYPE_V1, kid: id },
      { zone, dev: id, nonce: "BQUFBQUFBQUFBQUFBQUFBQ", exp: 2000 },
      device,
    );
    expect(reason(() => verifySession(withNonce, zone, 1000))).toContain("nonce");
  });
});

/** bucky-login/2 from the fixed inputs above: if this changes, the wire format did. */
const GOLDEN_LOGIN_V2 =
  "eyJhbGciOiJFZERTQSIsInR5cCI6ImJ1Y2t5LWxvZ2luLzIiLCJraWQiOiJkemtqMnlmeWZkYnloZHZ0M3FwZDc2ZHg2cWVlb3IzY2ZnYmx2MjV6Z3E2anRodzYyeHo2YSJ9." +
  "eyJ6b25lIjoienJrZW9oeGx1Ymh5emw3a3MzbXd0em9zNW9sZmdvY243ZHdrYmVnN3Rvc2VhZG5hcG41b2EiLCJndyI6ImRya2R2Nzd5NndvY2ZjdjMyenZucDV6YWZpdnN3cnhsNHJocWpiYnIyYXZsM3k2eHV0NGxxIiwibm9uY2UiOiJCUVVGQlFVRkJRVUZCUVVGQlFVRkJRIiwiZXhwIjoyMDAwfQ." +
  "mFnxa3DDQ3kd8kz_bxvCM6KjNN7ZrB3rXnGPoiFepQvd7d8Oiqm3e10Vd8wBNE8mIIzWSB6qYLAPyyRpqCVrDw";
