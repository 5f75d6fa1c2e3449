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
 */
import { createHash } from "node:crypto";
import { SIGNATURE_BYTES, type SigningKey, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url, utf8 } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { type DeviceId, deviceIdFromPublicKey, parseDeviceId, publicKeyOfId } from "./ids.ts";

export const REQUEST_HEADERS = {
  device: "bucky-device",
  time: "bucky-time",
  signature: "bucky-signature",
} as const;

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
  | { ok: false; reason: string };

/**
 * Checks a request's signature headers. It says who signed; whether that device may
 * make the request (a member, not revoked) is the caller's decision.
 */
export function checkSignedRequest(
  request: RequestToSign,
  headers: { get(name: string): string | null },
  nowMs: number,
): RequestCheck {
  const device = parseDeviceId(headers.get(REQUEST_HEADERS.device) ?? "");
  if (!device)
    return { ok: false, reason: `missing or malformed ${REQUEST_HEADERS.device} header` };
  const timeText = headers.get(REQUEST_HEADERS.time) ?? "";
  const timeMs = /^\d{1,16}$/.test(timeText) ? Number(timeText) : Number.NaN;
  if (!Number.isSafeInteger(timeMs))
    return { ok: false, reason: `malformed ${REQUEST_HEADERS.time} header` };
  if (Math.abs(nowMs - timeMs) > MAX_REQUEST_SKEW_MS) {
    return { ok: false, reason: "the request's time is too far from this device's clock" };
  }
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
  return valid ? { ok: true, device, timeMs } : { ok: false, reason: "bad request signature" };
}

function signingInput(request: RequestToSign, timeMs: number): Uint8Array {
  const bodyHash =
    request.body === UNSIGNED_BODY
      ? UNSIGNED_BODY
      : createHash("sha256").update(request.body).digest("hex");
  return utf8(
    [
      "bucky request v1",
      request.method.toUpperCase(),
      request.path,
      request.audience,
      String(timeMs),
      bodyHash,
    ].join("\n"),
  );
}
