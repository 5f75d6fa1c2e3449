/**
 * The calling side of a relayed stream. For each (relay, device) pair it listens on a
 * loopback port; every connection there becomes a stream to the device through the relay.
 * A peer request then goes to `https://127.0.0.1:<port>` with the device's certificate
 * pinned as usual: the TLS runs end to end, and the relay only carries it. When this
 * device is the relay, and the device says it takes the relay's own streams, a door on a
 * Unix socket of this process carries the request as plain HTTP inside the TLS of the
 * device's connection to this relay alone (protocol/relay.ts): its two ends are the same
 * two devices. That door is an abstract socket (Linux: no file, gone with the process).
 * Any process of this machine in this network namespace can connect to it, as to the
 * loopback port it replaces (apps run in namespaces of their own); what it carries is
 * authenticated by the device request by request, as on its TLS server. A request on it
 * crosses no TCP stack twice: a relayed request cost the gateway a
 * loopback TCP write each way (found profiling the relayed small-request path). A gateway
 * that is the relay reaches an app on such a device by a door of the same kind for each
 * app, whose streams the device's app pipe serves (pipe streams, protocol/relay.ts).
 */

import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Socket, SocketHandler } from "bun";
import type { SigningKey } from "../../protocol/ed25519.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { DOCUMENT_HEADER } from "../../protocol/relay.ts";
import { signRequest, UNSIGNED_BODY } from "../../protocol/request-auth.ts";
import { pinnedTls } from "../../protocol/tls-cert.ts";
import type { Peer } from "../node/peers.ts";
import type { PipeOpening, RelayHub, StreamKind } from "./hub.ts";
import {
  clientSocketEnd,
  Link,
  messageBytes,
  type TcpStream,
  tcpEnd,
  tcpStreamClosed,
} from "./pipe.ts";

/**
 * How long a stream through another relay has to open (TCP, TLS and the WebSocket's
 * upgrade) before it is given up and the relay taken as unreachable: a relay that went
 * silent (its packets dropped, not refused) otherwise held each stream until the kernel
 * gave up its connect, about two minutes, and the next stream tried it again. As long as
 * a peer has to begin its answer (PEER_TIMEOUT_MS).
 */
export const RELAY_CONNECT_TIMEOUT_MS = 5_000;

export interface ForwarderOptions {
  readonly key: SigningKey;
  readonly self: DeviceId;
  readonly now: () => number;
  /** This device's owner-signed document, which a relay asks for. */
  readonly document: () => string | undefined;
  /** A working address of the relay itself. */
  readonly relayAddress: (relay: Peer) => Promise<string | undefined>;
  /** The relay did not open a stream at `address` in time: it is not to be tried there for a while. */
  readonly relayUnanswered?: (address: string) => void;
  /** RELAY_CONNECT_TIMEOUT_MS unless given (tests shorten it). */
  readonly connectTimeoutMs?: number;
  /** This process's own hub, when this device is a relay: streams from here go straight in. */
  readonly hub?: RelayHub;
  /**
   * A directory only this device's user may enter (its home), where doors for pipe
   * streams listen; without it, none is made. Not abstract sockets, as the own streams'
   * doors are: what comes through a pipe door is taken as this gateway's, with no
   * signature of its own (the device admits the relay, and then each request as it
   * comes), and any process of this host could connect to an abstract name, found in
   * /proc/net/unix.
   */
  readonly pipeDoorDir?: string;
}

/** A door: its listener, and the relay and device as last described (addresses change). */
interface Door {
  readonly listener: { stop(closeActive?: boolean): void };
  /** `https://127.0.0.1:<port>`, or for own streams the name of its Unix socket. */
  readonly where: string;
  relay: Peer;
  target: Peer;
  /**
   * What its streams carry: TLS to the device's peer server, or, into this process's own
   * hub, HTTP for its peer server (own) or for its app pipe (pipe, and what it is told).
   */
  readonly kind: StreamKind;
  readonly pipe?: PipeOpening;
}

export class Forwarders {
  private readonly doors = new Map<string, Door>();
  /** How many pipe doors this process has made: each one's name. */
  private pipeDoors = 0;

  constructor(private readonly options: ForwarderOptions) {}

  /** `https://127.0.0.1:<port>`: a door to `target` through `relay`. */
  addressFor(relay: Peer, target: Peer): string {
    return this.door(relay, target, "tls").where;
  }

  /**
   * The Unix socket (abstract: its name starts with a NUL) of a door to `target` for this
   * device's HTTP, carried inside the TLS of its connection to this device's own hub;
   * undefined when `relay` is another device, or `target` does not take such streams (an
   * older bucky). Fetched as `http://…` with the `unix` option: no proxy is asked.
   */
  ownSocketFor(relay: Peer, target: Peer): string | undefined {
    const hub = this.options.hub;
    if (!hub || relay.id !== this.options.self || !hub.takes(target.id, "own")) return undefined;
    try {
      return this.door(relay, target, "own").where;
    } catch {
      // No door could listen (no descriptors left, a security module refusing abstract
      // sockets): the request goes by TLS, as to an older bucky, and the next one tries again.
      return undefined;
    }
  }

  /**
   * The Unix socket (in pipeDoorDir) of a door to `pipe.app` on `target`, whose streams
   * its app pipe serves, carried as own streams are; undefined when `relay` is another
   * device, `target` does not take pipe streams (an older bucky), or there is no
   * pipeDoorDir. Fetched as `http://…` with the
   * `unix` option. One door an app: a connection carries one app's requests, as the pipe
   * wants.
   */
  pipeSocketFor(relay: Peer, target: Peer, pipe: PipeOpening): string | undefined {
    const hub = this.options.hub;
    if (!hub || relay.id !== this.options.self || !this.options.pipeDoorDir) return undefined;
    if (!hub.takes(target.id, "pipe")) return undefined;
    try {
      return this.door(relay, target, "pipe", pipe).where;
    } catch {
      // No door could listen: the request goes by the ingress, and the next tries again.
      return undefined;
    }
  }

  private door(relay: Peer, target: Peer, kind: StreamKind, pipe?: PipeOpening): Door {
    const key = `${kind === "tls" ? relay.id : kind} ${target.id} ${pipe?.app ?? ""}`;
    let door = this.doors.get(key);
    if (door) Object.assign(door, { relay, target });
    else {
      door = this.open(relay, target, kind, pipe);
      this.doors.set(key, door);
    }
    return door;
  }

  stop(): void {
    for (const door of this.doors.values()) {
      door.listener.stop(true);
      if (door.kind === "pipe") rmSync(door.where, { force: true });
    }
    this.doors.clear();
  }

  private open(relay: Peer, target: Peer, kind: StreamKind, pipe?: PipeOpening): Door {
    const socket = this.streams(() => door);
    let door: Door;
    if (kind === "pipe") {
      // Short (a socket's path is at most 107 bytes, the home's peer.sock is as long) and
      // this process's own: one left by an earlier run is removed first.
      const unix = join(this.options.pipeDoorDir as string, `pipe${this.pipeDoors++}`);
      rmSync(unix, { force: true });
      const listener = Bun.listen({ unix, socket });
      door = { relay, target, kind, ...(pipe ? { pipe } : {}), where: unix, listener };
    } else if (kind === "own") {
      // A name nobody can guess ahead: another process could take a known one first.
      const unix = `\0bucky-own-${randomBytes(16).toString("hex")}`;
      const listener = Bun.listen({ unix, socket });
      door = { relay, target, kind, where: unix, listener };
    } else {
      const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket });
      door = { relay, target, kind, where: `https://127.0.0.1:${listener.port}`, listener };
    }
    return door;
  }

  /** What a door does with each connection to it: a stream to its device. */
  private streams(door: () => Door): SocketHandler<TcpStream> {
    return {
      open: (socket) => {
        const end = tcpEnd(socket as Socket<unknown>);
        socket.data = { link: new Link(end), end };
        const { relay, target, kind, pipe } = door();
        const hub = this.options.hub;
        if (hub && relay.id === this.options.self)
          hub.connectLocal(target.id, socket.data.link, kind, pipe);
        else void this.connectRemote(relay, target, socket.data.link);
      },
      data: (socket, chunk) => socket.data.link.fromA(chunk),
      drain: (socket) => socket.data.end.flush(),
      close: (socket) => tcpStreamClosed(socket.data),
      error: (socket) => tcpStreamClosed(socket.data),
    };
  }

  /** A WebSocket to the relay asking for a stream to `target`, joined to `link`. */
  private async connectRemote(relay: Peer, target: Peer, link: Link): Promise<void> {
    const address = await this.options.relayAddress(relay);
    const document = this.options.document();
    if (!address || !document || link.closed) return link.close();
    const path = `/v1/relay/connect/${target.id}`;
    const ws = new WebSocket(`${address.replace(/^https:/, "wss:")}${path}`, {
      headers: {
        ...signRequest(
          { method: "GET", path, audience: relay.id, body: UNSIGNED_BODY },
          this.options.key,
          this.options.now(),
        ),
        [DOCUMENT_HEADER]: document,
      },
      tls: pinnedTls(relay.certPem),
    } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    const timeoutMs = this.options.connectTimeoutMs ?? RELAY_CONNECT_TIMEOUT_MS;
    const unanswered = setTimeout(() => {
      this.options.relayUnanswered?.(address);
      link.close();
      ws.terminate();
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(unanswered);
      link.join(clientSocketEnd(ws));
    };
    ws.onmessage = (event) => link.fromB(messageBytes(event.data));
    ws.onclose = () => {
      clearTimeout(unanswered);
      link.close();
    };
    ws.onerror = () => link.close();
  }
}
