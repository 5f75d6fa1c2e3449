/**
 * The called side: a device keeps a control tunnel to each relay of its zone, so devices
 * that cannot open a connection to it can still reach it. When the relay asks for a
 * stream, the device opens one back to the relay and joins it to its own peer server: its
 * TLS one, or for the relay's own streams (HTTP inside the accept connection's TLS, see
 * protocol/relay.ts) its peer listener on a Unix socket, which only it can connect to; a
 * pipe stream (HTTP for an app here, from the relay, a gateway) its app pipe serves.
 * A dropped tunnel is reopened with bounded exponential backoff and jitter, and logged
 * once per change (up, down), never once per attempt.
 */

import type { Socket } from "bun";
import type { SigningKey } from "../../protocol/ed25519.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { type AppName, checkAppName } from "../../protocol/names.ts";
import {
  answerChallenge,
  decodeControl,
  TAKES_OWN_STREAMS,
  TAKES_PIPE_STREAMS,
} from "../../protocol/relay.ts";
import { pinnedTls } from "../../protocol/tls-cert.ts";
import type { Log } from "../log.ts";
import type { Peer } from "../node/peers.ts";
import {
  clientSocketEnd,
  Link,
  messageBytes,
  type TcpEnd,
  type TcpStream,
  tcpEnd,
  tcpStreamClosed,
} from "./pipe.ts";

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;
/**
 * How often a tunnel is pinged; two pings unanswered and it is taken for dead, and the
 * streams its relay asked for end with it: a relay paused for less (its machine briefly
 * asleep or its loop blocked) keeps them, one gone ends them within 30-45 s.
 */
export const PING_INTERVAL_MS = 15_000;
/**
 * How long a tunnel has to be ready (TCP, TLS, the upgrade, the challenge and the hello)
 * before the attempt is given up and tried again later: a relay that went silent between
 * its probe and the connect (its packets dropped, not refused), or whose process hangs
 * with its port open, otherwise held the attempt for the kernel's two minutes, or for ever.
 */
export const TUNNEL_READY_TIMEOUT_MS = 10_000;
/**
 * The most streams a relay may have this device hold open at once through one tunnel,
 * each a socket back to the relay and one to this device's server: past it, a stream the
 * relay asks for is not taken up (it waits it out). Every relay asked, any member adds an
 * outside one, and one that asked without end had the device open connections until it
 * ran out of file descriptors (and SQLite, sync and its apps with it). As many as a hub
 * carries from one address.
 */
export const MAX_TUNNEL_STREAMS = 1024;

export interface TunnelOptions {
  readonly key: SigningKey;
  readonly log: Log;
  /** This device's owner-signed document, which the relay checks. */
  readonly document: () => string | undefined;
  /** A working address of the relay. */
  readonly relayAddress: (relay: Peer) => Promise<string | undefined>;
  /** Where this device's own peer server listens: relayed streams end there. */
  readonly localPeer: { readonly host: string; readonly port: number };
  /**
   * The Unix socket where its peer server takes HTTP, for the relay's own streams: the
   * device's hello says it takes them when there is one.
   */
  readonly ownPeer?: { readonly unix: string };
  /**
   * This device's app pipe while it listens (it starts with the first app), which serves
   * pipe streams. The device's hello says it takes them when there is this.
   */
  readonly appPipe?: () => PipeServer | undefined;
  /** How often the tunnel is pinged (PING_INTERVAL_MS): tests shorten it. */
  readonly pingIntervalMs?: number;
  /** TUNNEL_READY_TIMEOUT_MS unless given: tests shorten it. */
  readonly readyTimeoutMs?: number;
  /** How long after its `failures`th failure a tunnel tries again (retryDelayMs): tests lengthen it. */
  readonly retryDelayMs?: (failures: number) => number;
  /** MAX_TUNNEL_STREAMS unless given: tests lower it. */
  readonly maxStreams?: number;
}

type TunnelState = "connecting" | "up" | "down";

/** The app pipe as a pipe stream sees it (lib/gateway/app-pipe.ts AppPipe.take). */
export interface PipeServer {
  take(
    gateway: DeviceId,
    app: AppName,
    refusal: string,
    side: {
      readonly end: TcpEnd;
      pause(): void;
      resume(): void;
      terminate(): void;
    },
  ): { fromGateway(chunk: Uint8Array): void; closed(why: string): void };
}

/** One tunnel per relay, following the zone's list of relays. */
export class Tunnels {
  private readonly tunnels = new Map<DeviceId, Tunnel>();

  constructor(private readonly options: TunnelOptions) {}

  /** Keeps a tunnel to each of `relays`, and closes any other. */
  follow(relays: readonly Peer[]): void {
    const wanted = new Map(relays.map((relay) => [relay.id, relay]));
    for (const [id, tunnel] of this.tunnels) {
      if (!wanted.has(id)) {
        tunnel.stop();
        this.tunnels.delete(id);
      }
    }
    for (const [id, relay] of wanted) {
      const existing = this.tunnels.get(id);
      if (existing) existing.relay = relay;
      else {
        const tunnel = new Tunnel(relay, this.options);
        this.tunnels.set(id, tunnel);
        tunnel.start();
      }
    }
  }

  /**
   * Says `relay` answers this device again (its sync was heard): a tunnel to it waiting out
   * its backoff tries now. After a relay's outage of a minute or more the backoff is at its
   * ceiling, and devices behind NAT would stay unreachable up to a minute past its return.
   */
  relayAnswering(relay: DeviceId): void {
    this.tunnels.get(relay)?.tryNow();
  }

  stop(): void {
    for (const tunnel of this.tunnels.values()) tunnel.stop();
    this.tunnels.clear();
  }
}

class Tunnel {
  private state: TunnelState = "connecting";
  private ws: WebSocket | undefined;
  private stopped = false;
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Gives up an attempt that is not ready in time (TUNNEL_READY_TIMEOUT_MS). */
  private readyTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private unanswered = 0;
  /** Ends each open stream this tunnel's relay asked for: they live no longer than it. */
  private readonly streams = new Set<() => void>();
  /** Whether the relay was said to ask for too many streams (tooManyStreams). */
  private tooManySaid = false;

  constructor(
    public relay: Peer,
    private readonly options: TunnelOptions,
  ) {}

  start(): void {
    void this.connect();
  }

  /** Tries again now if this tunnel is waiting out a backoff; else nothing (it is up, or trying). */
  tryNow(): void {
    if (this.stopped || this.retryTimer === undefined) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.readyTimer);
    clearInterval(this.pingTimer);
    this.ws?.close(1000, "device stopping");
  }

  private async connect(): Promise<void> {
    const address = await this.options.relayAddress(this.relay);
    if (this.stopped) return;
    if (!address) return this.lost("the relay is not reachable");
    const ws = new WebSocket(`${address.replace(/^https:/, "wss:")}/v1/relay/attach`, {
      tls: pinnedTls(this.relay.certPem),
    } as unknown as string[]);
    this.ws = ws;
    const readyMs = this.options.readyTimeoutMs ?? TUNNEL_READY_TIMEOUT_MS;
    this.readyTimer = setTimeout(() => {
      // Dropped at once: a closing handshake would wait on the same silence.
      this.lost(`the relay did not answer within ${readyMs / 1000} s`);
      ws.terminate();
    }, readyMs);
    ws.onmessage = (event) => this.control(ws, address, String(event.data));
    ws.onclose = (event) => {
      if (this.ws === ws) this.lost(event.reason || `closed (${event.code})`);
    };
    ws.onerror = () => ws.close();
  }

  private control(ws: WebSocket, address: string, text: string): void {
    let message: ReturnType<typeof decodeControl>;
    try {
      message = decodeControl(text);
    } catch (error) {
      this.options.log.warn("relay sent a malformed message", {
        relay: this.relay.name,
        error: (error as Error).message,
      });
      ws.close(1002, "malformed message");
      return;
    }
    switch (message.type) {
      case "challenge": {
        const document = this.options.document();
        if (document)
          ws.send(
            JSON.stringify(
              answerChallenge(message.nonce, this.relay.id, document, this.options.key, [
                ...(this.options.ownPeer ? [TAKES_OWN_STREAMS] : []),
                ...(this.options.appPipe ? [TAKES_PIPE_STREAMS] : []),
              ]),
            ),
          );
        else ws.close(1000, "this device has no document yet");
        return;
      }
      case "ready":
        this.up();
        return;
      case "pong":
        this.unanswered = 0;
        return;
      case "open":
      case "open-own":
      case "open-pipe":
        if (this.streams.size >= (this.options.maxStreams ?? MAX_TUNNEL_STREAMS)) {
          this.tooManyStreams();
          return;
        }
        this.tooManySaid = false;
        if (message.type === "open")
          this.acceptStream(address, message.stream, {
            hostname: this.options.localPeer.host,
            port: this.options.localPeer.port,
          });
        // Only as this device's hello said: else the relay waits the stream out.
        else if (message.type === "open-own") {
          if (this.options.ownPeer)
            this.acceptStream(address, message.stream, this.options.ownPeer);
        } else if (this.options.appPipe) this.acceptPipeStream(address, message);
        return;
    }
  }

  /** Says once, until a stream is taken up again, that the relay asked for too many. */
  private tooManyStreams(): void {
    if (this.tooManySaid) return;
    this.tooManySaid = true;
    this.options.log.warn("relay asked for more streams than a tunnel holds: not taken up", {
      relay: this.relay.name,
      streams: this.streams.size,
    });
  }

  private up(): void {
    clearTimeout(this.readyTimer);
    this.failures = 0;
    this.state = "up";
    this.options.log.info("relay tunnel up", { relay: this.relay.name });
    clearInterval(this.pingTimer);
    this.unanswered = 0;
    this.pingTimer = setInterval(() => {
      // A dead connection would not answer a closing handshake either: drop it at once.
      if (this.unanswered >= 2) {
        const ws = this.ws;
        this.lost("the relay stopped answering");
        return ws?.terminate();
      }
      this.unanswered += 1;
      this.ws?.send(JSON.stringify({ type: "ping" }));
    }, this.options.pingIntervalMs ?? PING_INTERVAL_MS);
  }

  /** The tunnel is gone or never came: say so once, then try again later. */
  private lost(reason: string): void {
    clearTimeout(this.readyTimer);
    clearInterval(this.pingTimer);
    this.ws = undefined;
    // Its streams cross the same relay: one that stopped answering holds them to nothing,
    // and whoever reads them hears so now rather than never (a TCP send to a gone machine
    // can wait many minutes before it fails).
    const streams = this.streams.size;
    for (const end of [...this.streams]) end();
    if (this.stopped) return;
    if (this.state !== "down") {
      this.options.log.warn(
        this.state === "up" ? "relay tunnel down" : "relay tunnel cannot connect",
        {
          relay: this.relay.name,
          reason,
          retrying: true,
          ...(streams > 0 ? { streamsEnded: streams } : {}),
        },
      );
      this.state = "down";
    }
    this.failures += 1;
    const delayMs = (this.options.retryDelayMs ?? retryDelayMs)(this.failures);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delayMs);
  }

  /**
   * A pipe stream: served by this device's app pipe as a connection of the relay (a
   * gateway, proved by the stream's TLS to its pinned certificate) for the app named. With
   * no pipe listening (no app runs here yet) or a name that is no app's, it is taken up
   * and closed at once: the gateway hears now, and sends by the ingress.
   */
  private acceptPipeStream(
    address: string,
    message: { readonly stream: string; readonly app: string; readonly refusal: string },
  ): void {
    const pipe = this.options.appPipe?.();
    const app = checkAppName(message.app);
    const ws = this.acceptSocket(address, message.stream);
    ws.onerror = () => ws.close();
    if (!pipe || !app.ok) {
      ws.onopen = () => ws.close();
      return;
    }
    let served: ReturnType<PipeServer["take"]> | undefined;
    const end = () => {
      this.streams.delete(end);
      served?.closed("the relay's tunnel ended");
      ws.terminate();
    };
    this.streams.add(end);
    ws.onopen = () => {
      // The pipe writes to it as to a socket's end; a WebSocket has no drain to flush on.
      const written = Object.assign(clientSocketEnd(ws), { flush() {}, closed() {} });
      served = pipe.take(this.relay.id, app.name, message.refusal, {
        end: written,
        pause: () => ws.pause(),
        resume: () => ws.resume(),
        terminate: () => ws.terminate(),
      });
    };
    ws.onmessage = (event) => served?.fromGateway(messageBytes(event.data));
    ws.onclose = () => {
      this.streams.delete(end);
      served?.closed("closed by the relay");
    };
  }

  /** The WebSocket back to the relay that takes up `stream`, its certificate pinned. */
  private acceptSocket(address: string, stream: string): WebSocket {
    const ws = new WebSocket(
      `${address.replace(/^https:/, "wss:")}/v1/relay/accept/${encodeURIComponent(stream)}`,
      { tls: pinnedTls(this.relay.certPem) } as unknown as string[],
    );
    ws.binaryType = "arraybuffer";
    return ws;
  }

  /**
   * The relay asks for a stream: a connection to `to` (this device's peer server, or its
   * peer listener that reads HTTP), joined to it.
   */
  private acceptStream(
    address: string,
    stream: string,
    to: { readonly hostname: string; readonly port: number } | { readonly unix: string },
  ): void {
    const ws = this.acceptSocket(address, stream);
    let link: Link | undefined;
    const early: Uint8Array[] = [];
    ws.onmessage = (event) => {
      const bytes = messageBytes(event.data);
      if (link) link.fromB(bytes);
      else early.push(bytes);
    };
    const end = () => {
      this.streams.delete(end);
      link?.close();
      ws.terminate();
    };
    this.streams.add(end);
    ws.onclose = () => {
      this.streams.delete(end);
      link?.close();
    };
    ws.onerror = () => ws.close();
    // No peer server to join (its peer.sock gone): the stream is taken up and closed at
    // once, so the caller hears now rather than when the relay stops waiting for it.
    const refuse = () => {
      if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close();
      else ws.close();
    };
    Bun.connect<TcpStream>({
      ...(to as { hostname: string; port: number }),
      socket: {
        open(socket) {
          const end = tcpEnd(socket as Socket<unknown>);
          link = new Link(end);
          socket.data = { link, end };
          if (ws.readyState === WebSocket.OPEN) link.join(clientSocketEnd(ws));
          else if (ws.readyState === WebSocket.CONNECTING)
            ws.onopen = () => link?.join(clientSocketEnd(ws));
          else link.close();
          for (const bytes of early.splice(0)) link.fromB(bytes);
        },
        data: (socket, chunk) => socket.data.link.fromA(chunk),
        drain: (socket) => socket.data.end.flush(),
        close: (socket) => tcpStreamClosed(socket.data),
        error: (socket) => tcpStreamClosed(socket.data),
        connectError: () => refuse(),
      },
    }).catch(() => refuse());
  }
}

/** 1 s, 2 s, 4 s … up to a minute, each drawn from its upper half so devices spread out. */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}
