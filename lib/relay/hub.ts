/**
 * The relay's side: devices that cannot be called keep a control tunnel here; a device
 * that wants to reach one connects here, and the hub has the tunnel open a stream back
 * from it, then joins the two. The hub checks who is who with documents and signatures
 * alone, so it works without the zone's state (a relay need not be a member), and it only
 * ever sees the devices' TLS records. Its own streams (this device calling one that keeps
 * a tunnel here, and says it takes them) carry HTTP inside the accept connection's TLS
 * alone; its pipe streams (the gateway this device is reaching an app on one) end in that
 * device's app pipe: see protocol/relay.ts.
 */
import { randomBytes } from "node:crypto";
import type { Server, ServerWebSocket } from "bun";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import {
  checkHello,
  DOCUMENT_HEADER,
  decodeControl,
  RELAY_NONCE_BYTES,
  STREAM_ID_BYTES,
  TAKES_OWN_STREAMS,
  TAKES_PIPE_STREAMS,
  verifyOwnDocument,
} from "../../protocol/relay.ts";
import { checkSignedRequest, UNSIGNED_BODY } from "../../protocol/request-auth.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import { HeldSockets } from "./held-sockets.ts";
import { type End, Link, serverSocketEnd } from "./pipe.ts";
import { PING_INTERVAL_MS } from "./tunnel.ts";

/** A stream its device does not take up within this long is dropped. */
const ACCEPT_TIMEOUT_MS = 10_000;
/**
 * A tunnel on which its device has said nothing for this long (it pings every
 * PING_INTERVAL_MS) is taken for gone and cut. A device that died or lost its link sends
 * no close, and Bun's WebSocket idle limit let it stand for 120 s: meanwhile every stream
 * asked of it waited ACCEPT_TIMEOUT_MS for nothing, where one to a device without a
 * tunnel fails at once.
 */
const TUNNEL_SILENCE_LIMIT_MS = 3 * PING_INTERVAL_MS;
/**
 * A stream asked of a tunnel whose device was not heard within this long (it pings every
 * PING_INTERVAL_MS) also asks it for a WebSocket pong, which its runtime sends by itself.
 * Until the tunnel was cut (TUNNEL_SILENCE_LIMIT_MS), each stream asked of a device gone
 * silent (its packets dropped) waited ACCEPT_TIMEOUT_MS for nothing: a gateway's request
 * for an app on it, sent by the relay once the device's own address went silent, took
 * 10 s more, twice (by the own stream, then by TLS through the same relay).
 */
const ASK_AFTER_MS = 1_000;
/**
 * A stream so asked, neither taken up nor its device heard within this long, fails: each
 * stream to a device gone silent costs this, not ACCEPT_TIMEOUT_MS. Not heard is never
 * enough by itself to refuse one: after a network blip a device's own bytes on its tunnel
 * can wait out TCP's retransmission backoff (up to two minutes) while it takes streams,
 * which come by new connections, at once (test/relay-failover.test.ts failed when streams
 * to a tunnel not heard were refused outright). A stream taken up counts as hearing it.
 */
const PONG_WAIT_MS = 3_000;
/**
 * A control socket that has not said a valid hello this long after its challenge is cut. A
 * device answers the challenge at once (one signature); one that says nothing (a scanner,
 * a client that hung, a connection left open to hold the relay's memory) otherwise stood
 * until Bun's WebSocket idle limit, 120 s, and the tunnels' silence sweep never sees it.
 */
const HELLO_LIMIT_MS = 10_000;
/**
 * Control sockets not yet past their hello, from one address at once. Anyone may open one
 * (the hello is what says who it is), and each held a descriptor for HELLO_LIMIT_MS: one
 * host opening them as fast as it could held as many as the relay's descriptors allow,
 * and the relay then took no tunnel, stream or request of anyone's. A device opens one to
 * a relay at a time, and says its hello within a round trip.
 */
const UNIDENTIFIED_PER_ADDRESS = 16;
/**
 * Control sockets not yet past their hello, at once, from every address. With all of them
 * taken, the one waiting longest is cut for the newcomer: a device says its hello within a
 * round trip, so those still waiting are mostly ones that never will, and hosts enough to
 * hold every slot (16 each) for HELLO_LIMIT_MS would otherwise keep the zone's own devices
 * from their tunnels for as long as they went on.
 */
const UNIDENTIFIED_LIMIT = 1024;
/**
 * Tunnels held from one address at once, and from all. A relay-only node serves any zone,
 * and a zone (with its devices and their documents) is made by anyone in a moment: past
 * its hello, a tunnel proves only that. A home's devices share its address, but a home
 * with this many is not one person's.
 */
const TUNNELS_PER_ADDRESS = 256;
const TUNNELS_LIMIT = 4096;
/**
 * Streams asked for from one address at once, and from all (each holds the caller's socket
 * and, once taken up, its device's). Asking takes a device of a zone this relay serves,
 * which for a relay-only node is anyone's. A device's fetch runs up to 256 requests at once.
 */
const STREAMS_PER_ADDRESS = 1024;
const STREAMS_LIMIT = 8192;

export type RelaySocketData =
  | {
      readonly kind: "relay-control";
      readonly nonce: string;
      /** Where it comes from: its unidentified sockets are counted by it. */
      readonly from: string;
      /** Counted among the unidentified sockets (from open to hello or close). */
      unidentified?: boolean;
      /** Counted among the tunnels (from its hello to its close). */
      tunnel?: boolean;
      device?: DeviceId;
      zone?: ZoneId;
      name?: string;
      /** What its hello said it takes besides TLS streams (TAKES_OWN_STREAMS, TAKES_PIPE_STREAMS). */
      takes?: readonly string[];
      /** When its device was last heard on it (options.now()). */
      heardAtMs?: number;
      /** When it was sent a WebSocket ping not answered yet (ASK_AFTER_MS). */
      askedAtMs?: number;
      /** A stream asked of it was neither taken up nor its device heard (PONG_WAIT_MS). */
      unanswering?: boolean;
      /** Cuts it unless it says its hello first (HELLO_LIMIT_MS). */
      helloTimer?: ReturnType<typeof setTimeout>;
    }
  | {
      readonly kind: "relay-caller";
      readonly stream: string;
      readonly target: DeviceId;
      /** Where it comes from: streams are counted by it, from open to close. */
      readonly from: string;
      counted?: boolean;
      link?: Link;
      end?: End;
    }
  | { readonly kind: "relay-accept"; readonly stream: string; link?: Link; end?: End };

/**
 * What a stream carries, and where its device joins it: its peer server's TLS ("tls"),
 * HTTP inside the accept connection's TLS ("own"), or HTTP there for its app pipe
 * ("pipe"). See protocol/relay.ts.
 */
export type StreamKind = "tls" | "own" | "pipe";

/** The control message that opens each kind, and what a hello must take for it. */
const OPENING: Record<StreamKind, { readonly type: string; readonly takes?: string }> = {
  tls: { type: "open" },
  own: { type: "open-own", takes: TAKES_OWN_STREAMS },
  pipe: { type: "open-pipe", takes: TAKES_PIPE_STREAMS },
};

/** What a pipe stream's device is told: the app, and what the pipe's refusals carry. */
export interface PipeOpening {
  readonly app: string;
  readonly refusal: string;
}

export interface HubOptions {
  readonly self: DeviceId;
  readonly log: Log;
  readonly now: () => number;
  /**
   * Whether this relay serves a device of a zone: why not, or undefined when it does. A
   * gateway serves the members of its own zone; a relay-only node, any zone.
   */
  readonly refuse: (zone: ZoneId, device: DeviceId) => string | undefined;
  /** TUNNEL_SILENCE_LIMIT_MS unless given (tests shorten it). */
  readonly silenceLimitMs?: number;
  /** ASK_AFTER_MS and PONG_WAIT_MS unless given (tests change them). */
  readonly askAfterMs?: number;
  readonly pongWaitMs?: number;
  /** HELLO_LIMIT_MS unless given (tests shorten it). */
  readonly helloLimitMs?: number;
  /** UNIDENTIFIED_PER_ADDRESS and UNIDENTIFIED_LIMIT unless given (tests lower them). */
  readonly unidentifiedPerAddress?: number;
  readonly unidentifiedLimit?: number;
  /** TUNNELS_PER_ADDRESS and STREAMS_PER_ADDRESS unless given (tests lower them). */
  readonly tunnelsPerAddress?: number;
  readonly streamsPerAddress?: number;
}

export class RelayHub {
  private readonly tunnels = new Map<DeviceId, ServerWebSocket<RelaySocketData>>();
  /** Streams asked for and not yet taken up by their device. */
  private readonly pending = new Map<
    string,
    {
      readonly link: Link;
      readonly timer: ReturnType<typeof setTimeout>;
      /** The tunnel it was asked of: its device is heard when it takes it up. */
      readonly tunnel: ServerWebSocket<RelaySocketData>;
    }
  >();

  /** Control sockets not yet past their hello, and tunnels, by where they come from. */
  private readonly unidentified: HeldSockets;
  private readonly tunnelsFrom: HeldSockets;
  /** Streams asked for, by where their callers come from. */
  private readonly streamsFrom: HeldSockets;
  /** The control sockets not yet past their hello, longest waiting first. */
  private readonly waitingHello = new Set<ServerWebSocket<RelaySocketData>>();

  private readonly silenceLimitMs: number;
  private readonly pongWaitMs: number;
  private readonly silenceSweep: ReturnType<typeof setInterval>;

  constructor(private readonly options: HubOptions) {
    this.unidentified = new HeldSockets(
      options.unidentifiedPerAddress ?? UNIDENTIFIED_PER_ADDRESS,
      options.unidentifiedLimit ?? UNIDENTIFIED_LIMIT,
    );
    this.tunnelsFrom = new HeldSockets(
      options.tunnelsPerAddress ?? TUNNELS_PER_ADDRESS,
      TUNNELS_LIMIT,
    );
    this.streamsFrom = new HeldSockets(
      options.streamsPerAddress ?? STREAMS_PER_ADDRESS,
      STREAMS_LIMIT,
    );
    this.silenceLimitMs = options.silenceLimitMs ?? TUNNEL_SILENCE_LIMIT_MS;
    this.pongWaitMs = options.pongWaitMs ?? PONG_WAIT_MS;
    this.silenceSweep = setInterval(() => this.cutSilent(), this.silenceLimitMs / 3);
    this.silenceSweep.unref();
  }

  /** `GET /v1/relay/attach`: a device opens its control tunnel. */
  attach(request: Request, server: Server<RelaySocketData>): Response {
    const from = server.requestIP(request)?.address ?? "local";
    if (this.unidentified.fullFrom(from))
      throw new BuckyError(
        "E_UNAVAILABLE",
        "this relay has too many tunnels waiting for their hello from this address",
        "Try again in a few seconds.",
      );
    const nonce = randomBytes(RELAY_NONCE_BYTES).toString("base64url");
    return upgrade(request, server, { kind: "relay-control", nonce, from });
  }

  /** `GET /v1/relay/connect/<device>`: a device of the same zone asks for a stream to it. */
  connect(request: Request, server: Server<RelaySocketData>, target: string): Response {
    const caller = this.caller(request);
    const tunnel = this.tunnels.get(target as DeviceId);
    if (tunnel?.data.kind !== "relay-control" || tunnel.data.zone !== caller.zone) {
      throw new BuckyError("E_NOT_FOUND", "that device keeps no tunnel to this relay");
    }
    const from = server.requestIP(request)?.address ?? "local";
    if (this.streamsFrom.full(from))
      throw new BuckyError(
        "E_UNAVAILABLE",
        "this relay carries as many streams as it takes from this address",
        "Try again when some have ended.",
      );
    const stream = randomBytes(STREAM_ID_BYTES).toString("base64url");
    return upgrade(request, server, {
      kind: "relay-caller",
      stream,
      target: target as DeviceId,
      from,
    });
  }

  /** `GET /v1/relay/accept/<stream>`: a device takes up a stream it was asked to open. */
  accept(request: Request, server: Server<RelaySocketData>, stream: string): Response {
    // The stream id is the credential: 128 random bits sent only down the device's tunnel.
    if (!this.pending.has(stream)) throw new BuckyError("E_NOT_FOUND", "no such stream");
    return upgrade(request, server, { kind: "relay-accept", stream });
  }

  /**
   * A stream from inside this process (the relay's own device calling a tunnelled one).
   * `own`: the caller speaks HTTP into it, for the device to read inside the accept
   * connection's TLS; `pipe`: HTTP too, for the device's app pipe to serve as `pipe`
   * says. Either only for a device whose hello takes it (takes), else the link closes
   * at once.
   */
  connectLocal(target: DeviceId, link: Link, kind: StreamKind = "tls", pipe?: PipeOpening): void {
    this.open(randomBytes(STREAM_ID_BYTES).toString("base64url"), target, link, kind, pipe);
  }

  isAttached(device: DeviceId): boolean {
    return this.tunnels.has(device);
  }

  /** Whether `device` keeps a tunnel here and takes streams of `kind`. */
  takes(device: DeviceId, kind: StreamKind): boolean {
    const tunnel = this.tunnels.get(device);
    if (tunnel?.data.kind !== "relay-control") return false;
    const needed = OPENING[kind].takes;
    return needed === undefined || (tunnel.data.takes ?? []).includes(needed);
  }

  stop(): void {
    clearInterval(this.silenceSweep);
    for (const tunnel of this.tunnels.values()) tunnel.close(1001, "relay stopping");
    for (const { link, timer } of this.pending.values()) {
      clearTimeout(timer);
      link.close();
    }
    this.pending.clear();
  }

  readonly websocket = {
    open: (ws: ServerWebSocket<RelaySocketData>) => {
      const data = ws.data;
      if (data.kind === "relay-control") {
        data.heardAtMs = this.options.now();
        // Cut once the newcomer's socket is open, not for a request that never became one.
        if (this.unidentified.fullInAll()) this.cutLongestWaiting();
        data.unidentified = true;
        this.unidentified.add(data.from);
        this.waitingHello.add(ws);
        const limitMs = this.options.helloLimitMs ?? HELLO_LIMIT_MS;
        data.helloTimer = setTimeout(() => {
          this.options.log.warn("relay tunnel refused", { error: `no hello within ${limitMs} ms` });
          ws.terminate();
        }, limitMs);
        ws.send(JSON.stringify({ type: "challenge", nonce: data.nonce }));
      } else if (data.kind === "relay-caller") {
        data.counted = true;
        this.streamsFrom.add(data.from);
        data.end = serverSocketEnd(ws);
        data.link = new Link(data.end);
        this.open(data.stream, data.target, data.link, "tls");
      } else {
        const waiting = this.pending.get(data.stream);
        if (!waiting) return ws.close(1008, "no such stream");
        this.pending.delete(data.stream);
        clearTimeout(waiting.timer);
        // Its device is there, whatever its tunnel's own bytes say (they may wait out TCP's
        // backoff after a blip while its streams come by new connections).
        if (waiting.tunnel.data.kind === "relay-control") this.heard(waiting.tunnel.data);
        data.end = serverSocketEnd(ws);
        data.link = waiting.link;
        data.link.join(data.end);
      }
    },
    message: (ws: ServerWebSocket<RelaySocketData>, message: string | Buffer) => {
      const data = ws.data;
      if (data.kind === "relay-control") {
        this.heard(data);
        return this.control(ws, String(message));
      }
      const bytes = typeof message === "string" ? Buffer.from(message) : message;
      if (data.kind === "relay-caller") data.link?.fromA(bytes);
      else data.link?.fromB(bytes);
    },
    pong: (ws: ServerWebSocket<RelaySocketData>) => {
      if (ws.data.kind === "relay-control") this.heard(ws.data);
    },
    drain: (ws: ServerWebSocket<RelaySocketData>) => {
      if (ws.data.kind !== "relay-control") ws.data.end?.drained?.();
    },
    close: (ws: ServerWebSocket<RelaySocketData>) => {
      const data = ws.data;
      if (data.kind === "relay-caller" && data.counted) {
        data.counted = false;
        this.streamsFrom.remove(data.from);
      }
      if (data.kind !== "relay-control") return data.link?.close();
      clearTimeout(data.helloTimer);
      this.identified(ws);
      if (data.tunnel) this.tunnelsFrom.remove(data.from);
      if (data.device && this.tunnels.get(data.device) === ws) {
        this.tunnels.delete(data.device);
        this.options.log.info("relay tunnel closed", { device: data.name });
      }
    },
  };

  /**
   * A control socket is no longer among the unidentified (it said its hello, closed, or was
   * cut for a newcomer).
   */
  private identified(ws: ServerWebSocket<RelaySocketData>): void {
    const data = ws.data;
    if (data.kind !== "relay-control" || !data.unidentified) return;
    data.unidentified = false;
    this.unidentified.remove(data.from);
    this.waitingHello.delete(ws);
  }

  /** Cuts the control socket that has waited longest for its hello (UNIDENTIFIED_LIMIT). */
  private cutLongestWaiting(): void {
    const longest = this.waitingHello.values().next().value;
    if (longest?.data.kind !== "relay-control") return;
    clearTimeout(longest.data.helloTimer);
    this.identified(longest);
    this.options.log.warn("relay tunnel refused", {
      error: "no hello yet, and every waiting slot was taken: cut for a newer connection",
    });
    longest.terminate();
  }

  /**
   * Cuts the tunnels whose device has been silent past the limit, and those whose device
   * this relay would refuse now (revoked since its hello): the close handler forgets them.
   */
  private cutSilent(): void {
    const nowMs = this.options.now();
    for (const tunnel of this.tunnels.values()) {
      const data = tunnel.data;
      if (data.kind !== "relay-control") continue;
      const refused =
        data.zone && data.device ? this.options.refuse(data.zone, data.device) : undefined;
      if (refused) {
        this.options.log.info("relay tunnel refused now, cut", { device: data.name, why: refused });
        tunnel.close(1008, refused.slice(0, 120));
        continue;
      }
      const silentMs = nowMs - (data.heardAtMs ?? nowMs);
      if (silentMs <= this.silenceLimitMs) continue;
      this.options.log.info("relay tunnel silent, cut", { device: data.name, silentMs });
      tunnel.terminate();
    }
  }

  private heard(data: Extract<RelaySocketData, { kind: "relay-control" }>): void {
    data.heardAtMs = this.options.now();
    data.askedAtMs = undefined;
    if (!data.unanswering) return;
    data.unanswering = false;
    this.options.log.info("relay tunnel answering again", { device: data.name });
  }

  /**
   * When `tunnel`'s device was not heard lately, asks it for a pong (again once the last
   * ask's wait is over), and fails `stream` if, PONG_WAIT_MS on, it is still not taken up
   * and the device not heard since (said once, until it is heard again).
   */
  private askIfQuiet(tunnel: ServerWebSocket<RelaySocketData>, stream: string): void {
    const data = tunnel.data;
    if (data.kind !== "relay-control") return;
    const askedAtMs = this.options.now();
    if (askedAtMs - (data.heardAtMs ?? askedAtMs) < (this.options.askAfterMs ?? ASK_AFTER_MS))
      return;
    if (data.askedAtMs === undefined || askedAtMs - data.askedAtMs >= this.pongWaitMs) {
      data.askedAtMs = askedAtMs;
      tunnel.ping();
    }
    setTimeout(() => {
      const waiting = this.pending.get(stream);
      if (!waiting || (data.heardAtMs ?? 0) >= askedAtMs) return;
      this.pending.delete(stream);
      clearTimeout(waiting.timer);
      waiting.link.close();
      if (!data.unanswering)
        this.options.log.info("relay tunnel not answering, its streams fail early", {
          device: data.name,
        });
      data.unanswering = true;
    }, this.pongWaitMs);
  }

  /** Has `target`'s tunnel open a stream back, to be joined to `link` when it comes. */
  private open(
    stream: string,
    target: DeviceId,
    link: Link,
    kind: StreamKind,
    pipe?: PipeOpening,
  ): void {
    const tunnel = this.tunnels.get(target);
    // A stream of a kind its tunnel does not take (replaced by an older bucky's meanwhile)
    // would have the device read HTTP as TLS, or drop its tunnel at a message it does not
    // know: it is not opened.
    // A pipe stream whose app is not named would be a malformed message to the device,
    // which drops its tunnel at one.
    if (!tunnel || !this.takes(target, kind) || (kind === "pipe") !== (pipe !== undefined)) {
      link.close();
      return;
    }
    const timer = setTimeout(() => {
      this.pending.delete(stream);
      link.close();
    }, ACCEPT_TIMEOUT_MS);
    this.pending.set(stream, { link, timer, tunnel });
    tunnel.send(JSON.stringify({ type: OPENING[kind].type, stream, ...pipe }));
    this.askIfQuiet(tunnel, stream);
  }

  private control(ws: ServerWebSocket<RelaySocketData>, text: string): void {
    const data = ws.data;
    if (data.kind !== "relay-control") return;
    try {
      const message = decodeControl(text);
      if (data.device) {
        if (message.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
        return;
      }
      const who = checkHello(message, data.nonce, this.options.self);
      const refused = this.options.refuse(who.zone, who.device);
      if (refused) throw new ProtocolError(refused);
      // Its own tunnel again (a device that reconnects) is no more than it held.
      const replaced = this.tunnels.get(who.device);
      if (
        (replaced?.data.kind !== "relay-control" || replaced.data.from !== data.from) &&
        this.tunnelsFrom.full(data.from)
      )
        throw new ProtocolError("this relay holds as many tunnels as it takes from this address");
      clearTimeout(data.helloTimer);
      this.identified(ws);
      data.tunnel = true;
      this.tunnelsFrom.add(data.from);
      Object.assign(data, who, { takes: message.type === "hello" ? (message.takes ?? []) : [] });
      this.tunnels.get(who.device)?.close(1000, "replaced by a newer tunnel");
      this.tunnels.set(who.device, ws);
      ws.send(JSON.stringify({ type: "ready" }));
      this.options.log.info("relay tunnel open", { device: who.name });
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.options.log.warn("relay tunnel refused", { error: error.message });
      ws.close(1008, error.message.slice(0, 100));
    }
  }

  /** Who asks for a stream: a signed request, and the owner-signed document of its signer. */
  private caller(request: Request): { device: DeviceId; zone: ZoneId } {
    const url = new URL(request.url);
    const signed = checkSignedRequest(
      {
        method: "GET",
        path: url.pathname + url.search,
        audience: this.options.self,
        body: UNSIGNED_BODY,
      },
      request.headers,
      this.options.now(),
    );
    if (!signed.ok) throw new BuckyError("E_PERMISSION", `relay refused: ${signed.reason}`);
    let zone: ZoneId;
    try {
      const own = verifyOwnDocument(request.headers.get(DOCUMENT_HEADER) ?? "");
      if (own.document.id !== signed.device)
        throw new ProtocolError("the device document is not the signer's");
      zone = own.zone;
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      throw new BuckyError("E_PERMISSION", `relay refused: ${error.message}`);
    }
    const refused = this.options.refuse(zone, signed.device);
    if (refused) throw new BuckyError("E_PERMISSION", `relay refused: ${refused}`);
    return { device: signed.device, zone };
  }
}

function upgrade(
  request: Request,
  server: Server<RelaySocketData>,
  data: RelaySocketData,
): Response {
  if (!server.upgrade(request, { data }))
    throw new BuckyError("E_USAGE", "relay routes take WebSocket connections only");
  // Bun answers the upgrade itself; this response is never sent.
  return new Response(null);
}
