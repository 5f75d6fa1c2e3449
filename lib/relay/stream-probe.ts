/**
 * Whether a device reached through a relay still answers: a stream opened through the
 * relay's door to it (lib/relay/forwarder.ts) whose TLS handshake with the device
 * completes. A connect to the door proves nothing (it is this process's own listener),
 * nor does one to the relay (it stands while the device behind it falls silent). The
 * handshake needs all of the way: the relay asking the device's tunnel for the stream,
 * the device opening it, and its peer server showing its own certificate. For a device
 * gone silent the relay answers itself: it asks the tunnel for a pong when the device was
 * not heard lately and fails the stream when none comes (lib/relay/hub.ts, 3 s), and the
 * door closes the connection; a relay gone silent too is given up by the door
 * (RELAY_CONNECT_TIMEOUT_MS).
 */
import { pinnedTls } from "../../protocol/tls-cert.ts";

/** A stream that has not finished its handshake in this long counts as unanswered. */
export const STREAM_PROBE_TIMEOUT_MS = 5_000;

/** Whether a TLS handshake with the device (certificate `certPem`) completes through `door`. */
export function streamProbe(
  door: string,
  certPem: string,
  timeoutMs = STREAM_PROBE_TIMEOUT_MS,
): Promise<boolean> {
  const url = URL.parse(door);
  if (!url) return Promise.resolve(false);
  return new Promise((resolve) => {
    let settled = false;
    let socket: { end(): void } | undefined;
    // As connectProbe's: the clock starts once the event loop has turned and the connect
    // gone out, so that a busy process does not find it already past.
    let timer: ReturnType<typeof setTimeout> | undefined;
    setImmediate(() => {
      if (!settled) timer = setTimeout(() => settle(false), timeoutMs);
    });
    const settle = (answered: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      resolve(answered);
    };
    Bun.connect({
      hostname: url.hostname,
      port: Number(url.port),
      tls: pinnedTls(certPem),
      socket: {
        open(opened) {
          socket = opened;
          if (settled) opened.end();
        },
        handshake: (_socket, success) => settle(success),
        data() {},
        close: () => settle(false),
        error: () => settle(false),
        connectError: () => settle(false),
      },
    }).catch(() => settle(false));
  });
}
