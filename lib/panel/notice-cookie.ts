/**
 * The notice an action leaves for the next page of the panel, in a cookie only a gateway
 * of the zone can make, and for one session only.
 *
 * A cookie's name is all a browser checks: a script of an app at `evil.<zone host>` may set
 * `bucky_notice` for `Domain=<zone host>`, and the browser sends it to the panel. Its words
 * were shown as bucky's own ("your recovery phrase leaked, re-enter it at …") on every page,
 * for as long as the script asked (400 days). So a notice is read only with a mac the
 * gateway made for the session the request is of; any other is ignored, silently (a
 * person can do nothing about it), and cleared.
 *
 *   key   = HKDF-SHA256(the session cookie's value, salt "bucky", info "bucky panel notice v1")
 *   mac   = HMAC-SHA256(key, "bucky panel notice v1" ‖ u32 length ‖ session id ‖ payload)
 *   value = base64url(payload) "." base64url(mac), payload = JSON {kind, text, hint?, exp}
 *
 * The key is the session's own: every gateway of the zone is sent the session cookie, and no
 * app's script can read it (HttpOnly) nor is any app sent it (lib/gateway/forward.ts), so a
 * notice one gateway made opens at another answering the same name (two gateways sharing
 * it), where a key of each device's own was lost between them.
 * `exp` (ms) bounds a notice's life as the cookie's Max-Age does, whatever the browser keeps.
 */
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { PANEL_PATH } from "../gateway/routing.ts";
import type { Notice } from "./layout.tsx";

export const NOTICE_COOKIE = "bucky_notice";
/** How long a notice waits for the page after the action (seconds): a redirect's time. */
export const NOTICE_TTL_S = 120;
/**
 * The longest cookie value read: what the panel makes stays under a browser's 4096 bytes
 * (page.tsx fits it), and anything longer is no notice of ours, so is not decoded.
 */
export const NOTICE_VALUE_MAX_CHARS = 4096;
/** How many values of the cookie one request's header is searched for ours (see below). */
const NOTICE_VALUES_MAX = 8;

const LABEL = "bucky panel notice v1";
const KEY_BYTES = 32;
const MAC_BYTES = 32;

/** The key a session's notices are sealed with: only what is sent its cookie makes one. */
export function deriveNoticeKey(sessionCookie: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", sessionCookie, "bucky", LABEL, KEY_BYTES));
}

/** The cookie value carrying `notice` for the session `sessionId`, good until `expiresAtMs`. */
export function sealNotice(
  key: Uint8Array,
  sessionId: string,
  notice: Notice,
  expiresAtMs: number,
): string {
  const payload = Buffer.from(JSON.stringify({ ...notice, exp: expiresAtMs }));
  return `${payload.toString("base64url")}.${macOf(key, sessionId, payload).toString("base64url")}`;
}

/**
 * The notice a cookie value carries, if this key made it for `sessionId` and it has not
 * expired; undefined for anything else (forged, another session's, altered, too old, too
 * long, malformed).
 */
export function openNotice(
  key: Uint8Array,
  sessionId: string,
  value: string,
  nowMs: number,
): Notice | undefined {
  if (value.length > NOTICE_VALUE_MAX_CHARS) return undefined;
  const [payloadText, macText, ...rest] = value.split(".");
  if (payloadText === undefined || macText === undefined || rest.length > 0) return undefined;
  const payload = Buffer.from(payloadText, "base64url");
  const mac = Buffer.from(macText, "base64url");
  // Decoding skips what is not base64url, and a last character's spare bits: only the
  // canonical text of these bytes is ours (one notice, one value).
  if (payload.toString("base64url") !== payloadText || mac.toString("base64url") !== macText)
    return undefined;
  if (mac.length !== MAC_BYTES) return undefined;
  if (!timingSafeEqual(mac, macOf(key, sessionId, payload))) return undefined;
  let fields: Partial<Notice> & { exp?: unknown };
  try {
    fields = JSON.parse(payload.toString("utf8"));
  } catch {
    return undefined;
  }
  if (fields === null || typeof fields !== "object") return undefined;
  if (typeof fields.exp !== "number" || !(nowMs < fields.exp)) return undefined;
  if ((fields.kind !== "ok" && fields.kind !== "error") || typeof fields.text !== "string")
    return undefined;
  return {
    kind: fields.kind,
    text: fields.text,
    ...(typeof fields.hint === "string" ? { hint: fields.hint } : {}),
  };
}

/**
 * What a request's cookies say: whether any `bucky_notice` came (ours or not: either way
 * the page clears it), and the first that opens. Every value is tried, not the first alone:
 * a browser sends a planted one with a longer path before ours, and it would hide ours.
 */
export function noticeOfCookies(
  key: Uint8Array,
  sessionId: string,
  cookieHeader: string | undefined,
  nowMs: number,
): { readonly came: boolean; readonly notice: Notice | undefined } {
  const values = (cookieHeader ?? "")
    .split(";")
    .map((part) => part.trim())
    .filter((part) => part.startsWith(`${NOTICE_COOKIE}=`))
    .map((part) => part.slice(NOTICE_COOKIE.length + 1));
  let notice: Notice | undefined;
  for (const value of values.slice(0, NOTICE_VALUES_MAX)) {
    notice = openNotice(key, sessionId, value, nowMs);
    if (notice) break;
  }
  return { came: values.length > 0, notice };
}

/** The Set-Cookie that leaves a sealed notice for the panel's next page. */
export function noticeSetCookie(value: string): string {
  return `${NOTICE_COOKIE}=${value}; Path=${PANEL_PATH}; Max-Age=${NOTICE_TTL_S}; HttpOnly; SameSite=Strict`;
}

/**
 * The Set-Cookies that clear the notice cookie: ours (host-only), and one set for
 * `Domain=<host>` (by a script of an app on a sibling host), which a host-only clearing
 * never removes: a browser keeps the two apart.
 */
export function noticeClearingCookies(host: string): string[] {
  const cleared = `${NOTICE_COOKIE}=; Path=${PANEL_PATH}; Max-Age=0`;
  return [cleared, `${cleared}; Domain=${host}`];
}

function macOf(key: Uint8Array, sessionId: string, payload: Uint8Array): Buffer {
  const id = Buffer.from(sessionId);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(id.length);
  return createHmac("sha256", key).update(LABEL).update(length).update(id).update(payload).digest();
}
