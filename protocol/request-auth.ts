/**
 * Signed requests between devices. TLS pinned to the server's device key authenticates
 * the server and encrypts; the client is authenticated by signing each request with its
 * device key (a Bun server cannot see client certificates). The signature covers the
 * method, path, body hash, time and the server's device id, so a request cannot be
 * altered, or replayed to another device, and goes stale within minutes.
 *
 *   bucky-device:    the client's device id
 *   bucky-time:      milliseconds since the epoch when it was signed
 *   bucky-signature: base64url Ed25519 over the signing input below
 *
 * Version 2 authenticates the same request with a key the two devices share instead of a
 * signature (protocol/pair-key.ts: from X25519 of their device keys, one key each way):
 * HMAC-SHA256 over what the signature covers, and the sender too. Only the two devices can
 * make that key, so only the sender could have made the tag (the receiver, which also can,
 * is the one checking it); a request made for one device does not check at another, nor
 * passed back to its sender. The time window is the same. A signature costs its sender
 * about 11 µs and its receiver about 36 µs, per request; a tag about 2 µs each, once the
 * pair's key is made (once per peer). Version 1 stays accepted: a device says in its
 * `devices/<name>/info` that it takes version 2, so a device that does not is still called
 * with signatures.
 *
 *   bucky-device: the client's device id
 *   bucky-time:   milliseconds since the epoch when it was made
 *   bucky-mac:    base64url HMAC-SHA256 over the v2 input below, with the pair key
 *                 from the client to the server for REQUEST_KEY_PURPOSE
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { SIGNATURE_BYTES, type SigningKey, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url, utf8 } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { type DeviceId, deviceIdFromPublicKey, parseDeviceId, publicKeyOfId } from "./ids.ts";

export const REQUEST_HEADERS = {
  device: "bucky-device",
  time: "bucky-time",
  signature: "bucky-signature",
} as const;

/** Version 2's header, in place of REQUEST_HEADERS.signature. */
export const MAC_HEADER = "bucky-mac";

/** What the pair key of version 2 is for (protocol/pair-key.ts). */
export const REQUEST_KEY_PURPOSE = "request v2";

/** The newest version of request authentication this code accepts. */
export const REQUEST_AUTH_VERSION = 2;

/** An HMAC-SHA256 tag, 32 bytes, in unpadded base64url. */
const MAC_CHARS = 43;

export const UNSIGNED_BODY = "unsigned";

/** How far a request's time may be from the server's clock. */
export const MAX_REQUEST_SKEW_MS = 5 * 60 * 1000;

export interface RequestToSign {
  readonly method: string;
  /** Path and query, as sent: `/v1/sync/pull?x=1`. */
  readonly path: string;
  /** The device the request is for. */
  readonly audience: DeviceId;
  /**
   * The body, or UNSIGNED_BODY for a streamed body the signature does not cover (the
   * pinned TLS connection still protects it): only proxied app traffic is sent that way.
   */
  readonly body: Uint8Array | typeof UNSIGNED_BODY;
}

export function signRequest(
  request: RequestToSign,
  key: SigningKey,
  nowMs: number,
): Record<string, string> {
  return {
    [REQUEST_HEADERS.device]: deviceIdFromPublicKey(key.publicKey),
    [REQUEST_HEADERS.time]: String(nowMs),
    [REQUEST_HEADERS.signature]: toBase64url(key.sign(signingInput(request, nowMs))),
  };
}

export type RequestCheck =
  | { ok: true; device: DeviceId /** When the signer's clock said it signed. */; timeMs: number }
  | {
      ok: false;
      reason: string;
      /**
       * Set only for a request that authenticates but whose time is out of the window: who
       * made it, and how far its time is ahead of the checker's clock (negative: behind).
       */
      skewed?: { device: DeviceId; offsetMs: number };
    };

/**
 * Checks a request's signature headers. It says who signed; whether that device may
 * make the request (a member, not revoked) is the caller's decision.
 */
export function checkSignedRequest(
  request: RequestToSign,
  headers: { get(name: string): string | null },
  nowMs: number,
): RequestCheck {
  const stated = statedDevice(headers, nowMs);
  if (!stated.ok) return stated;
  const { device, timeMs } = stated;
  const signature = fromBase64url(headers.get(REQUEST_HEADERS.signature) ?? "");
  // An absent header reads as "", which is valid base64url for no bytes: check the length.
  if (signature?.length !== SIGNATURE_BYTES)
    return { ok: false, reason: `missing or malformed ${REQUEST_HEADERS.signature} header` };
  let valid = false;
  try {
    const key = verifyKeyFromPublicKey(publicKeyOfId(device, "device") as Uint8Array);
    valid = key.verify(signingInput(request, timeMs), signature);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
  }
  return valid ? inWindow(device, timeMs, nowMs) : { ok: false, reason: "bad request signature" };
}

/**
 * Version 2: the headers that authenticate `request` from device `from` with `key`, the
 * pair key from `from` to the request's audience for REQUEST_KEY_PURPOSE.
 */
export function macRequest(
  request: RequestToSign,
  from: DeviceId,
  key: Uint8Array,
  nowMs: number,
): Record<string, string> {
  return {
    [REQUEST_HEADERS.device]: from,
    [REQUEST_HEADERS.time]: String(nowMs),
    [MAC_HEADER]: macOf(key, macInput(request, from, nowMs)),
  };
}

/**
 * Checks a request authenticated either way: by a signature (version 1), or by a tag with
 * the pair key `keyFrom` gives for the device it names (version 2; undefined refuses it).
 * Who it says made it and when are checked first, so a stranger costs no key agreement
 * for a malformed request or one a day off; one authentic but out of the time window says
 * by how much (`skewed`), for the refusal to say the clocks disagree. A request with both
 * a signature and a tag is refused: what authenticates it must be one thing.
 */
export function checkRequest(
  request: RequestToSign,
  headers: { get(name: string): string | null },
  nowMs: number,
  keyFrom: (device: DeviceId) => Uint8Array | undefined,
): RequestCheck {
  const mac = headers.get(MAC_HEADER);
  if (mac === null) return checkSignedRequest(request, headers, nowMs);
  if (headers.get(REQUEST_HEADERS.signature) !== null)
    return { ok: false, reason: `both ${REQUEST_HEADERS.signature} and ${MAC_HEADER} headers` };
  const stated = statedDevice(headers, nowMs);
  if (!stated.ok) return stated;
  // Compared as text: only the one canonical spelling of the right tag equals it.
  if (mac.length !== MAC_CHARS)
    return { ok: false, reason: `missing or malformed ${MAC_HEADER} header` };
  let key: Uint8Array | undefined;
  try {
    key = keyFrom(stated.device);
  } catch (error) {
    // A device id whose key makes no pair key (small order, not a point): nobody's.
    if (!(error instanceof ProtocolError)) throw error;
  }
  const expected = key && macOf(key, macInput(request, stated.device, stated.timeMs));
  // A header's characters are its bytes (Latin-1): one each, as the expected tag's are.
  const received = Buffer.from(mac, "latin1");
  return expected &&
    received.length === MAC_CHARS &&
    timingSafeEqual(Buffer.from(expected, "latin1"), received)
    ? inWindow(stated.device, stated.timeMs, nowMs)
    : { ok: false, reason: "bad request authentication" };
}

/**
 * The device and time a request states, if well formed and not absurdly far off (further
 * than a day: no clock is, so that costs no key agreement).
 */
function statedDevice(headers: { get(name: string): string | null }, nowMs: number): RequestCheck {
  const device = parseDeviceId(headers.get(REQUEST_HEADERS.device) ?? "");
  if (!device)
    return { ok: false, reason: `missing or malformed ${REQUEST_HEADERS.device} header` };
  const timeText = headers.get(REQUEST_HEADERS.time) ?? "";
  const timeMs = /^\d{1,16}$/.test(timeText) ? Number(timeText) : Number.NaN;
  if (!Number.isSafeInteger(timeMs))
    return { ok: false, reason: `malformed ${REQUEST_HEADERS.time} header` };
  if (Math.abs(nowMs - timeMs) > MAX_STATED_SKEW_MS) return tooFar;
  return { ok: true, device, timeMs };
}

/** A day: a request further off than this is refused before its authentication is checked. */
const MAX_STATED_SKEW_MS = 86_400_000;
const tooFar = {
  ok: false,
  reason: "the request's time is too far from this device's clock",
} as const;

/**
 * An authentic request, refused when its time is out of the window: then with by how much,
 * so that the device's clock being off can be told apart from a stale request.
 */
function inWindow(device: DeviceId, timeMs: number, nowMs: number): RequestCheck {
  if (Math.abs(nowMs - timeMs) <= MAX_REQUEST_SKEW_MS) return { ok: true, device, timeMs };
  return { ...tooFar, skewed: { device, offsetMs: timeMs - nowMs } };
}

/** The tag, in base64url: HMAC-SHA256 of the input's UTF-8. */
function macOf(key: Uint8Array, input: string): string {
  return createHmac("sha256", key).update(input, "utf8").digest("base64url");
}

function bodyHashOf(body: RequestToSign["body"]): string {
  return body === UNSIGNED_BODY ? UNSIGNED_BODY : createHash("sha256").update(body).digest("hex");
}

function macInput(request: RequestToSign, from: DeviceId, timeMs: number): string {
  return [
    "bucky request v2",
    request.method.toUpperCase(),
    request.path,
    request.audience,
    from,
    String(timeMs),
    bodyHashOf(request.body),
  ].join("\n");
}

function signingInput(request: RequestToSign, timeMs: number): Uint8Array {
  return utf8(
    [
      "bucky request v1",
      request.method.toUpperCase(),
      request.path,
      request.audience,
      String(timeMs),
      bodyHashOf(request.body),
    ].join("\n"),
  );
}
