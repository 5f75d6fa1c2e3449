/**
 * Forwarding HTTP and WebSocket traffic on to an app, shared by the gateway and by the
 * ingress each device serves for its own apps. Hop-by-hop headers stop here, and the
 * zone's session cookie never reaches an app.
 */

import type { ServerWebSocket, WebSocketHandler } from "bun";
import { clientSocketEnd, type End, Link, type Message, serverSocketEnd } from "../relay/pipe.ts";
import type { Carried } from "./accounting.ts";
import type { Refusal } from "./held-access.ts";
import { type AnswersAt, type SilenceTiming, watchForSilence } from "./silence-watch.ts";

/**
 * A body of declared length up to this size is read whole before it goes on: a request's
 * to the app (the memory it holds meanwhile is bounded by it), and an app's answer to the
 * client, which then keeps its length (answerReadWhole). A larger one streams.
 */
export const READ_WHOLE_BYTES = 64 * 1024;

/**
 * How long an app has to take a bridged WebSocket unless said (the gateway gives its
 * BACKEND_TIMEOUT_MS, the time an HTTP request's answer has to begin).
 */
export const WEBSOCKET_CONNECT_TIMEOUT_MS = 30_000;

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);

/** The request headers an app receives: the client's, less hop-by-hop ones and bucky's own headers and cookies. */
export function forwardedHeaders(incoming: Headers, extra: Record<string, string>): Headers {
  const headers = new Headers();
  const connection = incoming.get("connection");
  const listed = connection
    ? connection
        .toLowerCase()
        .split(",")
        .map((name) => name.trim())
    : [];
  // forEach rather than an iterator: no [name, value] array per header (a third less time).
  incoming.forEach((value, name) => {
    if (
      HOP_BY_HOP.has(name) ||
      isBuckyHeader(name) ||
      name.startsWith("sec-websocket") ||
      (listed.length > 0 && listed.includes(name))
    )
      return;
    if (name === "cookie") {
      // None of bucky's own: the session's, nor the panel's notice, which a browser sends to
      // an app's port too (cookies go by host, whatever the port) when the app asks for a
      // path of the panel's.
      const kept = value
        .split(";")
        .map((part) => part.trim())
        .filter((part) => part !== "" && !isBuckyCookie(part));
      if (kept.length > 0) headers.set("cookie", kept.join("; "));
      return;
    }
    headers.set(name, value);
  });
  for (const name in extra) headers.set(name, extra[name] as string);
  return headers;
}

/**
 * bucky's own headers, which only bucky sets (who is signed in, a device's signature):
 * `bucky-*`, and `bucky_*` too, which many servers read as the same name (CGI turns
 * both into HTTP_BUCKY_…).
 */
export function isBuckyHeader(name: string): boolean {
  // Most names do not start with a b: they are let through without building a new string.
  const first = name.charCodeAt(0) | 0x20;
  if (first !== 0x62) return false;
  return name.toLowerCase().replaceAll("_", "-").startsWith("bucky-");
}

/**
 * What an app reached by path (`/apps/<app>/…`, on the gateway's own origin) may not say: a
 * service worker allowed a scope above the app's own path (`Service-Worker-Allowed: /`)
 * would take every request of the origin, the panel's and the sign-in pages' among them,
 * and go on doing so once the app is gone. Without it a worker the app registers serves
 * its path alone. An app on a host of its own keeps it: the origin is the app's.
 */
const NOT_BY_PATH = "service-worker-allowed";

/**
 * Whether a cookie, as a Set-Cookie sets it or a Cookie header sends it, is one of bucky's
 * own (`bucky_*`: the session, the panel's notices), which only the gateway sets and
 * reads. An app at a host of its own could otherwise set one for the zone's whole domain
 * (`Domain=<zone host>`), and an app reached by path on the panel's own origin: a session
 * cookie so planted, sent before the person's own, signed them out of the panel (or into
 * another account) for as long as it lasted.
 */
export function isBuckyCookie(cookie: string): boolean {
  // A cookie with no name (`=bucky_session=…`) is sent back as its value alone, which reads
  // as the name and value it spells.
  return cookie.replace(/^[\s=]+/, "").startsWith("bucky_");
}

/**
 * The response headers a client receives: the app's, less hop-by-hop ones, NEVER_RETURNED
 * (and, `byPath`, NOT_BY_PATH), and less any of bucky's own cookies the app set.
 */
export function returnedHeaders(incoming: Headers, byPath = false): Headers {
  const headers = new Headers();
  for (const [name, value] of incoming)
    if (isReturned(name, byPath) && !(name === "set-cookie" && isBuckyCookie(value)))
      headers.append(name, value);
  return headers;
}

/**
 * What no app may say to a browser: `Clear-Site-Data` clears what it names (cookies, storage)
 * for the whole site, and the apps share their site with the panel (`<app>.<zone host>`):
 * one app's answer would sign the person out of the panel and of every app.
 */
const NEVER_RETURNED = "clear-site-data";

const isReturned = (name: string, byPath: boolean) =>
  (!HOP_BY_HOP.has(name) || name === "content-length") &&
  name !== NEVER_RETURNED &&
  !(byPath && name === NOT_BY_PATH);

/**
 * Whether a response to `method` with `status` carries a body (RFC 9110): not one to a
 * HEAD, nor a 1xx, 204, 205 or 304, whatever Content-Length it declares.
 */
export function carriesBody(method: string, status: number): boolean {
  return method !== "HEAD" && status >= 200 && status !== 204 && status !== 205 && status !== 304;
}

/**
 * Whether the app's answer is read whole before it goes on, so that the client receives its
 * length: Bun.serve sends a body it does not yet hold whole chunked, whatever Content-Length
 * the response declares (Bun 1.4.5, oven-sh/bun#10507: measured, an answer of 1 MiB always,
 * one of 64 KB now and then, as its bytes happen to come after its head). Only an answer
 * that carries a body and declares a length of at most READ_WHOLE_BYTES is: a larger one
 * streams (chunked), and a HEAD's or a 304's keeps its header as it is, having no body.
 * The bytes read are those the app sent within its length: fetch fails the read of fewer
 * (the caller answers with an error, having sent nothing) and leaves any more unread.
 */
export function answerReadWhole(method: string, response: Response): boolean {
  const declared = response.headers.get("content-length");
  return (
    declared !== null &&
    Number(declared) <= READ_WHOLE_BYTES &&
    carriesBody(method, response.status)
  );
}

/**
 * The app's response as the client receives it, less hop-by-hop headers (and, `byPath`, for
 * an app reached by path, NOT_BY_PATH), carrying `body`
 * when one is given (a stream made of its own, or its bytes read whole) and its own
 * otherwise. A response the runtime fetched has headers that may change: they are used as
 * they are, its hop-by-hop headers taken out. With its own body it is passed on as it is,
 * which spares a copy of its headers and a second response around its body (a tenth of the
 * gateway's time per small request, measured), and its body is not even looked at: reading
 * `response.body` makes a stream object the runtime then passes the bytes through. With
 * its bytes, a new response takes them and the fetched one's status and headers, which
 * the runtime copies in about half the time a copy made here takes (reading and making the
 * response, medians of 10 rounds over 3,000 fetched answers: 4.0 µs an answer, against 7.8
 * copying its headers here; 1.6 passed on as it is). Otherwise it is copied.
 */
export function returnedResponse(
  response: Response,
  body?: ReadableStream | Uint8Array | null,
  byPath = false,
): Response {
  if (body === undefined || body instanceof Uint8Array) {
    const dropped: string[] = [];
    // forEach rather than an iterator: no [name, value] array per header.
    response.headers.forEach((_, name) => {
      if (!isReturned(name, byPath)) dropped.push(name);
    });
    try {
      for (const name of dropped) response.headers.delete(name);
      dropBuckyCookies(response.headers);
      return body === undefined ? response : new Response(body, response);
    } catch {
      // Headers that cannot change: the copy below.
    }
  }
  return new Response(body === undefined ? response.body : body, {
    status: response.status,
    statusText: response.statusText,
    headers: returnedHeaders(response.headers, byPath),
  });
}

/** Takes out of `headers` the Set-Cookies of bucky's own cookies (isBuckyCookie), if any. */
function dropBuckyCookies(headers: Headers): void {
  if (!headers.has("set-cookie")) return;
  const cookies = headers.getSetCookie();
  if (!cookies.some(isBuckyCookie)) return;
  headers.delete("set-cookie");
  for (const cookie of cookies) if (!isBuckyCookie(cookie)) headers.append("set-cookie", cookie);
}

/**
 * The close code of a socket no longer let in (its session ended, or a rule or the app's
 * sharing refuses it now): the policy it was let in under.
 */
const NO_LONGER_LET_IN_CLOSE = 1008;
/** A close frame's reason is at most 123 bytes. */
const MAX_CLOSE_REASON_BYTES = 123;

/** Closes a bridged socket no longer let in, saying why (cut to what a close carries). */
export function closeNoLongerLetIn(client: ServerWebSocket<BridgeData>, why: string): void {
  // By whole characters: a person's name may be any.
  const characters = [...why];
  while (Buffer.byteLength(characters.join("")) > MAX_CLOSE_REASON_BYTES) characters.pop();
  client.close(NO_LONGER_LET_IN_CLOSE, characters.join(""));
}

export function isWebSocketUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** What a bridged WebSocket carries: where its other end is, and what waits to be sent. */
export interface BridgeData {
  readonly kind: "bridge";
  /** Why it would be refused now, asked again while it is open (lib/gateway/held-access.ts). */
  readonly refused?: Refusal;
  /** Lets go of what holds it open to be checked again, once it closes. */
  releaseAccess?: () => void;
  /** Starts counting its traffic as it goes, at its open (lib/gateway/accounting.ts: holdOpen). */
  readonly countOpen?: (carried: () => Carried) => () => void;
  /** Ends that count, once it closes. */
  endCount?: () => void;
  /** Gives back its place among what the gateway forwards at once (forward-budget.ts). */
  readonly releaseSlot?: () => void;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly tls?: { ca: string; serverName: string };
  readonly protocols: string[];
  backend?: WebSocket;
  /** Ends the wait for the backend's connection (it opened, or the client went). */
  connected?: () => void;
  /**
   * How long the app has to take the connection (its device's connect and the app's
   * answer to the upgrade) before the client's socket is closed (1011): without it, a
   * device gone silent held the client until the kernel gave up the connect (~2 min).
   */
  readonly connectTimeoutMs: number;
  /**
   * The device's own address the backend is reached at, when it is another device's,
   * and how to ask it for a connection: a device that no longer takes one ends the wait
   * at once, as an HTTP request's does (lib/gateway/silence-watch.ts).
   */
  readonly silence?: {
    readonly address: string;
    readonly answers: AnswersAt;
    readonly timing?: SilenceTiming;
  };
  /**
   * The client's end and the link joining it to the app's: what one end cannot take yet,
   * the other stops reading, so a side faster than the other waits on its own side and is
   * not held in this process's memory (nor, past Bun's limit, dropped from the stream).
   */
  clientEnd?: End<Message>;
  link?: Link<Message>;
  /**
   * The session cookie's value the socket was let in with, when a session stood: held
   * while it is open, and closed if it ends (lib/gateway/session-connections.ts).
   */
  readonly sessionCookie?: string;
  /** Lets go of that hold, once the socket closed. */
  release?: () => void;
  /** Told when the bridge closes, with the bytes each way (for its log line). */
  readonly done?: (bytesIn: number, bytesOut: number) => void;
  bytesIn: number;
  bytesOut: number;
}

export function bridgeData(
  url: string,
  options: {
    headers?: Record<string, string>;
    tls?: BridgeData["tls"];
    protocols?: string | null;
    done?: BridgeData["done"];
    connectTimeoutMs?: number;
    silence?: BridgeData["silence"];
    sessionCookie?: string;
  },
): BridgeData {
  return {
    kind: "bridge",
    url,
    headers: options.headers ?? {},
    ...(options.tls ? { tls: options.tls } : {}),
    connectTimeoutMs: options.connectTimeoutMs ?? WEBSOCKET_CONNECT_TIMEOUT_MS,
    ...(options.silence ? { silence: options.silence } : {}),
    protocols: options.protocols ? options.protocols.split(",").map((p) => p.trim()) : [],
    ...(options.sessionCookie !== undefined ? { sessionCookie: options.sessionCookie } : {}),
    ...(options.done ? { done: options.done } : {}),
    bytesIn: 0,
    bytesOut: 0,
  };
}

/**
 * Bun.serve WebSocket handlers that join a client's socket to a new one towards the app:
 * messages flow both ways as they come, each side reading only as fast as the other takes
 * (lib/relay/pipe.ts), and when either side closes, so does the other.
 */
export const websocketBridge: WebSocketHandler<BridgeData> = {
  open(client) {
    const data = client.data;
    data.clientEnd = serverSocketEnd<Message>(client);
    const link = new Link<Message>(data.clientEnd);
    data.link = link;
    const backend = new WebSocket(data.url, {
      headers: data.headers,
      protocols: data.protocols,
      ...(data.tls ? { tls: data.tls } : {}),
    } as unknown as string[]);
    backend.binaryType = "arraybuffer";
    data.backend = backend;
    const giveUp = (reason: string) => {
      if (backend.readyState !== WebSocket.CONNECTING) return;
      // Its own close would say only that it failed: the client is told why.
      backend.onclose = null;
      backend.onerror = null;
      backend.close();
      client.close(1011, reason);
    };
    const late = setTimeout(
      () => giveUp("the app did not take the connection in time"),
      data.connectTimeoutMs,
    );
    const silence = data.silence
      ? watchForSilence(data.silence.address, data.silence.answers, data.silence.timing)
      : undefined;
    silence?.signal.addEventListener("abort", () => giveUp("the app's device did not answer"));
    const connected = () => {
      clearTimeout(late);
      silence?.stop();
    };
    data.connected = connected;
    backend.onopen = () => {
      connected();
      link.join(clientSocketEnd<Message>(backend));
    };
    backend.onmessage = (event) => {
      const message =
        typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer);
      data.bytesOut += typeof message === "string" ? Buffer.byteLength(message) : message.length;
      link.fromB(message);
    };
    backend.onclose = (event) =>
      client.close(event.code === 1005 ? 1000 : event.code, event.reason);
    backend.onerror = () => client.close(1011, "the app's end of the connection failed");
  },
  message(client, message) {
    const data = client.data;
    data.bytesIn += typeof message === "string" ? Buffer.byteLength(message) : message.length;
    data.link?.fromA(message);
  },
  drain(client) {
    client.data.clientEnd?.drained?.();
  },
  close(client: ServerWebSocket<BridgeData>) {
    const data = client.data;
    data.connected?.();
    if (data.backend && data.backend.readyState <= WebSocket.OPEN) data.backend.close();
    data.done?.(data.bytesIn, data.bytesOut);
  },
};
