/**
 * Calls to other devices: HTTPS with the peer's device certificate pinned as the only
 * trust anchor (so only the holder of its device key can answer), and every request
 * signed by this device's key. Addresses are tried best first, starting with the one
 * that answered last time.
 */
import type { SigningKey } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { signRequest, UNSIGNED_BODY } from "../../protocol/request-auth.ts";
import { BuckyError, ERROR_CODES, type ErrorCode } from "../errors.ts";
import type { ContactBook, Peer } from "./peers.ts";

export const PEER_TIMEOUT_MS = 5_000;

export class PeerClient {
  private readonly self: DeviceId;

  constructor(
    private readonly key: SigningKey,
    private readonly contacts: ContactBook,
    private readonly now: () => number,
  ) {
    this.self = deviceIdFromPublicKey(key.publicKey);
  }

  /** POSTs `body` to `path` on `peer`; returns the response body, or throws a BuckyError. */
  post(
    peer: Peer,
    path: string,
    body: Uint8Array,
    contentType = "application/cbor",
  ): Promise<Uint8Array> {
    return this.request(peer, "POST", path, { body, contentType });
  }

  /** GETs `path` from `peer`: its body, or undefined when the peer answers 404. */
  async get(
    peer: Peer,
    path: string,
    timeoutMs = PEER_TIMEOUT_MS,
  ): Promise<Uint8Array | undefined> {
    try {
      return await this.request(peer, "GET", path, { timeoutMs });
    } catch (error) {
      if (error instanceof BuckyError && error.code === "E_NOT_FOUND") return undefined;
      throw error;
    }
  }

  /**
   * Forwards an HTTP request to `path` on `peer` and returns its response unread, so
   * bodies stream both ways. The request is signed, but not its body (UNSIGNED_BODY):
   * only the pinned TLS connection protects what is streamed.
   */
  async forward(
    peer: Peer,
    path: string,
    init: { method: string; headers: Headers; body: ReadableStream | null; signal: AbortSignal },
  ): Promise<Response> {
    const failures: string[] = [];
    for (const address of this.addressesOf(peer)) {
      const headers = new Headers(init.headers);
      const signed = signRequest(
        { method: init.method, path, audience: peer.id, body: UNSIGNED_BODY },
        this.key,
        this.now(),
      );
      for (const [name, value] of Object.entries(signed)) headers.set(name, value);
      try {
        return await fetch(`${address}${path}`, {
          method: init.method,
          headers,
          body: init.body,
          redirect: "manual",
          signal: init.signal,
          tls: { ca: peer.certPem, checkServerIdentity: () => undefined },
          duplex: "half",
        });
      } catch (error) {
        if (init.signal.aborted || init.body) throw error;
        failures.push(`${address}: ${(error as Error).message}`);
      }
    }
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${peer.name} is not reachable (${failures.join("; ") || "it has published no address"})`,
    );
  }

  /** The peer's addresses, the one that answered last time first. */
  addressesOf(peer: Peer): readonly string[] {
    const last = this.contacts.get(peer.id)?.address;
    return last && peer.addresses.includes(last)
      ? [last, ...peer.addresses.filter((a) => a !== last)]
      : peer.addresses;
  }

  /** Signed headers for a WebSocket to `path` on `peer` (its body is not signed). */
  websocketHeaders(peer: Peer, path: string): Record<string, string> {
    return signRequest(
      { method: "GET", path, audience: peer.id, body: UNSIGNED_BODY },
      this.key,
      this.now(),
    );
  }

  private async request(
    peer: Peer,
    method: "GET" | "POST",
    path: string,
    options: { body?: Uint8Array; contentType?: string; timeoutMs?: number },
  ): Promise<Uint8Array> {
    const body = options.body ?? new Uint8Array();
    const failures: string[] = [];
    for (const address of this.addressesOf(peer)) {
      const startMs = performance.now();
      let response: Response;
      try {
        response = await fetch(`${address}${path}`, {
          method,
          ...(method === "POST" ? { body } : {}),
          headers: {
            ...(options.contentType ? { "content-type": options.contentType } : {}),
            ...signRequest({ method, path, audience: peer.id, body }, this.key, this.now()),
          },
          tls: { ca: peer.certPem, checkServerIdentity: () => undefined },
          signal: AbortSignal.timeout(options.timeoutMs ?? PEER_TIMEOUT_MS),
        });
      } catch (error) {
        failures.push(`${address}: ${(error as Error).message}`);
        continue;
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      this.contacts.seen(peer.id, {
        address,
        lastSeenAt: this.now(),
        rttMs: Math.round(performance.now() - startMs),
      });
      if (response.ok) return bytes;
      throw peerError(peer, response.status, bytes);
    }
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${peer.name} is not reachable (${failures.join("; ") || "it has published no address"})`,
      "It may be off or on another network; bucky keeps trying.",
    );
  }

  get deviceId(): DeviceId {
    return this.self;
  }
}

/** A peer's error answer, as the BuckyError it reported. */
function peerError(peer: Peer, status: number, body: Uint8Array): BuckyError {
  try {
    const { error } = JSON.parse(new TextDecoder().decode(body)) as {
      error: { code: string; message: string; hint?: string };
    };
    const code = (error.code in ERROR_CODES ? error.code : "E_UNAVAILABLE") as ErrorCode;
    return new BuckyError(code, `${peer.name} refused: ${error.message}`, error.hint);
  } catch {
    return new BuckyError("E_UNAVAILABLE", `${peer.name} answered HTTP ${status}`);
  }
}
