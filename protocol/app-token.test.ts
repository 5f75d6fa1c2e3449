import { describe, expect, test } from "bun:test";
import { APP_TOKEN_TYPE, signAppToken, verifyAppToken } from "./app-token.ts";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { refusal } from "./test-refusal.ts";

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

describe("verifyAppToken", () => {
  test("returns the claims of a token this device signed for this zone", () => {
    expect(verifyAppToken(token, zone, deviceId)).toEqual(claims);
  });

  test("refuses another device's token, another zone's, or another type", () => {
    const otherId = deviceIdFromPublicKey(otherDevice.publicKey);
    const otherZone = zoneIdFromPublicKey(otherDevice.publicKey);
    expect(refusal(() => verifyAppToken(token, zone, otherId))).toBe(
      "the app token was signed by another device",
    );
    expect(refusal(() => verifyAppToken(signAppToken(claims, otherDevice), zone, deviceId))).toBe(
      "the app token was signed by another device",
    );
    expect(refusal(() => verifyAppToken(token, otherZone, deviceId))).toBe(
      "the app token is for another zone",
    );
    const agentish = signJws(
      { alg: "EdDSA", typ: "bucky-agent/1", kid: deviceId },
      decodeJws(token).payload as object,
      device,
    );
    expect(refusal(() => verifyAppToken(agentish, zone, deviceId))).toBe("not an app token");
  });

  test("refuses a token whose claims were changed, or that says more than it should", () => {
    const [header, , signature] = token.split(".");
    const wider = signAppToken({ ...claims, permissions: ["state.write:apps/other/"] }, device);
    expect(
      refusal(() =>
        verifyAppToken(`${header}.${wider.split(".")[1]}.${signature}`, zone, deviceId),
      ),
    ).toBe("JWS signature does not verify");
    const extra = signJws(
      decodeJws(token).header,
      { ...(decodeJws(token).payload as object), exp: 1 },
      device,
    );
    expect(refusal(() => verifyAppToken(extra, zone, deviceId))).toBe(
      'app token has an unknown field "exp"',
    );
    const many = signAppToken({ ...claims, permissions: Array(33).fill("ndn.read") }, device);
    expect(refusal(() => verifyAppToken(many, zone, deviceId))).toContain("at most 32");
  });

  test("a bit flipped anywhere is refused", () => {
    for (let i = 0; i < token.length; i += 7) {
      const flipped = token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
      if (flipped === token) continue;
      expect(() => verifyAppToken(flipped, zone, deviceId)).toThrow(ProtocolError);
    }
  });
});
