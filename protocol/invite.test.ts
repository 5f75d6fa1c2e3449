import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { type SigningKey, signingKeyFromSeed } from "./ed25519.ts";
import { fromBase64url, fromUtf8, toBase64url, toHex, utf8 } from "./encoding.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import {
  hashInviteSecret,
  INVITE_TYPE,
  type Invite,
  MAX_INVITE_ADDRESSES,
  signInvite,
  verifyInvite,
} from "./invite.ts";
import { refusal } from "./test-refusal.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const otherOwner = signingKeyFromSeed(new Uint8Array(32).fill(2));
const inviterKey = signingKeyFromSeed(new Uint8Array(32).fill(3));
const zone = zoneIdFromPublicKey(owner.publicKey);
const inviter = deviceIdFromPublicKey(inviterKey.publicKey);
const id = toBase64url(new Uint8Array(16).fill(0xab));
const secret = new Uint8Array(32).fill(0xcd);
const EXPIRES_AT = 1_767_225_600;

const fields: Omit<Invite, "zone"> = {
  inviter,
  id,
  secret,
  expiresAt: EXPIRES_AT,
  addresses: ["https://192.168.1.10:8443", "https://[fd00::1]:8443", "https://laptop.lan:443"],
};
const token = signInvite(fields, owner);

const header = { alg: "EdDSA", typ: INVITE_TYPE, kid: zone };
const payload = {
  zone,
  inviter,
  id,
  secret: toBase64url(secret),
  exp: EXPIRES_AT,
  addrs: fields.addresses,
};

/** A compact JWS of exactly these header and payload values, signed by `signer`. */
function craft(headerValue: object, payloadValue: unknown, signer: SigningKey = owner): string {
  const input = `${part(headerValue)}.${part(payloadValue)}`;
  return `${input}.${toBase64url(signer.sign(utf8(input)))}`;
}

function part(value: unknown): string {
  return toBase64url(utf8(JSON.stringify(value)));
}

describe("signInvite", () => {
  test("signs the zone, inviter, id, secret, expiry and addresses under kid = zone id", () => {
    const [headerPart, payloadPart] = token.split(".") as [string, string];
    expect(JSON.parse(fromUtf8(fromBase64url(headerPart) as Uint8Array) as string)).toEqual(header);
    expect(JSON.parse(fromUtf8(fromBase64url(payloadPart) as Uint8Array) as string)).toEqual(
      payload,
    );
  });
});

describe("verifyInvite", () => {
  test("returns what was signed, with the zone of the signing owner", () => {
    expect(verifyInvite(token)).toEqual({ zone, ...fields });
  });

  test("ignores whitespace around a pasted token", () => {
    expect(verifyInvite(`  ${token}\n`)).toEqual({ zone, ...fields });
  });

  test("does not check expiry: an invitation from 1970 still verifies", () => {
    const old = signInvite({ ...fields, expiresAt: 0 }, owner);
    expect(verifyInvite(old).expiresAt).toBe(0);
  });

  test("accepts no addresses and exactly MAX_INVITE_ADDRESSES of them", () => {
    expect(verifyInvite(signInvite({ ...fields, addresses: [] }, owner)).addresses).toEqual([]);
    const many = Array.from({ length: MAX_INVITE_ADDRESSES }, (_, i) => `https://10.0.0.${i}:1`);
    expect(verifyInvite(signInvite({ ...fields, addresses: many }, owner)).addresses).toEqual(many);
  });

  test("refuses a token whose payload was changed after signing", () => {
    const [headerPart, , signaturePart] = token.split(".");
    const later = part({ ...payload, exp: EXPIRES_AT + 86_400 });
    expect(refusal(() => verifyInvite(`${headerPart}.${later}.${signaturePart}`))).toBe(
      "JWS signature does not verify",
    );
  });

  test("refuses a token signed by a key other than the zone's owner", () => {
    expect(refusal(() => verifyInvite(craft(header, payload, otherOwner)))).toBe(
      "JWS signature does not verify",
    );
    expect(refusal(() => verifyInvite(craft(header, payload, inviterKey)))).toBe(
      "JWS signature does not verify",
    );
  });

  test("refuses a token from one owner that claims another zone", () => {
    const otherZone = zoneIdFromPublicKey(otherOwner.publicKey);
    expect(refusal(() => verifyInvite(craft({ ...header, kid: otherZone }, payload)))).toBe(
      "invitation is not signed by its zone's owner",
    );
  });

  test.each([
    ["a zone document type", "bucky-zone/1"],
    ["a JWT type", "JWT"],
    ["a later version", "bucky-invite/2"],
  ])("refuses %s", (_what, typ) => {
    expect(refusal(() => verifyInvite(craft({ ...header, typ }, payload)))).toBe(
      "not a bucky invitation",
    );
  });

  test.each([
    ["without a port", "https://laptop.lan"],
    ["with http", "http://laptop.lan:8443"],
    ["with a path", "https://laptop.lan:8443/"],
    ["with a longer path", "https://laptop.lan:8443/v1/join"],
    ["with no host", "https://"],
    ["with a space", "https://lap top:8443"],
    ["with a query", "https://laptop.lan:8443?x=1"],
    ["with a fragment", "https://laptop.lan:8443#x"],
    ["with credentials", "https://user@laptop.lan:8443"],
    ["with a port that is not a number", "https://laptop.lan:https"],
    ["with an empty port", "https://laptop.lan:"],
    ["with a port of 6 digits", "https://laptop.lan:844300"],
    ["of a bare host", "laptop.lan:8443"],
  ])("refuses an address %s", (_what, address) => {
    const addrs = ["https://10.0.0.1:8443", address];
    expect(refusal(() => verifyInvite(signInvite({ ...fields, addresses: addrs }, owner)))).toBe(
      "invitation address 1 is not https://host:port",
    );
  });

  test("refuses an address that is not a string or is over-long", () => {
    expect(refusal(() => verifyInvite(craft(header, { ...payload, addrs: [8443] })))).toBe(
      "invitation address 0 must be a string",
    );
    const long = `https://${"a".repeat(244)}:8443`;
    expect(long.length).toBe(257);
    expect(refusal(() => verifyInvite(signInvite({ ...fields, addresses: [long] }, owner)))).toBe(
      "invitation address 0 is longer than 256 characters",
    );
  });

  test("refuses more than MAX_INVITE_ADDRESSES addresses", () => {
    const many = Array.from({ length: MAX_INVITE_ADDRESSES + 1 }, (_, i) => `https://h${i}:1`);
    expect(refusal(() => verifyInvite(signInvite({ ...fields, addresses: many }, owner)))).toBe(
      "invitation addresses must be a short list",
    );
    expect(refusal(() => verifyInvite(craft(header, { ...payload, addrs: "https://h:1" })))).toBe(
      "invitation addresses must be a short list",
    );
  });

  test.each<[string, Record<string, unknown>, string]>([
    ["an id of 15 bytes", { id: toBase64url(new Uint8Array(15)) }, "invitation id is malformed"],
    ["an id of 17 bytes", { id: toBase64url(new Uint8Array(17)) }, "invitation id is malformed"],
    ["an id in padded base64", { id: `${id}==` }, "invitation id is malformed"],
    ["an id with + and /", { id: "q6urq6urq6urq6urq6urq+" }, "invitation id is malformed"],
    ["an empty id", { id: "" }, "invitation id is malformed"],
    ["an over-long id", { id: "a".repeat(33) }, "invitation id is longer than 32 characters"],
    ["a numeric id", { id: 7 }, "invitation id must be a string"],
    [
      "a secret of 31 bytes",
      { secret: toBase64url(new Uint8Array(31)) },
      "invitation secret is malformed",
    ],
    [
      "a secret of 33 bytes",
      { secret: toBase64url(new Uint8Array(33)) },
      "invitation secret is malformed",
    ],
    ["a secret in hex", { secret: toHex(secret) }, "invitation secret is malformed"],
    [
      "a secret over 64 characters",
      { secret: "a".repeat(65) },
      "invitation secret is longer than 64 characters",
    ],
    [
      "a secret that is not base64url",
      { secret: "!".repeat(43) },
      "invitation secret is malformed",
    ],
    ["a zone id as inviter", { inviter: zone }, "invitation inviter is not a device id"],
    [
      "a negative exp",
      { exp: -1 },
      "invitation exp must be a whole number from 0 to 9007199254740991",
    ],
    [
      "an exp string",
      { exp: "1767225600" },
      "invitation exp must be a whole number from 0 to 9007199254740991",
    ],
    ["an unknown field", { role: "admin" }, 'invitation has an unknown field "role"'],
  ])("refuses a signed payload with %s", (_what, changes, message) => {
    expect(refusal(() => verifyInvite(craft(header, { ...payload, ...changes })))).toBe(message);
  });

  test("refuses a payload that names no zone or a device as its zone", () => {
    const { zone: _zone, ...withoutZone } = payload;
    expect(refusal(() => verifyInvite(craft(header, withoutZone)))).toBe(
      "invitation zone must be a string",
    );
    expect(refusal(() => verifyInvite(craft(header, { ...payload, zone: inviter })))).toBe(
      "invitation is not signed by its zone's owner",
    );
  });

  test("refuses text that is not a JWS", () => {
    expect(refusal(() => verifyInvite(""))).toBe("JWS must have three dot-separated parts");
    expect(refusal(() => verifyInvite("bucky-invite"))).toBe(
      "JWS must have three dot-separated parts",
    );
  });
});

describe("hashInviteSecret", () => {
  test("is the SHA-256 of the secret", () => {
    expect(toHex(hashInviteSecret(secret))).toBe(createHash("sha256").update(secret).digest("hex"));
    expect(toHex(hashInviteSecret(new Uint8Array()))).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
  });
});
