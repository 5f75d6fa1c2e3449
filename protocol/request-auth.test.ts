import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "./ed25519.ts";
import { fromBase64url, fromHex, toBase64url, utf8 } from "./encoding.ts";
import { type DeviceId, deviceIdFromPublicKey } from "./ids.ts";
import { PairKeys } from "./pair-key.ts";
import {
  checkRequest,
  checkSignedRequest,
  MAC_HEADER,
  MAX_REQUEST_SKEW_MS,
  macRequest,
  REQUEST_HEADERS,
  REQUEST_KEY_PURPOSE,
  type RequestToSign,
  signRequest,
  UNSIGNED_BODY,
} from "./request-auth.ts";

const client = signingKeyFromSeed(new Uint8Array(32).fill(1));
const server = signingKeyFromSeed(new Uint8Array(32).fill(2));
const clientId = deviceIdFromPublicKey(client.publicKey);
const serverId = deviceIdFromPublicKey(server.publicKey);
const NOW_MS = 1_767_225_600_000;

const request: RequestToSign = {
  method: "POST",
  path: "/v1/sync/push?page=2",
  audience: serverId,
  body: utf8('{"hello":"world"}'),
};
const signed = signRequest(request, client, NOW_MS);

function headersOf(record: Record<string, string>): Headers {
  return new Headers(record);
}

function check(changes: Partial<RequestToSign>, headers = signed, nowMs = NOW_MS) {
  return checkSignedRequest({ ...request, ...changes }, headersOf(headers), nowMs);
}

describe("signRequest", () => {
  test("sets the device, time and signature headers", () => {
    expect(Object.keys(signed).sort()).toEqual(["bucky-device", "bucky-signature", "bucky-time"]);
    expect(signed[REQUEST_HEADERS.device]).toBe(clientId);
    expect(signed[REQUEST_HEADERS.time]).toBe("1767225600000");
    expect(signed[REQUEST_HEADERS.signature]).toMatch(/^[A-Za-z0-9_-]{86}$/);
  });

  test("is deterministic for the same request, key and time", () => {
    expect(signRequest(request, client, NOW_MS)).toEqual(signed);
    expect(signRequest(request, client, NOW_MS + 1)[REQUEST_HEADERS.signature]).not.toBe(
      signed[REQUEST_HEADERS.signature],
    );
  });
});

describe("checkSignedRequest", () => {
  test("accepts the request as signed and names its device", () => {
    expect(check({})).toEqual({ ok: true, device: clientId, timeMs: NOW_MS });
  });

  test("treats the method case-insensitively, as HTTP does", () => {
    expect(check({ method: "post" })).toEqual({ ok: true, device: clientId, timeMs: NOW_MS });
  });

  test("accepts an empty body", () => {
    const empty = { ...request, body: new Uint8Array() };
    const headers = signRequest(empty, client, NOW_MS);
    expect(checkSignedRequest(empty, headersOf(headers), NOW_MS)).toEqual({
      ok: true,
      device: clientId,
      timeMs: NOW_MS,
    });
  });

  test.each<[string, Partial<RequestToSign>]>([
    ["method", { method: "PUT" }],
    ["path", { path: "/v1/sync/push?page=3" }],
    ["path without its query", { path: "/v1/sync/push" }],
    ["body", { body: utf8('{"hello":"World"}') }],
    ["body, empty", { body: new Uint8Array() }],
    ["audience", { audience: clientId }],
  ])("refuses the request with another %s", (_what, changes) => {
    expect(check(changes)).toEqual({ ok: false, reason: "bad request signature" });
  });

  test("refuses the request signed by one device but claimed by another", () => {
    const claimed = { ...signed, [REQUEST_HEADERS.device]: serverId };
    expect(check({}, claimed)).toEqual({ ok: false, reason: "bad request signature" });
  });

  test("accepts a time up to MAX_REQUEST_SKEW_MS either way, and refuses one beyond", () => {
    const tooFar = {
      ok: false as const,
      reason: "the request's time is too far from this device's clock",
    };
    expect(check({}, signed, NOW_MS + MAX_REQUEST_SKEW_MS)).toEqual({
      ok: true,
      device: clientId,
      timeMs: NOW_MS,
    });
    expect(check({}, signed, NOW_MS - MAX_REQUEST_SKEW_MS)).toEqual({
      ok: true,
      device: clientId,
      timeMs: NOW_MS,
    });
    // Authentic, only out of the window: with who made it and how far its clock is off.
    expect(check({}, signed, NOW_MS + MAX_REQUEST_SKEW_MS + 1)).toEqual({
      ...tooFar,
      skewed: { device: clientId, offsetMs: -MAX_REQUEST_SKEW_MS - 1 },
    });
    expect(check({}, signed, NOW_MS - MAX_REQUEST_SKEW_MS - 1)).toEqual({
      ...tooFar,
      skewed: { device: clientId, offsetMs: MAX_REQUEST_SKEW_MS + 1 },
    });
    // A day off or more: refused before its signature is checked, so nothing is said of it.
    expect(check({}, signed, 0)).toEqual(tooFar);
    expect(check({}, signed, NOW_MS - 86_400_001)).toEqual(tooFar);
  });

  test("says nothing of the clock of a request out of the window that does not verify", () => {
    const later = NOW_MS + 2 * MAX_REQUEST_SKEW_MS;
    const moved = { ...signed, [REQUEST_HEADERS.time]: String(later) };
    expect(check({}, moved, NOW_MS)).toEqual({ ok: false, reason: "bad request signature" });
  });

  test("refuses a time header changed to bring a stale request back into the window", () => {
    const later = NOW_MS + 10 * MAX_REQUEST_SKEW_MS;
    const moved = { ...signed, [REQUEST_HEADERS.time]: String(later) };
    expect(check({}, moved, later)).toEqual({ ok: false, reason: "bad request signature" });
  });

  const { [REQUEST_HEADERS.device]: _device, ...withoutDevice } = signed;
  const { [REQUEST_HEADERS.time]: _time, ...withoutTime } = signed;
  const { [REQUEST_HEADERS.signature]: _signature, ...withoutSignature } = signed;
  const badDevice = "missing or malformed bucky-device header";
  const badTime = "malformed bucky-time header";
  const badSignature = "missing or malformed bucky-signature header";

  test.each<[string, Record<string, string>, string]>([
    ["no device header", withoutDevice, badDevice],
    [
      "a zone id as device",
      { ...signed, [REQUEST_HEADERS.device]: `z${clientId.slice(1)}` },
      badDevice,
    ],
    [
      "a truncated device id",
      { ...signed, [REQUEST_HEADERS.device]: clientId.slice(0, -1) },
      badDevice,
    ],
    [
      "an uppercase device id",
      { ...signed, [REQUEST_HEADERS.device]: clientId.toUpperCase() },
      badDevice,
    ],
    ["no time header", withoutTime, badTime],
    ["an empty time", { ...signed, [REQUEST_HEADERS.time]: "" }, badTime],
    ["a negative time", { ...signed, [REQUEST_HEADERS.time]: "-1767225600000" }, badTime],
    ["a fractional time", { ...signed, [REQUEST_HEADERS.time]: "1767225600000.0" }, badTime],
    ["a time in exponent form", { ...signed, [REQUEST_HEADERS.time]: "1.7672256e12" }, badTime],
    ["a time with spaces", { ...signed, [REQUEST_HEADERS.time]: "1767225600000 1" }, badTime],
    ["a time past 2^53", { ...signed, [REQUEST_HEADERS.time]: "9007199254740993" }, badTime],
    ["a time of 17 digits", { ...signed, [REQUEST_HEADERS.time]: "01767225600000000" }, badTime],
    ["no signature header", withoutSignature, badSignature],
    ["an empty signature", { ...signed, [REQUEST_HEADERS.signature]: "" }, badSignature],
    [
      "a padded signature",
      { ...signed, [REQUEST_HEADERS.signature]: `${signed[REQUEST_HEADERS.signature]}==` },
      badSignature,
    ],
    ["a base64 signature", { ...signed, [REQUEST_HEADERS.signature]: "+/+/" }, badSignature],
    [
      "a short signature",
      { ...signed, [REQUEST_HEADERS.signature]: toBase64url(new Uint8Array(63)) },
      badSignature,
    ],
  ])("refuses a request with %s", (_what, headers, reason) => {
    expect(check({}, headers)).toEqual({ ok: false, reason });
  });

  test("refuses, without throwing, a device id naming a small-order key", () => {
    // Under the identity point, R = identity and S = 0 verify for every message.
    const weakKey = fromHex(`01${"00".repeat(31)}`) as Uint8Array;
    const signature = new Uint8Array(64);
    signature.set(weakKey);
    const headers = {
      [REQUEST_HEADERS.device]: deviceIdFromPublicKey(weakKey),
      [REQUEST_HEADERS.time]: String(NOW_MS),
      [REQUEST_HEADERS.signature]: toBase64url(signature),
    };
    expect(check({}, headers)).toEqual({ ok: false, reason: "bad request signature" });
  });

  test("refuses, without throwing, a device id that is not a point on the curve", () => {
    // y = 2 has no x on edwards25519: no public key has this encoding.
    const notAPoint = fromHex(`02${"00".repeat(31)}`) as Uint8Array;
    const headers = { ...signed, [REQUEST_HEADERS.device]: deviceIdFromPublicKey(notAPoint) };
    expect(check({}, headers)).toEqual({ ok: false, reason: "bad request signature" });
  });

  test("reads headers through get(), whatever their case on the wire", () => {
    const upper = Object.fromEntries(
      Object.entries(signed).map(([name, value]) => [name.toUpperCase(), value]),
    );
    expect(check({}, upper)).toEqual({ ok: true, device: clientId as DeviceId, timeMs: NOW_MS });
  });
});

describe("checkRequest, version 2: a tag under the pair key", () => {
  const third = signingKeyFromSeed(new Uint8Array(32).fill(3));
  const thirdId = deviceIdFromPublicKey(third.publicKey);
  const pairs = {
    [clientId]: new PairKeys(new Uint8Array(32).fill(1), clientId),
    [serverId]: new PairKeys(new Uint8Array(32).fill(2), serverId),
    [thirdId]: new PairKeys(new Uint8Array(32).fill(3), thirdId),
  } as Record<DeviceId, PairKeys>;
  /** What `at` makes of a request from `from`: the key it shares with it. */
  const keyAt = (at: DeviceId) => (from: DeviceId) => pairs[at]?.key(from, at, REQUEST_KEY_PURPOSE);
  const tagged = macRequest(
    request,
    clientId,
    pairs[clientId]?.key(clientId, serverId, REQUEST_KEY_PURPOSE) as Uint8Array,
    NOW_MS,
  );
  const checkV2 = (
    changes: Partial<RequestToSign> = {},
    headers: Record<string, string> = tagged,
    at: DeviceId = serverId,
    nowMs = NOW_MS,
  ) => checkRequest({ ...request, ...changes }, new Headers(headers), nowMs, keyAt(at));
  const refused = { ok: false as const, reason: "bad request authentication" };

  test("sets the device, time and tag headers, and no signature", () => {
    expect(Object.keys(tagged).sort()).toEqual(["bucky-device", "bucky-mac", "bucky-time"]);
    expect(tagged[MAC_HEADER]).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test("accepts the request as made and names its device, within the same window", () => {
    const accepted = { ok: true as const, device: clientId, timeMs: NOW_MS };
    expect(checkV2()).toEqual(accepted);
    expect(checkV2({}, tagged, serverId, NOW_MS + MAX_REQUEST_SKEW_MS)).toEqual(accepted);
    expect(checkV2({}, tagged, serverId, NOW_MS - MAX_REQUEST_SKEW_MS - 1)).toEqual({
      ok: false,
      reason: "the request's time is too far from this device's clock",
      skewed: { device: clientId, offsetMs: MAX_REQUEST_SKEW_MS + 1 },
    });
    // A tag that does not check out says nothing of anyone's clock.
    const forged = { ...tagged, [MAC_HEADER]: "A".repeat(43) };
    expect(checkV2({}, forged, serverId, NOW_MS - MAX_REQUEST_SKEW_MS - 1)).toEqual({
      ok: false,
      reason: "bad request authentication",
    });
  });

  test("accepts a streamed body as v1 does (UNSIGNED_BODY)", () => {
    const streamed: RequestToSign = { ...request, body: UNSIGNED_BODY };
    const key = pairs[clientId]?.key(clientId, serverId, REQUEST_KEY_PURPOSE) as Uint8Array;
    const headers = macRequest(streamed, clientId, key, NOW_MS);
    expect(checkV2({ body: UNSIGNED_BODY }, headers).ok).toBe(true);
    expect(checkV2({ body: new Uint8Array() }, headers)).toEqual(refused);
  });

  test.each<[string, Partial<RequestToSign>]>([
    ["method", { method: "PUT" }],
    ["path", { path: "/v1/sync/push?page=3" }],
    ["body", { body: utf8('{"hello":"World"}') }],
    ["streamed body", { body: UNSIGNED_BODY }],
    ["audience", { audience: thirdId }],
  ])("refuses the request with another %s", (_what, changes) => {
    expect(checkV2(changes)).toEqual(refused);
  });

  test("refuses a time moved to bring a stale request back into the window", () => {
    const later = NOW_MS + 10 * MAX_REQUEST_SKEW_MS;
    const moved = { ...tagged, [REQUEST_HEADERS.time]: String(later) };
    expect(checkV2({}, moved, serverId, later)).toEqual(refused);
  });

  test("refuses the request sent on to a third device (misdirected or replayed there)", () => {
    expect(checkV2({ audience: thirdId }, tagged, thirdId)).toEqual(refused);
    expect(checkV2({}, tagged, thirdId)).toEqual(refused);
  });

  test("refuses a third device claiming to be the client, with the key it can make", () => {
    const own = pairs[thirdId]?.key(thirdId, serverId, REQUEST_KEY_PURPOSE) as Uint8Array;
    const forged = macRequest(request, clientId, own, NOW_MS);
    expect(checkV2({}, forged)).toEqual(refused);
    // Its own name on it, it is what it is: the third device (membership is the caller's).
    expect(checkV2({}, macRequest(request, thirdId, own, NOW_MS)).ok).toBe(true);
  });

  test("refuses the request passed back to its sender as the server's", () => {
    const reflected = { ...tagged, [REQUEST_HEADERS.device]: serverId };
    expect(checkV2({ audience: clientId }, reflected, clientId)).toEqual(refused);
    expect(checkV2({}, reflected, clientId)).toEqual(refused);
  });

  test("refuses a device the caller has no key for", () => {
    expect(checkRequest(request, new Headers(tagged), NOW_MS, () => undefined)).toEqual(refused);
  });

  test("refuses, without throwing, a device id naming a small-order key", () => {
    const weak = deviceIdFromPublicKey(fromHex(`01${"00".repeat(31)}`) as Uint8Array);
    const headers = { ...tagged, [REQUEST_HEADERS.device]: weak };
    expect(checkV2({}, headers)).toEqual(refused);
  });

  test("refuses a request with both a signature and a tag", () => {
    expect(checkV2({}, { ...signed, [MAC_HEADER]: tagged[MAC_HEADER] as string })).toEqual({
      ok: false,
      reason: "both bucky-signature and bucky-mac headers",
    });
  });

  test.each<[string, string]>([
    ["an empty tag", ""],
    ["a short tag", toBase64url(new Uint8Array(31))],
    ["a long tag", toBase64url(new Uint8Array(33))],
    ["a base64 tag", "+/+/"],
  ])("refuses %s", (_what, tag) => {
    expect(checkV2({}, { ...tagged, [MAC_HEADER]: tag })).toEqual({
      ok: false,
      reason: "missing or malformed bucky-mac header",
    });
  });

  test("refuses any one bit of the tag flipped", () => {
    const tag = fromBase64url(tagged[MAC_HEADER] as string) as Uint8Array;
    for (let bit = 0; bit < tag.length * 8; bit++) {
      const flipped = new Uint8Array(tag);
      flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
      expect(checkV2({}, { ...tagged, [MAC_HEADER]: toBase64url(flipped) })).toEqual(refused);
    }
  });

  test("refuses, without throwing, a tag of 43 characters that are not all one byte", () => {
    // Header values are bytes: Latin-1 characters arrive as one character each, which UTF-8
    // would spell in two (a length timingSafeEqual would throw on, from any client).
    for (const tag of ["é".repeat(43), `${"A".repeat(42)}\u00ff`, `${"A".repeat(42)}\u20ac`]) {
      const headers = {
        get: (name: string) => (name === MAC_HEADER ? tag : (tagged[name] ?? null)),
      };
      expect(checkRequest(request, headers, NOW_MS, keyAt(serverId))).toEqual(refused);
    }
  });

  test("refuses the right tag spelled another way (its unused last bits set)", () => {
    const mac = tagged[MAC_HEADER] as string;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // The last of 43 characters carries 2 bits of the tag and 4 unused ones.
    const last = alphabet.indexOf(mac.slice(-1));
    const respelled = `${mac.slice(0, -1)}${alphabet[last | 1]}`;
    expect(fromBase64url(respelled)).toBeUndefined();
    expect(checkV2({}, { ...tagged, [MAC_HEADER]: respelled })).toEqual(refused);
  });

  test("still accepts version 1, a signature, with no key needed", () => {
    expect(checkRequest(request, new Headers(signed), NOW_MS, () => undefined)).toEqual({
      ok: true,
      device: clientId,
      timeMs: NOW_MS,
    });
  });
});
