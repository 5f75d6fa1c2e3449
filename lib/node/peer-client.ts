/**
 * Calls to other devices: HTTPS with the peer's device certificate pinned as the only
 * trust anchor (so only the holder of its device key can answer), and every request
 * authenticated by this device's key: a tag under the key the two devices share when the
 * peer takes those (request-auth v2; a daemon's calls), else a signature. A peer's own
 * addresses are tried first (the one that answered last time leading), then the relays it
 * may keep a tunnel to: the TLS runs end to end either way. When this device is that relay,
 * the one TLS of the device's own connection to it does (lib/relay/forwarder.ts).
 */

import type { SigningKey } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import {
  macRequest,
  type RequestToSign,
  signRequest,
  UNSIGNED_BODY,
} from "../../protocol/request-auth.ts";
import { pinnedTls } from "../../protocol/tls-cert.ts";
import { BuckyError, type ErrorCode, isErrorCode } from "../errors.ts";
import { quoted } from "../facts/said-by.ts";
import type { RequestKeys } from "../identity/request-keys.ts";
import type { Log } from "../log.ts";
import { Forwarders } from "../relay/forwarder.ts";
import type { PipeOpening, RelayHub } from "../relay/hub.ts";
import { streamProbe } from "../relay/stream-probe.ts";
import { AnswerWatch } from "./answer-watch.ts";
import { type BoundedReadWords, bytesInto, bytesWithin } from "./bounded-read.ts";
import { type BulkAnswer, BulkGet, type BulkTarget, NotTaken, TooLarge } from "./bulk-get.ts";
import { networkProblem, neverSent } from "./network-errors.ts";
import type { ContactBook, Peer } from "./peers.ts";
import { Reachability } from "./reachability.ts";
import { RetryableBody } from "./retryable-body.ts";

export const PEER_TIMEOUT_MS = 5_000;
/** Methods a request can be sent again by, whatever the first did (RFC 9110, 9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
/** How recent a finding at an address answersNow takes as now. */
const ANSWERS_NOW_WITHIN_MS = 1_000;
/** After an own stream to a device failed, how long its requests go by TLS alone. */
export const OWN_RETRY_MS = 60_000;
/**
 * A peer's answer, at most, as it arrives (inflated, when it came compressed): the largest
 * a peer sends is a backup file read through it (REMOTE_READ_MAX_BYTES, 48 MiB).
 */
export const MAX_PEER_ANSWER_BYTES = 64 * 1024 * 1024;
/** How a POST to a peer is sent. */
export interface PostOptions {
  readonly contentType?: string;
  /**
   * How long the peer has to begin its answer (PEER_TIMEOUT_MS unless said, and more for a
   * large body), and then to bring each MIN_PROGRESS_BYTES of it (lib/node/answer-watch.ts).
   */
  readonly timeoutMs?: number;
  /** Ends the request early (the caller stopped): an abort error, no mark against the peer. */
  readonly signal?: AbortSignal;
  /**
   * Acting on it twice does no harm (a sync message, a read): it may be sent by another
   * route after one failed however it failed. Otherwise it is, only when the failure shows
   * it never left this device.
   */
  readonly repeatable?: boolean;
}

/** How a contact records a route through a relay: `relay:<relay device id>`. */
export const RELAY_ROUTE_PREFIX = "relay:";

/** Reaching devices that cannot be called directly: through the zone's relays. */
export interface RelayOptions {
  /** The relays `target` may keep a tunnel to, best first. */
  readonly relaysFor: (target: Peer) => readonly Peer[];
  /** This device's owner-signed document, which relays ask for. */
  readonly document: () => string | undefined;
  /** This process's own relay, when this device is one. */
  readonly hub?: RelayHub;
  /** Where its doors for pipe streams listen: a directory only this device's user enters. */
  readonly pipeDoorDir?: string;
  /** Where an own stream sent again by TLS is said. */
  readonly log?: Log;
  /** How long a stream probe through a relay may take (STREAM_PROBE_TIMEOUT_MS unless given: labs shorten it). */
  readonly streamProbeTimeoutMs?: number;
}

/**
 * Where to send a request along a route: a TLS server the peer's (its certificate pinned),
 * or, `own`, the door of this relay's own streams (plain HTTP inside the device's tunnel),
 * a Unix socket of this process.
 */
interface Opened {
  readonly base: string;
  readonly own?: { readonly unix: string };
}

/** The URL base of a request by an own stream: its socket is the fetch's `unix` option. */
const OWN_BASE = "http://own";

/** One way to a peer: one of its own addresses, or through a relay. */
interface Route {
  /** What the contact book records: the address, or `relay:<id>`. */
  readonly key: string;
  readonly via?: Peer;
}

export class PeerClient {
  private readonly self: DeviceId;
  private readonly reachability = new Reachability();
  /**
   * What streams through a relay's door found of the device behind it (streamProbe),
   * keyed by the door, and each door's device certificate, which its probe pins.
   */
  private readonly throughRelays = new Reachability(undefined, (door) =>
    streamProbe(door, this.doorCerts.get(door) ?? "", this.relays?.streamProbeTimeoutMs),
  );
  private readonly doorCerts = new Map<string, string>();
  private readonly forwarders: Forwarders | undefined;
  /**
   * Devices whose own streams failed and went by TLS, and when the last one did: said
   * once until one works again, and sent by TLS alone for OWN_RETRY_MS after each.
   */
  private readonly ownFailing = new Map<DeviceId, number>();
  private readonly bulk = new BulkGet();

  constructor(
    private readonly key: SigningKey,
    private readonly contacts: ContactBook,
    private readonly now: () => number,
    private readonly relays?: RelayOptions,
    /** The keys shared with peers, for request-auth v2 (without them, requests are signed). */
    private readonly requestKeys?: RequestKeys,
    /**
     * How long after an answer's head its chunks still count as hearing the peer (the
     * daemon gives its live window). Without it (a one-off command), only the head does.
     */
    private readonly answerHeardForMs = 0,
  ) {
    this.self = deviceIdFromPublicKey(key.publicKey);
    if (relays) {
      this.forwarders = new Forwarders({
        key,
        self: this.self,
        now,
        document: relays.document,
        relayAddress: (relay) => this.directAddress(relay),
        // Remembered, as a request's failed connect is: the next stream goes another way.
        relayUnanswered: (address) => this.reachability.record(address, false),
        ...(relays.hub ? { hub: relays.hub } : {}),
        ...(relays.pipeDoorDir ? { pipeDoorDir: relays.pipeDoorDir } : {}),
      });
    }
  }

  /** POSTs `body` to `path` on `peer`; returns the response body, or throws a BuckyError. */
  post(peer: Peer, path: string, body: Uint8Array, options: PostOptions = {}): Promise<Uint8Array> {
    return this.request(peer, "POST", path, { contentType: "application/cbor", ...options, body });
  }

  /**
   * GETs `path` from `peer`: its body, or undefined when the peer answers 404. `into`: a
   * buffer the caller reuses, which a successful answer is read into (it is then part of
   * it), its length the most the answer may be.
   */
  async get(
    peer: Peer,
    path: string,
    timeoutMs = PEER_TIMEOUT_MS,
    signal?: AbortSignal,
    into?: Uint8Array,
  ): Promise<Uint8Array | undefined> {
    try {
      return await this.request(peer, "GET", path, {
        timeoutMs,
        ...(signal ? { signal } : {}),
        ...(into ? { into } : {}),
      });
    } catch (error) {
      if (error instanceof BuckyError && error.code === "E_NOT_FOUND") return undefined;
      throw error;
    }
  }

  /**
   * Forwards an HTTP request to `path` on `peer` and returns its response unread, so
   * bodies stream both ways. The request is signed, but not its body (UNSIGNED_BODY):
   * only the pinned TLS connection protects what is streamed. `init.headers` is the
   * caller's to give: the authentication is set on it.
   */
  async forward(
    peer: Peer,
    path: string,
    init: {
      method: string;
      headers: Headers;
      body: ReadableStream | Uint8Array | null;
      signal: AbortSignal;
    },
  ): Promise<Response> {
    const failures: string[] = [];
    for (const route of this.routesTo(peer)) {
      let opened = await this.open(route, peer, failures, true);
      // A streamed body an own stream may fail before taking any of: kept for the TLS door.
      const retryable =
        opened?.own && init.body instanceof ReadableStream
          ? new RetryableBody(init.body)
          : undefined;
      while (opened) {
        // The caller's headers are its own copy: they carry the authentication (set anew,
        // with a new time, for each route tried).
        const { headers } = init;
        const signed = this.authenticate(peer, {
          method: init.method,
          path,
          audience: peer.id,
          body: UNSIGNED_BODY,
        });
        for (const name in signed) headers.set(name, signed[name] as string);
        const startMs = performance.now();
        try {
          const response = await fetch(`${opened.base}${path}`, {
            method: init.method,
            headers,
            body: retryable ? retryable.attempt() : init.body,
            redirect: "manual",
            signal: init.signal,
            ...(opened.own ? { unix: opened.own.unix } : { tls: pinnedTls(peer.certPem) }),
            duplex: "half",
            // The app's bytes as it sent them: a compressed answer stays compressed.
            decompress: false,
          } as BunFetchRequestInit & { decompress: boolean });
          this.contacts.heardFrom(peer.id, this.now());
          this.reached(peer, route, performance.now() - startMs, opened);
          return response;
        } catch (error) {
          if (init.signal.aborted) throw error;
          // Sent again only when the app cannot have acted on it twice: a request whose
          // method says so (RFC 9110's idempotent ones), or a stream none of which went out.
          // A POST the device took, its answer lost with the tunnel, would be made twice.
          const mayResend = retryable ? !retryable.sent : IDEMPOTENT.has(init.method);
          // The own stream is broken either way: the next requests go by TLS for a while.
          const door = opened.own ? this.ownFailed(route, peer, error) : undefined;
          const again = mayResend ? door : undefined;
          if (again) {
            opened = again;
            continue;
          }
          this.unreached(route);
          // A body already (partly) sent cannot be sent again another way, nor a request
          // the app may have acted on unless its method says twice does no harm.
          if (init.body || (!IDEMPOTENT.has(init.method) && !neverSent(error))) throw error;
          failures.push(`${describe(route)} (${networkProblem(error)})`);
          break;
        }
      }
    }
    throw unreachable(peer, failures);
  }

  /**
   * An address where `peer` answers now (for a WebSocket, which cannot be retried
   * another way once opened): one of its own, or a door through a relay.
   */
  async reachableAddress(peer: Peer): Promise<string | undefined> {
    for (const route of this.routesTo(peer)) {
      const opened = await this.open(route, peer, [], false);
      if (opened) return opened.base;
    }
    return undefined;
  }

  /**
   * The Unix socket of a door to `pipe.app` on `peer`, served by its app pipe, through
   * this device's own relay (lib/relay/forwarder.ts), when `peer` was last reached
   * through it and takes pipe streams; undefined otherwise (reached directly, by another
   * relay, or an older bucky).
   */
  relayedPipeSocket(peer: Peer, pipe: PipeOpening): string | undefined {
    if (this.contacts.get(peer.id)?.address !== `${RELAY_ROUTE_PREFIX}${this.self}`)
      return undefined;
    const relay = this.relays?.relaysFor(peer).find((r) => r.id === this.self);
    return relay ? this.forwarders?.pipeSocketFor(relay, peer, pipe) : undefined;
  }

  /** Signed headers for a WebSocket to `path` on `peer` (its body is not signed). */
  websocketHeaders(peer: Peer, path: string): Record<string, string> {
    return this.authenticate(peer, { method: "GET", path, audience: peer.id, body: UNSIGNED_BODY });
  }

  /**
   * The headers that say this device made `request`: a tag under the pair key when the peer
   * takes request-auth v2 (its own signed info says so), else a signature.
   */
  private authenticate(peer: Peer, request: RequestToSign): Record<string, string> {
    if (this.requestKeys && (peer.requestAuth ?? 1) >= 2)
      return macRequest(request, this.self, this.requestKeys.to(peer.id), this.now());
    return signRequest(request, this.key, this.now());
  }

  get deviceId(): DeviceId {
    return this.self;
  }

  /** Closes the doors opened to relayed peers, and the connections kept for chunks. */
  stop(): void {
    this.forwarders?.stop();
    this.bulk.close();
  }

  /**
   * The ways to `peer`, in the order to try them: its own addresses (the one that worked
   * last time first), then through each relay. Direct is preferred: a device that comes
   * within reach stops being relayed. But when it was last reached through a relay and
   * none of its addresses is known to work, the relays go first while its addresses are
   * probed behind the request, so a device behind NAT costs no probe timeout per call.
   * Of the relays, this device itself goes first when the peer keeps its tunnel here: no
   * other machine is then on the way, whose loss would hold this device's requests (a
   * gateway reaching an app behind NAT through another relay lost them with it). Then the
   * one that worked last time.
   */
  private routesTo(peer: Peer): Route[] {
    const last = this.contacts.get(peer.id)?.address;
    const direct = (
      last && peer.addresses.includes(last)
        ? [last, ...peer.addresses.filter((a) => a !== last)]
        : peer.addresses
    ).map((key) => ({ key }));
    const here = this.relays?.hub?.isAttached(peer.id) ? `${RELAY_ROUTE_PREFIX}${this.self}` : "";
    const rank = (key: string) => (key === here ? 0 : key === last ? 1 : 2);
    const relayed = (this.relays?.relaysFor(peer) ?? [])
      .filter((relay) => relay.id !== peer.id)
      .map((relay) => ({ key: `${RELAY_ROUTE_PREFIX}${relay.id}`, via: relay }))
      .sort((a, b) => rank(a.key) - rank(b.key));
    const lastRelayed = relayed.some((route) => route.key === last);
    if (lastRelayed && !direct.some((route) => this.reachability.known(route.key))) {
      for (const route of direct) void this.reachability.check(route.key);
      return [...relayed, ...direct];
    }
    return [...direct, ...relayed];
  }

  /**
   * Where to send a request along `route`, or undefined (and why) if it is down. `own`:
   * through this device's own relay, the door of its own streams when the peer takes them.
   */
  private async open(
    route: Route,
    peer: Peer,
    failures: string[],
    own: boolean,
  ): Promise<Opened | undefined> {
    if (route.via) {
      const failedAt = this.ownFailing.get(peer.id);
      const ownSocket =
        own && (failedAt === undefined || this.now() - failedAt >= OWN_RETRY_MS)
          ? this.forwarders?.ownSocketFor(route.via, peer)
          : undefined;
      if (ownSocket) return { base: OWN_BASE, own: { unix: ownSocket } };
      const door = this.forwarders?.addressFor(route.via, peer);
      return door ? { base: door } : undefined;
    }
    if (await this.reachability.check(route.key)) return { base: route.key };
    failures.push(`${route.key} (cannot connect)`);
    return undefined;
  }

  /** Whether `address` answers, as last found: unknown before any call or probe there. */
  knownReachable(address: string): boolean | undefined {
    return this.reachability.known(address);
  }

  /**
   * The device's own address a request to `peer` is sent to now, when it goes directly:
   * the one it was last reached at, unless a call or probe there lately could not connect
   * (it then goes by a relay, as the app pipe's client does too). Undefined when it goes
   * by a relay.
   */
  directAddressInUse(peer: Peer): string | undefined {
    const last = this.contacts.get(peer.id)?.address;
    return last && peer.addresses.includes(last) && this.reachability.known(last) !== false
      ? last
      : undefined;
  }

  /**
   * Where a request to `peer` goes now, to ask whether it still answers there while one is
   * under way (lib/gateway/silence-watch.ts): its own address (directAddressInUse), or,
   * when it was last reached through a relay, that relay's door to it. Undefined otherwise.
   */
  addressInUse(peer: Peer): string | undefined {
    const direct = this.directAddressInUse(peer);
    if (direct) return direct;
    const last = this.contacts.get(peer.id)?.address;
    const relay = last?.startsWith(RELAY_ROUTE_PREFIX)
      ? this.relays?.relaysFor(peer).find((r) => `${RELAY_ROUTE_PREFIX}${r.id}` === last)
      : undefined;
    return relay && this.forwarders?.addressFor(relay, peer);
  }

  /**
   * Whether `peer` answers at `address` now: one of its own takes a connection
   * (answersNow), or through a relay's door a stream to it opens to its TLS (streamProbe).
   * What was found within the last second will do, unless `fresh`.
   */
  answersAt(peer: Peer, address: string, fresh = false): Promise<boolean> {
    if (peer.addresses.includes(address)) return this.answersNow(address, fresh);
    this.doorCerts.set(address, peer.certPem);
    return fresh
      ? this.throughRelays.check(address, true)
      : this.throughRelays.checkWithin(address, ANSWERS_NOW_WITHIN_MS);
  }

  /**
   * Whether `address` takes a connection now: what a call or probe found there within
   * the last second, else a fresh probe (always one when `fresh`), remembered, so the
   * calls after it skip an address that does not. Requests waiting on one device share
   * its probes.
   */
  answersNow(address: string, fresh = false): Promise<boolean> {
    return fresh
      ? this.reachability.check(address, true)
      : this.reachability.checkWithin(address, ANSWERS_NOW_WITHIN_MS);
  }

  /**
   * The first of a device's own addresses that answers (never a relayed one); `fresh`
   * probes each again rather than trusting what is remembered.
   */
  async directAddress(peer: Peer, fresh = false): Promise<string | undefined> {
    for (const address of peer.addresses)
      if (await this.reachability.check(address, fresh)) return address;
    return undefined;
  }

  /**
   * The TLS door of the same relay, once an own stream failed before any answer (the
   * device's tunnel replaced since its hello, or its peer.sock gone while the hello still
   * says it takes own streams): said once, until an own stream to it works again, and
   * the only door to it for OWN_RETRY_MS.
   */
  private ownFailed(route: Route, peer: Peer, error: unknown): Opened | undefined {
    const door = route.via ? this.forwarders?.addressFor(route.via, peer) : undefined;
    if (!door) return undefined;
    const saidAlready = this.ownFailing.has(peer.id);
    this.ownFailing.set(peer.id, this.now());
    if (!saidAlready)
      this.relays?.log?.warn("own stream failed, sending by TLS", {
        device: peer.name,
        relay: route.via?.name,
        problem: networkProblem(error),
      });
    return { base: door };
  }

  /**
   * The peer answered by `route`: where and how fast it is reached. `rttMs`: from the
   * request's start to its answer's head, not to the answer's end. When it was heard from
   * is heardFrom's to say (its answer's head and chunks), not this: the end of a long answer
   * is no hearing of its own.
   */
  private reached(peer: Peer, route: Route, rttMs: number, opened: Opened): void {
    if (opened.own) this.ownFailing.delete(peer.id);
    if (!route.via) this.reachability.record(route.key, true);
    this.contacts.seen(peer.id, {
      address: route.key,
      lastSeenAt: this.contacts.get(peer.id)?.lastSeenAt ?? this.now(),
      rttMs: Math.round(rttMs),
    });
  }

  private unreached(route: Route): void {
    if (!route.via) this.reachability.record(route.key, false);
  }

  private async request(
    peer: Peer,
    method: "GET" | "POST",
    path: string,
    options: PostOptions & { body?: Uint8Array; into?: Uint8Array },
  ): Promise<Uint8Array> {
    const body = options.body ?? new Uint8Array();
    const failures: string[] = [];
    for (const route of this.routesTo(peer)) {
      let opened = await this.open(route, peer, failures, true);
      while (opened) {
        const startMs = performance.now();
        const watch = new AnswerWatch(options.timeoutMs ?? PEER_TIMEOUT_MS, {
          sentBytes: body.length,
        });
        const at = opened;
        let response: Response | BulkAnswer;
        try {
          const headers = {
            ...(options.contentType ? { "content-type": options.contentType } : {}),
            ...this.authenticate(peer, { method, path, audience: peer.id, body }),
          };
          const signal = options.signal
            ? AbortSignal.any([options.signal, watch.signal])
            : watch.signal;
          // Into the caller's buffer over TLS: not by fetch (lib/node/bulk-get.ts).
          const bulk =
            method === "GET" && options.into && !at.own ? bulkTarget(at.base, peer) : undefined;
          const byFetch = () =>
            fetch(`${at.base}${path}`, {
              method,
              ...(method === "POST" ? { body } : {}),
              headers,
              ...(at.own ? { unix: at.own.unix } : { tls: pinnedTls(peer.certPem) }),
              // A peer's answer is its own: a redirect it gives is not followed (no bucky
              // answers with one), else a member could send this device's requests, their
              // bodies, to any address it reaches, and have that service's answer taken as
              // the peer's.
              redirect: "manual",
              signal,
            });
          response = bulk
            ? await this.bulk
                .get(bulk, path, headers, options.into as Uint8Array, signal)
                .catch((error: unknown) => {
                  // A request or head it does not take: fetch takes any (a GET, sent again safely).
                  if (error instanceof NotTaken) return byFetch();
                  throw error;
                })
            : await byFetch();
        } catch (error) {
          watch.stop();
          // Called off by the caller: nothing to say about the peer.
          if (options.signal?.aborted) throw error;
          const again = opened.own ? this.ownFailed(route, peer, error) : undefined;
          // Sent again only when the device cannot have acted on it: a GET. A POST's bytes
          // go out with its head, and one the device took, its answer lost with the stream,
          // would be acted on twice (a backup target's `create` finding its own file, a
          // write applied twice): it fails here, tried no other way.
          if (again && method === "GET") {
            opened = again;
            continue;
          }
          this.unreached(route);
          failures.push(`${describe(route)} (${networkProblem(error)})`);
          if (again) throw unreachable(peer, failures);
          // Nor is a POST sent another way once it may have reached the device (it timed
          // out, or the connection broke after it went out), unless the caller says acting
          // on it twice does no harm: a backup target's `create` sent again through a
          // second route found its own file and failed a backup that had succeeded.
          if (method === "POST" && !options.repeatable && !neverSent(error))
            throw unreachable(peer, failures);
          break;
        }
        watch.began();
        // Before the body: a large answer on a slow link is not a slow round trip.
        const rttMs = performance.now() - startMs;
        // Each chunk of the answer is the peer heard from: over the pinned TLS (or its own
        // stream), only it can have sent them. A long answer on a slow link (app data at
        // 1 Mbit/s) is then the peer alive while it comes, not silent until its end. But
        // bytes it sent before it died can still be arriving long after: a relay trickling
        // them at the least speed the answer watch allows, or a deep buffer, for up to
        // MAX_ANSWER_MS (10 min), all that time a dead holder "heard" by its standby. So
        // chunks count only for answerHeardForMs after the head; a peer that lives meanwhile
        // is heard by the heads of its other answers and calls.
        const headAtMs = this.now();
        this.contacts.heardFrom(peer.id, headAtMs);
        const bytes = await readAnswer(peer, response, options, (moved) => {
          watch.moved(moved);
          const nowMs = this.now();
          // Either way of the head: a clock set back would make every chunk look recent.
          if (Math.abs(nowMs - headAtMs) < this.answerHeardForMs)
            this.contacts.heardFrom(peer.id, nowMs);
        }).finally(() => watch.stop());
        this.reached(peer, route, rttMs, opened);
        if (response.ok) return bytes;
        throw peerError(peer, response.status, bytes);
      }
    }
    throw unreachable(peer, failures);
  }
}

/**
 * A peer's answer, read within MAX_PEER_ANSWER_BYTES as it arrives (lib/node/bounded-read.ts),
 * or a successful one into `into`, within its length (more is wrong bytes: E_INTEGRITY).
 * One that breaks off (the peer stopped, the network failed, the time ran out) is the peer
 * unavailable, a BuckyError like any other answer of the peer's; one past the bound stops
 * being read.
 */
function readAnswer(
  peer: Peer,
  response: Response | BulkAnswer,
  { signal, into }: { signal?: AbortSignal; into?: Uint8Array },
  progress: (bytes: number) => void,
): Promise<Uint8Array> {
  // An error answer is never read into the caller's buffer: it is not what it waits for.
  const target = response.ok ? into : undefined;
  const maxBytes = target ? target.length : MAX_PEER_ANSWER_BYTES;
  const words: BoundedReadWords = {
    // More than the caller's buffer is not what it asked for (a chunk of a known length):
    // wrong bytes, as a chunk that does not hash to its id would be.
    tooLarge: () =>
      target
        ? new BuckyError(
            "E_INTEGRITY",
            `${peer.name} answered with more than the ${maxBytes} bytes asked for`,
          )
        : new BuckyError(
            "E_UNAVAILABLE",
            `${peer.name} answered with more than ${maxBytes} bytes, the most a peer's answer takes`,
          ),
    brokeOff: (error) =>
      // Called off by the caller: nothing to say about the peer.
      signal?.aborted
        ? error
        : new BuckyError(
            "E_UNAVAILABLE",
            `${peer.name} did not send its whole answer (${networkProblem(error)})`,
            "It may be off or on another network; bucky keeps trying.",
            { cause: error },
          ),
  };
  if (!(response instanceof Response))
    return response.read(progress).catch((error: unknown) => {
      throw error instanceof TooLarge ? words.tooLarge() : words.brokeOff(error);
    });
  return target
    ? bytesInto(response, target, words, { progress })
    : bytesWithin(response, maxBytes, words, { progress });
}

/**
 * Where a GET into a buffer goes by BulkGet: a TLS address of the peer's (its own, or a
 * relay's door to it), the peer's certificate pinned as fetch pins it.
 */
function bulkTarget(base: string, peer: Peer): BulkTarget | undefined {
  const url = new URL(base);
  if (url.protocol !== "https:" || url.pathname !== "/") return undefined;
  return {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(url.port || 443),
    certPem: peer.certPem,
  };
}

function describe(route: Route): string {
  return route.via ? `through ${route.via.name}` : route.key;
}

/** The errors that say a peer could not be reached at all (rather than that it refused). */
const unreachables = new WeakSet<BuckyError>();

/** Whether `error` says a peer could not be reached at all (it did not answer). */
export function isUnreachable(error: unknown): boolean {
  return error instanceof BuckyError && unreachables.has(error);
}

function unreachable(peer: Peer, failures: readonly string[]): BuckyError {
  const error = new BuckyError(
    "E_UNAVAILABLE",
    failures.length > 0
      ? `${peer.name} is not answering at ${failures.join("; ")}`
      : `${peer.name} has published no address yet`,
    "It may be off or on another network; bucky keeps trying.",
  );
  unreachables.add(error);
  return error;
}

/**
 * A peer's error answer, as the BuckyError it reported. A code this version does not know
 * (a newer peer's), or an answer that is not one of bucky's (a proxy's, the runtime's own
 * 413), is taken by its HTTP status: a refusal (4xx) is not a peer that is unavailable,
 * which would be waited out and tried again for ever. An older peer's refusal of a body
 * over its bound (400 E_USAGE, "request body over N bytes") is the E_TOO_LARGE it is now.
 * What it says is said as its words: `nas refused: "…", and says "…"`.
 */
function peerError(peer: Peer, status: number, body: Uint8Array): PeerAnswerError {
  const said = saidError(body);
  if (!said)
    return new PeerAnswerError(
      codeOfStatus(status),
      `${peer.name} answered HTTP ${status}`,
      status,
    );
  // E_QUARANTINED and E_REVOKED are this device's own state (its writes refused, waited
  // out by its daemon; its daemon stopped): a peer saying one is taken by its status, never
  // as this device's. A revocation it sends is checked before anything acts on it.
  const code =
    said.code === "E_USAGE" && LEGACY_TOO_LARGE.test(said.message)
      ? "E_TOO_LARGE"
      : isErrorCode(said.code) && said.code !== "E_QUARANTINED" && said.code !== "E_REVOKED"
        ? said.code
        : codeOfStatus(status);
  // Its words are its own (a member's device answers as it likes): quoted on one line, and
  // its hint with them, never shown as bucky's advice (lib/facts/said-by.ts).
  const hint = said.hint ? `, and says ${quoted(shortened(said.hint))}` : "";
  return new PeerAnswerError(
    code,
    `${peer.name} refused: ${quoted(shortened(said.message))}${hint}`,
    status,
    said.revocation,
  );
}

/**
 * An error a peer answered with, and its HTTP status: told apart from this device's own
 * errors, which happen on the way too (a checkpoint the peer offered that does not check
 * out here is this device's finding, not the peer's refusal).
 */
export class PeerAnswerError extends BuckyError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
    /** The owner's revocation of this device, a refusal of E_REVOKED carries (unchecked). */
    readonly revocation?: string,
  ) {
    super(code, message);
  }

  /** Whether the peer refused the request (a 4xx), rather than failed it on its side. */
  get refused(): boolean {
    return this.status >= 400 && this.status < 500;
  }
}

/** A peer's error, shown at most this long: its words are for a person to read. */
const MAX_SAID_CHARS = 1000;

function shortened(words: string): string {
  return words.length > MAX_SAID_CHARS ? `${words.slice(0, MAX_SAID_CHARS)}…` : words;
}

/** How a peer before E_TOO_LARGE refused a body over its bound. */
const LEGACY_TOO_LARGE = /^request body over \d+ bytes$/;

/** The error a peer's answer says, when it is of that shape: `{"error": {code, message, hint?, revocation?}}`. */
function saidError(
  body: Uint8Array,
): { code: string; message: string; hint?: string; revocation?: string } | undefined {
  try {
    const { error } = JSON.parse(new TextDecoder().decode(body)) as { error?: unknown };
    if (typeof error !== "object" || error === null) return undefined;
    const { code, message, hint, revocation } = error as Record<string, unknown>;
    if (typeof code !== "string" || typeof message !== "string") return undefined;
    return {
      code,
      message,
      ...(typeof hint === "string" ? { hint } : {}),
      ...(typeof revocation === "string" ? { revocation } : {}),
    };
  } catch {
    return undefined;
  }
}

/** The code an HTTP status says, when the answer says none this version knows. */
function codeOfStatus(status: number): ErrorCode {
  const known = BY_STATUS[status];
  if (known) return known;
  // Any other refusal is the request's fault; a server's error, or too many requests, passes.
  return status >= 400 && status < 500 && status !== 408 && status !== 429
    ? "E_USAGE"
    : "E_UNAVAILABLE";
}

const BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: "E_USAGE",
  403: "E_PERMISSION",
  404: "E_NOT_FOUND",
  409: "E_EXISTS",
  413: "E_TOO_LARGE",
  422: "E_INTEGRITY",
};
