/**
 * What a gateway carries to another, and what it reads of a step's owner: a ceremony's id
 * and a login token name their gateway, read without trusting them (the gateway named
 * checks them); a step another member sends is taken only in its shape, bounded.
 */
import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { signLoginToken } from "../../protocol/session.ts";
import { BuckyError } from "../errors.ts";
import { seed, testZone } from "../state/test-db.ts";
import {
  ceremonyGatewayOf,
  ceremonyId,
  decodeFellowStep,
  loginGatewayOf,
} from "./fellow-sign-in.ts";

const gateway = deviceIdFromPublicKey(signingKeyFromSeed(seed(140)).publicKey);
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe("the gateway a step belongs to", () => {
  test("a ceremony's id names the gateway that began it; another id names none", () => {
    expect(ceremonyGatewayOf(ceremonyId(gateway))).toBe(gateway);
    expect(ceremonyId(gateway)).not.toBe(ceremonyId(gateway));
    for (const id of ["", "abc", `.${gateway}`, "not-a-device.xyz", `${gateway}`])
      expect(ceremonyGatewayOf(id)).toBeUndefined();
  });

  test("a login token names its gateway; garbage names none", () => {
    const token = signLoginToken(
      {
        zone: testZone.id,
        gateway,
        nonce: new Uint8Array(16),
        expiresAt: 2_000_000_000,
      },
      signingKeyFromSeed(seed(141)),
    ).jws;
    expect(loginGatewayOf(token)).toBe(gateway);
    for (const garbage of ["", "a.b.c", "x".repeat(10_000), `${token}x`.replace(".", "..")])
      expect(loginGatewayOf(garbage)).toBeUndefined();
  });
});

describe("a step another gateway carries here", () => {
  const place = { client: "192.0.2.4", origin: "https://home.example", rpId: "home.example" };

  test("is taken in its shape", () => {
    expect(decodeFellowStep(bytes({ kind: "login", token: "t" }))).toEqual({
      kind: "login",
      token: "t",
    });
    const step = { kind: "passkey", ceremony: "c", response: { id: "x" }, place } as const;
    expect(decodeFellowStep(bytes({ ...step, extra: 1 }))).toEqual(step);
    expect(decodeFellowStep(bytes({ ...step, place: { ...place, rpId: null } }))).toMatchObject({
      place: { rpId: null },
    });
  });

  test("of another shape, or past its bounds, is refused", () => {
    for (const bad of [
      "not json",
      [],
      { kind: "sudo" },
      { kind: "login", token: 7 },
      { kind: "login", token: "t".repeat(4097) },
      { kind: "passkey", ceremony: "c", response: {} },
      { kind: "passkey", ceremony: "c".repeat(129), response: {}, place },
      { kind: "enroll-passkey", ceremony: "c", response: {}, place: { ...place, client: 1 } },
      {
        kind: "passkey",
        ceremony: "c",
        response: {},
        place: { ...place, origin: "o".repeat(301) },
      },
    ]) {
      const encoded = typeof bad === "string" ? new TextEncoder().encode(bad) : bytes(bad);
      expect(() => decodeFellowStep(encoded)).toThrow(BuckyError);
    }
  });
});
