/**
 * The app pipe (docs/app-pipe.md): a device's second TLS listener, where the zone's
 * gateways reach the apps it runs without a second HTTP proxy in the way. A gateway's
 * fetch presents an app certificate (protocol/app-certificate.ts) naming the app; per
 * connection the device checks it once (the key a member's in good standing that is a
 * gateway of the zone, the app running here), opens a connection to the app's door and
 * moves bytes both ways. It reads only request heads (lib/gateway/request-heads.ts): every
 * client `bucky-*` header is dropped and who is signed in is written by this device, from
 * the assertion it checked (IngressViewers), so the app hears of a person only as it does
 * through the ingress. Responses are never read.
 *
 * A refusal of a valid certificate is a whole HTTP response (`403`/`503`, the peer API's
 * JSON body), then the connection closes: the gateway's fetch gets a status, not a reset.
 * A certificate that is not an app certificate is refused at the handshake. Open
 * connections are looked at again whenever the state or the app's door changes, and
 * closed when they no longer would be let in. One line is logged a connection.
 *
 * A relay's pipe stream (protocol/relay.ts: HTTP inside the one TLS of this device's
 * connection to its relay, when the relay is the gateway calling) is served the same way
 * (AppPipe.take), the relay, whose certificate that TLS pinned, standing for the key an
 * app certificate proves, and the app and the refusal proof named as the stream opened.
 */
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import { readAppCertificate } from "../../protocol/app-certificate.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { AppName } from "../../protocol/names.ts";
import type { AppDoor } from "../apps/door.ts";
import { BuckyError, toBuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { INGRESS_REFUSED_HEADER } from "../node/peer-ingress.ts";
import { Link, type TcpEnd, tcpEnd } from "../relay/pipe.ts";
import { standingOf } from "../sync/membership.ts";
import type { Viewer } from "../users/access.ts";
import { GATEWAY_REFUSED, PIPE_REFUSAL_HEADER, refusalProof } from "./app-pipe-client.ts";
import { type IngressViewers, ROLE_HEADER, USER_HEADER } from "./app-user.ts";
import { readGateway } from "./config.ts";
import { RequestHeads, type RequestPart } from "./request-heads.ts";
// A request body over the gateway's limit is refused here too, as the peer API refuses one.
import { MAX_BODY_BYTES } from "./server.ts";

/**
 * A connection on which nothing moves, either way, for this long is closed (the peer
 * server's idle timeout). Watched here, not by the sockets' own timeout: a raw socket's, unlike
 * Bun.serve's idle limit, counts only what it reads (measured on Bun 1.4.5: a socket writing
 * every 250 ms under timeout(8) was cut at 8.0 s), so a download (the gateway's socket only
 * written) or an upload (the app's) longer than the limit would be cut in the middle.
 */
export const PIPE_IDLE_TIMEOUT_S = 60;

/**
 * Connections one gateway may hold open to this device's pipe at once, its TLS ones and
 * its relay's streams together. A gateway forwards up to its budget of requests at a time
 * (lib/gateway/forward-budget.ts: 192 under Bun's default of 256 fetches, 3072 as the
 * daemon is started), each on a connection of its own, and keeps some idle for the next;
 * one past the cap is answered with the pipe's own 503, which sends that request by the
 * ingress.
 */
export const PIPE_CONNECTIONS_PER_GATEWAY = 512;
/**
 * Connections whose refusal waits for their request (written before it, a refusal could
 * be lost to a reset: PipeConnection.start), for each gateway past its cap and for all the
 * keys not admitted together (anyone can make a key and an app certificate for it). Past
 * these, a connection is ended at its handshake. So the device holds at most this many
 * connections for strangers, and the cap and this for each gateway, even a hostile one,
 * each with up to a 64 KiB head.
 */
export const PIPE_REFUSALS_WAITING = 32;
/**
 * Connections still in their TLS handshake, from anyone together: before it nobody is known,
 * so they cannot be counted by gateway. A gateway's handshake takes milliseconds, but its
 * fetch may open as many connections at once as it runs requests (256), all accepted
 * before the first handshake is done: so as many as one gateway may hold. Past these, a
 * new connection is ended at once, and a gateway whose connection that was takes the
 * ingress meanwhile (its pipe client rests the pipe).
 */
export const PIPE_HANDSHAKES_WAITING = PIPE_CONNECTIONS_PER_GATEWAY;
/**
 * How long a connection may take to finish its handshake (a gateway's takes milliseconds).
 * The socket's own timeout: what a client sends during the handshake does not reset it
 * (measured on Bun 1.4.5: a byte every 200 ms did not hold a 1 s timeout).
 */
export const PIPE_HANDSHAKE_TIMEOUT_S = 10;
/** Whose connections the keys not admitted hold, counted together. */
const NOT_ADMITTED = "not admitted";

/** What the pipe asks of the node: who may connect, and who is signed in. */
export interface AppPipeRules {
  /**
   * The door of `app` for the gateway `device`, with the gateway's name; throws the
   * BuckyError that refuses it. Asked at a connection's start and at every change.
   */
  admit(device: DeviceId, app: AppName): { readonly door: AppDoor; readonly gateway: string };
  /**
   * Whether `device` is a gateway of the zone, whatever `admit` says of an app: its
   * connections are counted by themselves, the others' together (anyone can make a key).
   */
  isGateway(device: DeviceId): boolean;
  /** The person `assertion` stands for, to `app`; throws E_PERMISSION when it does not. */
  person(app: AppName, assertion: string): Viewer | Promise<Viewer>;
  /** Calls `listener` when an answer of `admit` may have changed; returns how to stop. */
  onChange(listener: () => void): () => void;
}

/** What admitting a gateway gives: the app's door, and the gateway's name. */
type Admitted = ReturnType<AppPipeRules["admit"]>;

/** The rules of a running node: its membership, its gateways, the apps it runs. */
export function nodePipeRules(node: NodeContext, people: IngressViewers): AppPipeRules {
  /** The gateway of the zone `device` is, or why it is none. */
  const gatewayMember = (device: DeviceId) => {
    const membership = node.membership();
    const member = membership.byId.get(device);
    if (!member || standingOf(membership, device) !== "member")
      return new BuckyError("E_PERMISSION", "the app pipe takes only members of the zone");
    if (!readGateway(node.db, member.name))
      return new BuckyError(
        "E_PERMISSION",
        `the app pipe takes only the zone's gateways, and ${member.name} is not one`,
      );
    return member;
  };
  return {
    admit(device, app) {
      const member = gatewayMember(device);
      if (member instanceof BuckyError) throw member;
      const report = node.ownReport(app);
      const door = node.doors.get(app);
      if (!door || (report?.state !== "running" && report?.state !== "unhealthy"))
        throw new BuckyError("E_UNAVAILABLE", `${app} is not running on ${node.deviceName}`);
      return { door, gateway: member.name };
    },
    isGateway: (device) => !(gatewayMember(device) instanceof BuckyError),
    person: (app, assertion) => people.viewerOf(app, assertion),
    onChange(listener) {
      const stops = [
        node.onChange(listener),
        node.onRebase(listener),
        node.doors.onChange(listener),
      ];
      return () => {
        for (const stop of stops) stop();
      };
    },
  };
}

export interface AppPipe {
  readonly port: number;
  /**
   * Serves a relay's pipe stream (protocol/relay.ts) as a connection of `gateway` for
   * `app`, its refusals carrying `refusal`: the stream's TLS proved who the relay is, as
   * an app certificate does on the listener. Returns what the stream's handlers tell.
   */
  take(gateway: DeviceId, app: AppName, refusal: string, side: GatewaySide): PipeStream;
  /** Stops listening and closes every connection. */
  stop(): void;
}

/**
 * The gateway's side of a connection: its TLS socket, or a relay's stream. `end` is
 * written to (tcpEnd's ways: what it cannot take waits, then it closes); pausing stops
 * reading it.
 */
export interface GatewaySide {
  readonly end: TcpEnd;
  pause(): void;
  resume(): void;
  /** Ends it at once, what is queued dropped. */
  terminate(): void;
}

/** What a relay's stream tells its connection. */
export interface PipeStream {
  fromGateway(chunk: Uint8Array): void;
  closed(why: string): void;
}

interface PipeOptions {
  readonly hostname: string;
  readonly port: number;
  /** This device's certificate and key (PEM): the gateways pin the certificate. */
  readonly cert: string;
  readonly key: string;
  readonly rules: AppPipeRules;
  readonly log: Log;
  /** The idle timeout, when a test wants one shorter than PIPE_IDLE_TIMEOUT_S. */
  readonly idleTimeoutS?: number;
  /** The cap, when a test wants one smaller than PIPE_CONNECTIONS_PER_GATEWAY. */
  readonly connectionsPerGateway?: number;
  /** The handshake's limit, when a test wants one shorter than PIPE_HANDSHAKE_TIMEOUT_S. */
  readonly handshakeTimeoutS?: number;
}

/** A TLS socket of the listener as the gateway's side. */
function socketSide(socket: Socket<unknown>): GatewaySide {
  return {
    end: tcpEnd(socket),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    terminate: () => socket.terminate(),
  };
}

/** Listens for the zone's gateways; see the module's comment. */
export function listenAppPipe(options: PipeOptions): AppPipe {
  const { rules, log } = options;
  const idleTimeoutS = options.idleTimeoutS ?? PIPE_IDLE_TIMEOUT_S;
  const cap = options.connectionsPerGateway ?? PIPE_CONNECTIONS_PER_GATEWAY;
  const handshakeTimeoutS = options.handshakeTimeoutS ?? PIPE_HANDSHAKE_TIMEOUT_S;
  /** Connections whose handshake is not done. */
  const handshaking = new Set<Socket<unknown>>();
  /** The open connections, by the gateway that holds them. */
  const open = new Map<DeviceId | typeof NOT_ADMITTED, Set<PipeConnection>>();
  const everyOpen = function* () {
    for (const ofGateway of open.values()) yield* ofGateway;
  };
  /**
   * A connection of `gateway`'s: started when admitted, within the cap; else refused when
   * its request comes, or ended at once past the refusals that may wait.
   */
  const connect = (
    side: GatewaySide,
    gateway: DeviceId,
    app: AppName,
    refusal: string,
  ): PipeConnection | undefined => {
    let admitted: Admitted | undefined;
    let refused: { error: BuckyError; whose: Refusal } | undefined;
    try {
      admitted = rules.admit(gateway, app);
    } catch (error) {
      refused = { error: toBuckyError(error), whose: { of: "gateway" } };
    }
    // A gateway refused only for this app (not running here) keeps its own allowance: counted
    // with strangers, who can fill theirs at will, its connections would be ended at their
    // handshake, which its pipe client takes as this device's pipe failing for every app.
    const ownAllowance = admitted !== undefined || rules.isGateway(gateway);
    const holder = ownAllowance ? gateway : NOT_ADMITTED;
    const held = open.get(holder) ?? new Set<PipeConnection>();
    const most = ownAllowance ? cap : 0;
    if (held.size >= most + PIPE_REFUSALS_WAITING) {
      log.warn("app pipe connection refused", { gateway, app, reason: "too many connections" });
      side.terminate();
      return undefined;
    }
    if (held.size >= most && !refused)
      refused = {
        error: new BuckyError(
          "E_UNAVAILABLE",
          `this gateway holds ${cap} connections to the app pipe of this device, the most it may`,
          "The request goes by the ingress instead; nothing needs doing.",
        ),
        whose: { of: "request" },
      };
    open.set(holder, held);
    const connection = new PipeConnection(side, gateway, app, refusal, rules, log, () => {
      held.delete(connection);
      if (held.size === 0 && open.get(holder) === held) open.delete(holder);
    });
    held.add(connection);
    if (refused) connection.refuseWhenAsked(refused.error, refused.whose);
    else connection.start(admitted as Admitted);
    return connection;
  };
  const stopListening = rules.onChange(() => {
    for (const connection of everyOpen()) connection.lookAgain();
  });
  // One sweep for every connection, rather than a timer a connection re-armed at each chunk.
  const idleMs = idleTimeoutS * 1000;
  const sweep = setInterval(() => {
    const movedBefore = performance.now() - idleMs;
    for (const connection of everyOpen()) connection.endIfStill(movedBefore);
  }, idleMs / 4);
  const listener: TCPSocketListener<{ connection?: PipeConnection }> = Bun.listen({
    hostname: options.hostname,
    port: options.port,
    // The chain is not what counts (every certificate is self-signed): its bytes are read
    // in the handshake handler, and TLS proved the key they carry.
    tls: { cert: options.cert, key: options.key, requestCert: true, rejectUnauthorized: false },
    socket: {
      open(socket) {
        socket.data = {};
        if (handshaking.size >= PIPE_HANDSHAKES_WAITING) {
          log.warn("app pipe connection refused", { reason: "too many handshakes waiting" });
          socket.terminate();
          return;
        }
        handshaking.add(socket);
        // Until the handshake, after which the sweep watches it.
        socket.timeout(handshakeTimeoutS);
      },
      handshake(socket) {
        handshaking.delete(socket);
        const raw = socket.getPeerCertificate()?.raw;
        const holder = raw ? readAppCertificate(new Uint8Array(raw)) : undefined;
        if (!raw || !holder) {
          log.warn("app pipe connection refused", { reason: "no app certificate" });
          socket.terminate();
          return;
        }
        const connection = connect(
          socketSide(socket as Socket<unknown>),
          deviceIdFromPublicKey(holder.publicKey),
          holder.app,
          refusalProof(new Uint8Array(raw)),
        );
        if (!connection) return;
        socket.timeout(0);
        socket.data = { connection };
      },
      data: (socket, chunk) => socket.data.connection?.fromGateway(chunk),
      drain: (socket) => socket.data.connection?.gatewayDrained(),
      timeout(socket) {
        log.warn("app pipe connection refused", { reason: "handshake too slow" });
        socket.terminate();
      },
      close(socket) {
        handshaking.delete(socket);
        socket.data.connection?.closed("closed by the gateway");
      },
      error(socket) {
        handshaking.delete(socket);
        socket.data.connection?.closed("failed on the gateway's side");
      },
    },
  });
  return {
    port: listener.port,
    take(gateway, app, refusal, side) {
      return connect(side, gateway, app, refusal) ?? { fromGateway() {}, closed() {} };
    },
    stop() {
      stopListening();
      clearInterval(sweep);
      listener.stop(true);
      for (const socket of [...handshaking]) socket.terminate();
      handshaking.clear();
      for (const connection of [...everyOpen()]) connection.cut("the pipe stopped");
    },
  };
}

/** The reason phrases of the statuses a refusal has most often (any other says "Refused"). */
const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  403: "Forbidden",
  413: "Content Too Large",
  503: "Service Unavailable",
};

/** Whose refusal a refusal is: of this gateway (its connection), of one request, or the app's failure. */
type Refusal =
  | { readonly of: "gateway" }
  | { readonly of: "request" }
  | { readonly of: "app"; readonly why: string };

/** One gateway's connection for one app, joined to a connection of its own to the app. */
class PipeConnection {
  private readonly client;
  private readonly link;
  private readonly heads = new RequestHeads(MAX_BODY_BYTES);
  private door: AppDoor | undefined;
  private gateway: string | undefined;
  /**
   * What the first request is to be answered with, when the connection cannot go on: the
   * pipe's refusal of this gateway, or the app not answering. Answered once the request
   * comes (start's comment).
   */
  private pending: { readonly error: BuckyError; readonly whose: Refusal } | undefined;
  /** Chunks from the gateway held while a person's assertion is checked the first time. */
  private held: Uint8Array[] | undefined;
  private bytesIn = 0;
  private bytesOut = 0;
  /** The connection to the app, once open. */
  private appSocket: Socket<unknown> | undefined;
  /** When a byte last moved either way, by performance.now(): the wall clock set on or back moves it not. */
  private moved = performance.now();
  private ended: string | undefined;

  constructor(
    private readonly side: GatewaySide,
    private readonly device: DeviceId,
    private readonly app: AppName,
    /** What this connection's refusals carry, for the gateway to tell them from the app's answers. */
    private readonly refusal: string,
    private readonly rules: AppPipeRules,
    private readonly log: Log,
    private readonly forget: () => void,
  ) {
    this.client = side.end;
    this.link = new Link(this.client);
  }

  /** Opens its connection to the app behind `admitted`'s door. */
  start(admitted: Admitted): void {
    this.door = admitted.door;
    this.gateway = admitted.gateway;
    const link = this.link;
    const gone = (why: string) => (app: Socket<AppData>) => {
      // What waited for the app goes nowhere now (tcpEnd).
      app.data?.end?.closed();
      this.appGone(why);
    };
    type AppData = { end?: ReturnType<typeof tcpEnd> };
    const socket: SocketHandler<AppData> = {
      open: (app) => {
        const appEnd = tcpEnd(app as Socket<unknown>);
        app.data = { end: appEnd };
        this.appSocket = app as Socket<unknown>;
        link.join(appEnd);
      },
      data: (_app, chunk) => {
        this.bytesOut += chunk.length;
        this.moved = performance.now();
        link.fromB(chunk);
      },
      drain: (app) => app.data.end?.flush(),
      close: gone("closed by the app"),
      error: gone("failed on the app's side"),
      connectError: () => this.appRefused(),
    };
    let address: ReturnType<AppDoor["socketAddress"]>;
    try {
      address = admitted.door.socketAddress();
    } catch {
      this.appGone("the app has no socket yet");
      return;
    }
    ("unix" in address
      ? Bun.connect<AppData>({ unix: address.unix, socket })
      : Bun.connect<AppData>({ hostname: address.hostname, port: address.port, socket })
    ).catch(() => this.appRefused());
  }

  /**
   * Not to go on: answered when the request comes. Written before it, the refusal could
   * meet the gateway's request on the way and be lost to a reset.
   */
  refuseWhenAsked(error: BuckyError, whose: Refusal): void {
    this.pending = { error, whose };
  }

  private appRefused(): void {
    // A socket file left by the app's forwarder before it was made anew, say.
    this.door?.refused();
    this.appGone("the app is not listening");
  }

  /**
   * The app hung up, or was never there. Before it answered anything, the gateway gets the
   * ingress's 503 (its fetch could not tell a reset from a cut in the middle of an answer);
   * not marked as the pipe's own refusal, so the request is not sent again, for the app may
   * have had it. After, the connection just ends, as the app's own would.
   */
  private appGone(why: string): void {
    if (this.ended) return;
    if (this.bytesOut > 0) {
      this.end(why);
      return;
    }
    const error = new BuckyError(
      "E_UNAVAILABLE",
      `${this.app} did not answer: it closed the connection or is not listening`,
      "It may be starting or stopping: try again in a moment.",
    );
    const whose = { of: "app", why } as const;
    if (this.bytesIn === 0) this.pending = { error, whose };
    else this.refuse(error, whose);
  }

  /** Whether it would still be let in: closed when not. */
  lookAgain(): void {
    if (this.ended || this.pending) return;
    try {
      const { door } = this.rules.admit(this.device, this.app);
      if (door !== this.door) this.cut("the app's door changed");
    } catch (error) {
      this.cut(`refused: ${toBuckyError(error).message}`);
    }
  }

  /** Closes it when nothing has moved since `movedBefore`. */
  endIfStill(movedBefore: number): void {
    if (this.moved < movedBefore) this.cut("idle");
  }

  fromGateway(chunk: Uint8Array): void {
    if (this.ended) return;
    this.bytesIn += chunk.length;
    this.moved = performance.now();
    if (this.pending) {
      this.refuse(this.pending.error, this.pending.whose);
      return;
    }
    if (this.held) {
      // Kept past this call, so copied: a socket reuses its buffer.
      this.held.push(new Uint8Array(chunk));
      return;
    }
    let parts: RequestPart[];
    try {
      parts = this.heads.push(chunk);
    } catch (error) {
      this.end(`refused: ${toBuckyError(error).message}`);
      return;
    }
    this.send(parts);
  }

  gatewayDrained(): void {
    this.moved = performance.now();
    this.client.flush();
  }

  /**
   * Sends `parts` on to the app, the person's lines written where a head's assertion was.
   * When an assertion must be checked first, what is left waits, copied, and so does the
   * gateway.
   */
  private send(parts: RequestPart[]): void {
    const out: Uint8Array[] = [];
    for (let at = 0; at < parts.length; at++) {
      const part = parts[at] as RequestPart;
      if (part instanceof Uint8Array) {
        out.push(part);
        continue;
      }
      let person: Viewer | Promise<Viewer>;
      try {
        person = this.rules.person(this.app, part.assertion);
      } catch (error) {
        this.write(out);
        this.refuse(toBuckyError(error));
        return;
      }
      if (!(person instanceof Promise)) {
        try {
          const lines = personLines(person);
          if (lines) out.push(lines);
        } catch (error) {
          this.write(out);
          this.refuse(toBuckyError(error));
          return;
        }
        continue;
      }
      this.write(out);
      const rest = parts
        .slice(at + 1)
        .map((left) => (left instanceof Uint8Array ? new Uint8Array(left) : left));
      this.held = [];
      this.side.pause();
      person.then(
        (viewer) => {
          if (this.ended) return;
          try {
            const lines = personLines(viewer);
            if (lines) this.write([lines]);
          } catch (error) {
            this.refuse(toBuckyError(error));
            return;
          }
          const held = this.held ?? [];
          this.held = undefined;
          this.send(rest);
          this.release(held);
        },
        (error: unknown) => this.refuse(toBuckyError(error)),
      );
      return;
    }
    this.write(out);
  }

  /** Takes the chunks held during a check, in order; the gateway's reading goes on once all are. */
  private release(held: Uint8Array[]): void {
    for (let at = 0; at < held.length; at++) {
      if (this.ended) return;
      // Another check began: what is left waits behind it, in order.
      const waiting = this.held as Uint8Array[] | undefined;
      if (waiting) {
        waiting.push(...held.slice(at));
        return;
      }
      const chunk = held[at] as Uint8Array;
      // Counted when it came.
      this.bytesIn -= chunk.length;
      this.fromGateway(chunk);
    }
    if (!this.ended && !this.held) this.side.resume();
  }

  /** One write for what a chunk gave: a write a part costs a system call each. */
  private write(out: Uint8Array[]): void {
    if (out.length === 0) return;
    this.link.fromA(out.length === 1 ? (out[0] as Uint8Array) : Buffer.concat(out));
  }

  /**
   * Answers the gateway with `error` as the peer API would, and closes. The pipe's own
   * refusals are marked as such, with the proof (the gateway may then try the ingress),
   * and a refusal of the gateway itself says so (the gateway then rests the pipe to this
   * device, where one request refused, a person's say, must not); an app's failure is not
   * marked, and is logged as how the connection ended, not as a refusal.
   */
  private refuse(error: BuckyError, whose: Refusal = { of: "request" }): void {
    if (this.ended) return;
    const body = JSON.stringify({ error: error.toJSON() });
    // The app's failure is marked as the ingress marks its own (a gateway says it on its
    // page, and does not send the request again); the pipe's refusals with their proof.
    const marker =
      whose.of === "app"
        ? `${INGRESS_REFUSED_HEADER}: 1\r\n`
        : `${PIPE_REFUSAL_HEADER}: ${this.refusal}${whose.of === "gateway" ? ` ${GATEWAY_REFUSED}` : ""}\r\n`;
    // Behind whatever of the app's answers still waits to go, in order (tcpEnd).
    this.client.send(
      Buffer.from(
        `HTTP/1.1 ${error.httpStatus} ${REASONS[error.httpStatus] ?? "Refused"}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          marker +
          `connection: close\r\n\r\n${body}`,
      ),
    );
    this.end(whose.of === "app" ? whose.why : `refused: ${error.message}`);
  }

  /**
   * Closes both connections (once), and says how it went. What waits to be sent still
   * goes first (lib/relay/pipe.ts tcpEnd): the connection stays watched until the gateway's
   * side is closed, and one whose gateway takes nothing more is cut after the idle limit.
   */
  end(why: string, how: "close" | "cut" = "close"): void {
    if (this.ended) return;
    this.ended = why;
    if (how === "cut") {
      // Before the link's close, which would otherwise wait for what is queued to go; and
      // after `ended` is set, since the sockets' close handlers run within.
      this.side.terminate();
      this.appSocket?.terminate();
    }
    this.link.close();
    const fields = {
      gateway: this.gateway ?? this.device,
      app: this.app,
      requests: this.heads.requests,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      ended: why,
    };
    if (why.startsWith("refused")) this.log.warn("app pipe connection", fields);
    else this.log.info("app pipe connection", fields);
  }

  /**
   * Ends it at once, what is queued dropped: a connection that may no longer go on, or on
   * which nothing moved for the limit (a gateway that stopped reading takes nothing more).
   */
  cut(why: string): void {
    this.forget();
    if (this.ended) {
      // Ended already, its queue left to drain (end's comment): it is not waited for.
      this.side.terminate();
      this.appSocket?.terminate();
      return;
    }
    this.end(why, "cut");
  }

  /**
   * The gateway's side closed (or was cut): nothing left to watch. What waits for the app is
   * dropped with it: no one is left to hear the app's answer, and an app that stopped reading
   * would otherwise hold its connection, and the MiBs queued for it, for good.
   */
  closed(why: string): void {
    this.client.closed();
    this.forget();
    this.end(why, "cut");
  }
}

/**
 * The person's lines (tellApp's, on bytes), written before the head's blank line; none for
 * an assertion that stands for no person.
 */
function personLines(viewer: Viewer): Uint8Array | undefined {
  if (viewer.kind !== "person") return undefined;
  const line = (name: string, value: string) => {
    // Names and roles are checked where made; a line break would still end a header here.
    if (/[\r\n\0]/.test(value)) throw new BuckyError("E_INTERNAL", `a ${name} with a line break`);
    return `${name}: ${value}\r\n`;
  };
  return Buffer.from(`${line(USER_HEADER, viewer.user)}${line(ROLE_HEADER, viewer.role)}`);
}
