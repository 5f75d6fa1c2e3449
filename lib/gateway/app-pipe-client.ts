/**
 * A gateway's side of the app pipe (docs/app-pipe.md): a request for an app on another
 * device goes to that device's pipe (lib/gateway/app-pipe.ts) with the gateway's ordinary
 * fetch, pinned to the device's certificate as every call to a peer is, presenting an app
 * certificate that names the app (Bun keeps a pool of connections per client certificate,
 * so a connection carries one app's requests). The device checks the certificate once a
 * connection, the person's assertion at each request.
 *
 * A device called directly is fetched at its pipe's port. One last reached through this
 * gateway's own relay, whose tunnel takes pipe streams, is fetched at a door of the relay
 * whose streams its pipe serves (protocol/relay.ts): HTTP inside the one TLS of the
 * device's connection to the relay, as the relay's own streams are, the relay being who
 * the pipe admits, and the app and the refusal proof named as the stream opens. Either
 * way the answer comes as the app sent it, its length kept, where the ingress would send
 * a large one chunked. One reached through another relay keeps the ingress (`/v1/ingress/…`), as
 * WebSockets do. Whether a device's pipe listens, and where, it says through its peer API
 * (`GET /v1/app-pipe`); an older device answers 404 and keeps the ingress, asked again
 * after NO_PIPE_RECHECK_MS. A pipe that fails before any of the
 * request went leaves it to the ingress, and is not tried again for a while
 * (lib/node/peer-backoff.ts); so does one that refuses this gateway (a device that has not
 * heard yet that it is one), and a request the pipe refused otherwise goes by the ingress
 * too, which checks it anew, when its body can be sent again.
 */
import { createHash } from "node:crypto";
import { appCertificate } from "../../protocol/app-certificate.ts";
import type { SigningKey } from "../../protocol/ed25519.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import type { AppName } from "../../protocol/names.ts";
import { certificatePem, pinnedTls } from "../../protocol/tls-cert.ts";
import type { Log } from "../log.ts";
import { networkProblem, neverSent } from "../node/network-errors.ts";
import { PeerBackoff } from "../node/peer-backoff.ts";
import type { ContactBook, Peer } from "../node/peers.ts";
import { RetryableBody } from "../node/retryable-body.ts";

/**
 * On the pipe's own refusals (lib/gateway/app-pipe.ts), never on an app's answer as the
 * pipe passes it: the request may go by the ingress instead, which checks it anew (a
 * device may not have heard yet that this gateway is one). Its value is refusalProof of
 * the app certificate the gateway presented: an app could put the header on its own
 * answer, and have its request sent again by the ingress (a POST taken twice) and the
 * pipe to its device rested, but it never sees the certificate (TLS 1.3 sends it
 * encrypted, and the device strips every `bucky-*` line of a request), and cannot make
 * one without the gateway's key.
 */
export const PIPE_REFUSAL_HEADER = "bucky-app-pipe";

/**
 * What a refusal of the gateway itself (not of one of its requests) carries after the
 * proof: only then does the gateway rest the pipe to that device. A person's assertion
 * refused is one request's refusal, and resting the pipe on it let any client with a bad
 * session rest it for every app of the device.
 */
export const GATEWAY_REFUSED = "gateway";

/** What the pipe's refusals carry for a connection that presented `certificateDer`. */
export function refusalProof(certificateDer: Uint8Array): string {
  return createHash("sha256")
    .update("bucky app pipe refusal\0")
    .update(certificateDer)
    .digest("base64url");
}

/** After the pipe failed, the first wait before it is tried again (doubling to a minute). */
export const PIPE_RETRY_MS = 10_000;
/** A device that said it runs no pipe (an older one) is asked again after this long. */
export const NO_PIPE_RECHECK_MS = 10 * 60_000;
/** How long a device has to say where its pipe is. */
const ASK_TIMEOUT_MS = 2_000;

/** What the pipe's client needs of the node. */
export interface PipeClientNode {
  readonly now: () => number;
  /** This device's key, which signs its app certificates, and the same as PEM for TLS. */
  readonly deviceKey: SigningKey;
  readonly deviceKeyPem: string;
  readonly contacts: ContactBook;
  /** A GET to the peer API of `peer` (PeerClient.get): its body, or undefined for a 404. */
  readonly get: (peer: Peer, path: string, timeoutMs: number) => Promise<Uint8Array | undefined>;
  /**
   * The Unix socket of a door to `pipe.app` on `peer` through this device's own relay
   * (PeerClient.relayedPipeSocket), when it was last reached so and takes pipe streams.
   */
  readonly relayedPipe?: (
    peer: Peer,
    pipe: { readonly app: string; readonly refusal: string },
  ) => string | undefined;
  /**
   * Whether a device's address answers, as last found (PeerClient.knownReachable):
   * false once a call or probe there could not connect.
   */
  readonly knownReachable?: (address: string) => boolean | undefined;
  readonly log: Log;
}

export interface PipeRequest {
  readonly method: string;
  readonly headers: Headers;
  readonly body: ReadableStream | Uint8Array | null;
  readonly signal: AbortSignal;
}

/** The pipe's answer, or the request to send by the ingress instead (with its body as it now is). */
export type PipeOutcome =
  | { readonly response: Response }
  | { readonly fallBack: PipeRequest; readonly why: string };

type PipeKnown = { readonly port: number } | { readonly none: true; readonly untilMs: number };

/** Where a device's pipe is fetched: a TLS origin, a relay's door, or why neither. */
type PipeAt = { readonly origin: string } | { readonly unix: string } | { readonly why: string };

/** Origins kept parsed before the map starts again (a gateway calls a few devices). */
const MAX_ORIGINS_KEPT = 256;

export class AppPipeClient {
  private readonly known = new Map<DeviceId, PipeKnown>();
  private readonly asking = new Map<DeviceId, Promise<PipeKnown | undefined>>();
  private readonly backoff = new PeerBackoff(PIPE_RETRY_MS);
  private readonly origins = new Map<string, string>();
  /** Each app's certificate (PEM), and the proof the pipe's refusals carry for it. */
  private readonly certificates = new Map<
    AppName,
    { readonly pem: string; readonly refusal: string }
  >();

  constructor(private readonly node: PipeClientNode) {}

  /** Sends `request` for `app` on `peer` by its pipe, or says to send it by the ingress. */
  async forward(
    peer: Peer,
    app: AppName,
    path: string,
    request: PipeRequest,
  ): Promise<PipeOutcome> {
    const nowMs = this.node.now();
    if (!this.backoff.due(peer.id, nowMs, 0))
      return { fallBack: request, why: "the pipe failed lately" };
    const certificate = this.certificate(app);
    // Answered at once once the device's pipe is known: no turn of the event loop a request.
    const asked = this.pipeAt(peer, app, certificate.refusal);
    const where = asked instanceof Promise ? await asked : asked;
    if ("why" in where) return { fallBack: request, why: where.why };
    // A streamed body the pipe may fail before taking any of: kept for the ingress.
    const retryable =
      request.body instanceof ReadableStream ? new RetryableBody(request.body) : undefined;
    try {
      const response = await fetch(`${"unix" in where ? "http://pipe" : where.origin}${path}`, {
        method: request.method,
        headers: request.headers,
        body: retryable ? retryable.attempt() : request.body,
        redirect: "manual",
        signal: request.signal,
        ...("unix" in where
          ? { unix: where.unix }
          : {
              tls: {
                ...pinnedTls(peer.certPem),
                cert: certificate.pem,
                key: this.node.deviceKeyPem,
              },
            }),
        duplex: "half",
        // The app's bytes as it sent them: a compressed answer stays compressed.
        decompress: false,
      } as BunFetchRequestInit & { decompress: boolean });
      const marker = response.headers.get(PIPE_REFUSAL_HEADER);
      const gatewayRefused = marker === `${certificate.refusal} ${GATEWAY_REFUSED}`;
      if (marker === certificate.refusal || gatewayRefused) {
        // The pipe refused (not the app): the ingress checks anew, when the body can go again.
        const untouched = retryable ? !retryable.sent : true;
        if (untouched) {
          // A gateway refused as one waits: the device may not have heard it is one yet.
          if (gatewayRefused && response.status === 403)
            this.backoff.failed(
              peer.id,
              { kind: "refusing", code: "E_PERMISSION", message: "refused", sinceMs: nowMs },
              nowMs,
            );
          void response.body?.cancel();
          return {
            fallBack: retryable ? { ...request, body: retryable.attempt() } : request,
            why: `refused by the pipe (HTTP ${response.status})`,
          };
        }
        // Its body went: the refusal is the client's answer, without the proof, a constant
        // of this gateway and app that would let whoever reads it forge the pipe's refusals.
        const answer = new Response(response.body, response);
        answer.headers.delete(PIPE_REFUSAL_HEADER);
        return { response: answer };
      }
      this.backoff.answered(peer.id);
      return { response };
    } catch (error) {
      if (request.signal.aborted) throw error;
      const problem = networkProblem(error);
      // Its port may have changed (the device restarted): asked again when next tried.
      this.known.delete(peer.id);
      const before = this.backoff.failed(
        peer.id,
        { kind: "unreachable", message: problem },
        this.node.now(),
      );
      if (!before)
        this.node.log.warn("app pipe failed, sending by the ingress", {
          device: peer.name,
          app,
          problem,
        });
      const untouched = retryable ? !retryable.sent : request.body === null || neverSent(error);
      if (!untouched) throw error;
      return {
        fallBack: retryable ? { ...request, body: retryable.attempt() } : request,
        why: problem,
      };
    }
  }

  /**
   * Where `peer`'s pipe is fetched for `app`: over TLS at its port on the address it was
   * called at last, or at the door (a Unix socket) of this device's own relay it was last
   * reached through; or why neither.
   */
  private pipeAt(peer: Peer, app: AppName, refusal: string): PipeAt | Promise<PipeAt> {
    const address = this.node.contacts.get(peer.id)?.address;
    // Not where a call lately could not connect: a device gone silent there (its packets
    // dropped, not refused) held each request for the app's whole time (30 s, then 504),
    // request after request, since a request the gateway gave up on says nothing of why.
    // The ingress then goes by the routes that answer, or fails as the device is gone.
    const direct =
      address && peer.addresses.includes(address) && this.node.knownReachable?.(address) !== false
        ? address
        : undefined;
    const relayed = direct ? undefined : this.node.relayedPipe?.(peer, { app, refusal });
    if (!direct && !relayed) return { why: "not called directly" };
    const where = (known: PipeKnown | undefined): PipeAt => {
      if (!known || "none" in known) return { why: "no pipe" };
      if (relayed) return { unix: relayed };
      return { origin: this.origin(direct as string, known.port) };
    };
    const known = this.known.get(peer.id);
    if (known && "port" in known) return where(known);
    return this.pipeOf(peer).then(where);
  }

  /** The origin of the pipe at `port` of the device called at `address` (parsed once a pair). */
  private origin(address: string, port: number): string {
    const key = `${port} ${address}`;
    let origin = this.origins.get(key);
    if (origin === undefined) {
      const url = new URL(address);
      url.port = String(port);
      origin = url.origin;
      // Pairs only change when a device moves or restarts: the map is let go when it grows.
      if (this.origins.size >= MAX_ORIGINS_KEPT) this.origins.clear();
      this.origins.set(key, origin);
    }
    return origin;
  }

  /** The certificate this device presents for `app` (made once: it depends on nothing else). */
  private certificate(app: AppName): { readonly pem: string; readonly refusal: string } {
    let certificate = this.certificates.get(app);
    if (!certificate) {
      const der = appCertificate(this.node.deviceKey, app);
      certificate = { pem: certificatePem(der), refusal: refusalProof(der) };
      this.certificates.set(app, certificate);
    }
    return certificate;
  }

  /** Where `peer`'s pipe listens, as it said; asked once at a time, undefined when it did not answer. */
  private async pipeOf(peer: Peer): Promise<PipeKnown | undefined> {
    const known = this.known.get(peer.id);
    if (known && ("port" in known || this.node.now() < known.untilMs)) return known;
    let asking = this.asking.get(peer.id);
    if (!asking) {
      asking = this.ask(peer).finally(() => this.asking.delete(peer.id));
      this.asking.set(peer.id, asking);
    }
    return asking;
  }

  private async ask(peer: Peer): Promise<PipeKnown | undefined> {
    let body: Uint8Array | undefined;
    try {
      body = await this.node.get(peer, "/v1/app-pipe", ASK_TIMEOUT_MS);
    } catch (error) {
      this.backoff.failed(
        peer.id,
        { kind: "unreachable", message: networkProblem(error) },
        this.node.now(),
      );
      return undefined;
    }
    const port = body && portOf(body);
    const known: PipeKnown =
      port === undefined ? { none: true, untilMs: this.node.now() + NO_PIPE_RECHECK_MS } : { port };
    this.known.set(peer.id, known);
    return known;
  }
}

/** The port in a device's `{"port": n}`, if it is one. */
function portOf(body: Uint8Array): number | undefined {
  try {
    const { port } = JSON.parse(new TextDecoder().decode(body)) as { port?: unknown };
    return typeof port === "number" && Number.isInteger(port) && port > 0 && port < 65536
      ? port
      : undefined;
  } catch {
    return undefined;
  }
}
