import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "./ed25519.ts";
import { fromHex, toBase64url } from "./encoding.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import {
  decodeJoinAnswer,
  decodeJoinRequest,
  encodeJoinAnswer,
  encodeJoinRequest,
  openBackupKey,
  sealBackupKey,
} from "./join.ts";
import type { DeviceName } from "./names.ts";
import { refusal } from "./test-refusal.ts";

const zone = zoneIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(1)).publicKey);
const otherZone = zoneIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(2)).publicKey);
const device = signingKeyFromSeed(new Uint8Array(32).fill(3));
const otherDevice = signingKeyFromSeed(new Uint8Array(32).fill(4));
const invite = toBase64url(new Uint8Array(16).fill(0xab));
const secret = new Uint8Array(32).fill(0xcd);
const name = "laptop" as DeviceName;

const encoded = encodeJoinRequest(zone, { invite, secret, name }, device);
const body = JSON.parse(encoded) as Record<string, string>;

const BAD_PROOF = "join request proof does not verify: the device does not hold its key";

describe("join requests", () => {
  test("encode as JSON of the invite, secret, name, key and proof", () => {
    expect(Object.keys(body)).toEqual(["invite", "secret", "name", "key", "proof"]);
    expect(body.invite).toBe(invite);
    expect(body.secret).toBe(toBase64url(secret));
    expect(body.name).toBe("laptop");
    expect(body.key).toBe(toBase64url(device.publicKey));
    expect(body.proof).toMatch(/^[A-Za-z0-9_-]{86}$/);
  });

  test("decode to what was encoded, in the zone they were made for", () => {
    expect(decodeJoinRequest(zone, JSON.parse(encoded))).toEqual({
      invite,
      secret,
      name,
      publicKey: device.publicKey,
    });
  });

  test("refuse a proof made for another zone", () => {
    expect(refusal(() => decodeJoinRequest(otherZone, body))).toBe(BAD_PROOF);
  });

  test("refuse a proof made for another invitation", () => {
    const other = toBase64url(new Uint8Array(16).fill(0xac));
    expect(refusal(() => decodeJoinRequest(zone, { ...body, invite: other }))).toBe(BAD_PROOF);
  });

  test("refuse a proof made for another name", () => {
    expect(refusal(() => decodeJoinRequest(zone, { ...body, name: "desktop" }))).toBe(BAD_PROOF);
  });

  test("refuse a proof by another device's key", () => {
    const key = toBase64url(otherDevice.publicKey);
    expect(refusal(() => decodeJoinRequest(zone, { ...body, key }))).toBe(BAD_PROOF);
    const proof = JSON.parse(encodeJoinRequest(zone, { invite, secret, name }, otherDevice)).proof;
    expect(refusal(() => decodeJoinRequest(zone, { ...body, proof }))).toBe(BAD_PROOF);
  });

  test("do not bind the secret: it is checked against the invitation, not the proof", () => {
    const other = toBase64url(new Uint8Array(32).fill(0xce));
    expect(decodeJoinRequest(zone, { ...body, secret: other }).secret).toEqual(
      new Uint8Array(32).fill(0xce),
    );
  });

  test.each([
    ["empty", "", "it is empty"],
    ["uppercase", "Laptop", 'it contains "L"; use lowercase letters, digits and hyphens'],
    ["with a space", "my laptop", 'it contains " "; use lowercase letters, digits and hyphens'],
    [
      "starting with a digit",
      "1laptop",
      "it must start with a letter and must not end with a hyphen",
    ],
    [
      "ending with a hyphen",
      "laptop-",
      "it must start with a letter and must not end with a hyphen",
    ],
    ["of 64 characters", "a".repeat(64), "it is 64 characters long; the limit is 63"],
  ])("refuse a name that is %s", (_what, badName, reason) => {
    expect(refusal(() => decodeJoinRequest(zone, { ...body, name: badName }))).toBe(
      `join request name is invalid: ${reason}`,
    );
  });

  test("refuse unknown fields", () => {
    expect(refusal(() => decodeJoinRequest(zone, { ...body, admin: true }))).toBe(
      'join request has an unknown field "admin"',
    );
  });

  test.each<[string, unknown, string]>([
    ["a JSON array", [body], "join request must be a map"],
    ["null", null, "join request must be a map"],
    ["the encoded string itself", encoded, "join request must be a map"],
    ["no invite", { ...body, invite: undefined }, "join request invite must be a string"],
    [
      "an over-long invite",
      { ...body, invite: "a".repeat(33) },
      "join request invite is longer than 32 characters",
    ],
    [
      "a secret in padded base64",
      { ...body, secret: `${body.secret}=` },
      "join request secret is malformed",
    ],
    [
      "a key that is not base64url",
      { ...body, key: "+".repeat(43) },
      "join request key is malformed",
    ],
    [
      "a proof that is not base64url",
      { ...body, proof: "/".repeat(86) },
      "join request proof is malformed",
    ],
    [
      "a proof over 128 characters",
      { ...body, proof: "A".repeat(129) },
      "join request proof is longer than 128 characters",
    ],
    [
      "a key of 31 bytes",
      { ...body, key: toBase64url(device.publicKey.subarray(1)) },
      "an Ed25519 public key is 32 bytes, got 31",
    ],
    ["an empty proof", { ...body, proof: "" }, BAD_PROOF],
  ])("refuse %s", (_what, value, message) => {
    expect(refusal(() => decodeJoinRequest(zone, value))).toBe(message);
  });

  test("refuse a small-order key, whose proofs anyone could forge", () => {
    // Under the identity point, R = identity and S = 0 verify for every message.
    const weakKey = fromHex(`01${"00".repeat(31)}`) as Uint8Array;
    const signature = new Uint8Array(64);
    signature.set(weakKey);
    const forged = { ...body, key: toBase64url(weakKey), proof: toBase64url(signature) };
    expect(refusal(() => decodeJoinRequest(zone, forged))).toBe(
      "not a usable Ed25519 public key: it has small order",
    );
  });
});

describe("join answers", () => {
  const deviceSeed = new Uint8Array(32).fill(3);
  const id = deviceIdFromPublicKey(device.publicKey);
  const root = new Uint8Array(32).fill(0x5a);
  const sealed = sealBackupKey({
    zone,
    device: id,
    devicePublicKey: device.publicKey,
    backupRoot: root,
    ephemeral: new Uint8Array(32).fill(9),
    nonce: new Uint8Array(12).fill(1),
  });

  test("without a backup key: the document alone, as before", () => {
    expect(encodeJoinAnswer({ device: "jws" })).toBe('{"device":"jws"}');
    expect(decodeJoinAnswer('{"device":"jws"}')).toEqual({ device: "jws" });
  });

  test("with one: it round-trips, and opens only for that device of that zone", () => {
    const answer = decodeJoinAnswer(encodeJoinAnswer({ device: "jws", backupKey: sealed }));
    expect(answer.backupKey).toEqual(sealed);
    const open = (overrides: Partial<Parameters<typeof openBackupKey>[0]>) =>
      openBackupKey({
        zone,
        device: id,
        seed: deviceSeed,
        devicePublicKey: device.publicKey,
        sealed,
        ...overrides,
      });
    expect(open({})).toEqual(root);
    expect(refusal(() => open({ zone: otherZone }))).toContain("does not open");
    expect(refusal(() => open({ device: deviceIdFromPublicKey(otherDevice.publicKey) }))).toContain(
      "does not open",
    );
    expect(
      refusal(() =>
        open({ seed: new Uint8Array(32).fill(4), devicePublicKey: otherDevice.publicKey }),
      ),
    ).toContain("does not open");
  });

  test.each<[string, string, string]>([
    ["not JSON", "{", "the join answer is not JSON"],
    ["no document", "{}", "join answer device must be a string"],
    [
      "a key that is not base64url",
      '{"device":"j","backupKey":"+"}',
      "join answer backupKey is malformed",
    ],
    [
      "an over-long key",
      `{"device":"j","backupKey":"${"A".repeat(257)}"}`,
      "join answer backupKey is longer than 256 characters",
    ],
  ])("refuse %s", (_what, text, message) => {
    expect(refusal(() => decodeJoinAnswer(text))).toBe(message);
  });
});
