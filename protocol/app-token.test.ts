import { describe, expect, test } from "bun:test";
import { APP_TOKEN_TYPE, signAppToken } from "./app-token.ts";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { decodeJws, verifyJws } from "./jws.ts";

const device = signingKeyFromSeed(new Uint8Array(32).fill(5));
const otherDevice = signingKeyFromSeed(new Uint8Array(32).fill(6));
const deviceId = deviceIdFromPublicKey(device.publicKey);
const zone = zoneIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(1)).publicKey);
const claims = {
  zone,
  app: "notes",
  version: "1.2.0",
  permissions: ["state.read", "ndn.write"],
  issuedAt: 1_767_225_600,
};
const token = signAppToken(claims, device);

describe("signAppToken", () => {
  test("makes a compact JWS of typ bucky-app/1 with kid = the signing device", () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
    expect(decodeJws(token).header).toEqual({ alg: "EdDSA", typ: APP_TOKEN_TYPE, kid: deviceId });
    expect(APP_TOKEN_TYPE).toBe("bucky-app/1");
  });

  test("carries the claims given, with the permissions as scope and the device as issuer", () => {
    expect(decodeJws(token).payload).toEqual({
      zone,
      app: "notes",
      version: "1.2.0",
      scope: ["state.read", "ndn.write"],
      iat: 1_767_225_600,
      iss: deviceId,
    });
  });

  test("verifies with the device key and no other", () => {
    expect(() =>
      verifyJws(decodeJws(token), verifyKeyFromPublicKey(device.publicKey)),
    ).not.toThrow();
    expect(() =>
      verifyJws(decodeJws(token), verifyKeyFromPublicKey(otherDevice.publicKey)),
    ).toThrow(new ProtocolError("JWS signature does not verify"));
  });

  test("does not verify once its claims are changed", () => {
    const [header, , signature] = token.split(".");
    const wider = signAppToken(
      { ...claims, permissions: [...claims.permissions, "network"] },
      device,
    );
    const forged = `${header}.${wider.split(".")[1]}.${signature}`;
    expect(() => verifyJws(decodeJws(forged), verifyKeyFromPublicKey(device.publicKey))).toThrow(
      new ProtocolError("JWS signature does not verify"),
    );
  });

  test("is deterministic and differs for different claims", () => {
    expect(signAppToken(claims, device)).toBe(token);
    expect(signAppToken({ ...claims, app: "site" }, device)).not.toBe(token);
    expect(decodeJws(signAppToken({ ...claims, permissions: [] }, device)).payload).toEqual({
      zone,
      app: "notes",
      version: "1.2.0",
      scope: [],
      iat: 1_767_225_600,
      iss: deviceId,
    });
  });
});
