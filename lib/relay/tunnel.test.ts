/**
 * A relay asks a device's tunnel for streams: a hostile one (any member adds an outside
 * relay) asking without end is taken up to the tunnel's most at once, no more, and the
 * device takes streams again as those close.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import type { ServerWebSocket } from "bun";
import { signDeviceDocument } from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { certificatePem, deviceCertificate, privateKeyPem } from "../../protocol/tls-cert.ts";
import { createLog } from "../log.ts";
import { Tunnels } from "./tunnel.ts";

const stops: (() => void)[] = [];
afterAll(() => {
  for (const stop of stops) stop();
});

/** A device's key, certificate and document, signed by `owner`. */
function device(name: string, owner = signingKeyFromSeed(randomBytes(32))) {
  const seed = new Uint8Array(randomBytes(32));
  const key = signingKeyFromSeed(seed);
  const document = signDeviceDocument(
    { name: name as DeviceName, devicePublicKey: key.publicKey, issuedAt: 1_700_000_000 },
    owner,
  ).jws;
  const cert = certificatePem(deviceCertificate(key));
  return { seed, key, id: deviceIdFromPublicKey(key.publicKey), cert, document };
}

/** Resolves when `check` holds, looked at whenever the relay hears something. */
function whenever(heard: Set<() => void>, check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const look = () => {
      if (!check()) return;
      heard.delete(look);
      resolve();
    };
    heard.add(look);
    look();
  });
}

describe("a relay's streams", () => {
  test("are taken up to the tunnel's most at once; past it, not, until one closes", async () => {
    const victim = device("victim");
    const evil = device("evil");
    const peer = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { data() {} },
    });
    stops.push(() => peer.stop(true));
    /** The streams taken up, in the order their sockets reached the relay. */
    const accepted: { stream: string; ws: ServerWebSocket<{ stream: string }> }[] = [];
    let hellos = 0;
    let control: ServerWebSocket<{ stream: string }> | undefined;
    const heard = new Set<() => void>();
    const tell = () => {
      for (const look of [...heard]) look();
    };
    const relay = Bun.serve<{ stream: string }>({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: evil.cert, key: privateKeyPem(evil.seed) },
      fetch(request, server) {
        const path = new URL(request.url).pathname;
        const stream = path.startsWith("/v1/relay/accept/")
          ? decodeURIComponent(path.slice("/v1/relay/accept/".length))
          : "";
        return server.upgrade(request, { data: { stream } })
          ? undefined
          : new Response("no", { status: 400 });
      },
      websocket: {
        open(ws) {
          if (ws.data.stream) accepted.push({ stream: ws.data.stream, ws });
          else {
            control = ws;
            ws.send(JSON.stringify({ type: "challenge", nonce: "n" }));
          }
          tell();
        },
        message(ws, message) {
          if (ws.data.stream || JSON.parse(String(message)).type !== "hello") return;
          hellos += 1;
          if (hellos === 1) ws.send(JSON.stringify({ type: "ready" }));
          tell();
        },
      },
    });
    stops.push(() => relay.stop(true));
    const lines: string[] = [];
    const log = createLog({ level: "warn", write: (line: string) => lines.push(line) });
    const tunnels = new Tunnels({
      key: victim.key,
      log,
      document: () => victim.document,
      relayAddress: async () => `https://127.0.0.1:${relay.port}`,
      localPeer: { host: "127.0.0.1", port: peer.port },
      maxStreams: 3,
    });
    stops.push(() => tunnels.stop());
    const address = `https://127.0.0.1:${relay.port}`;
    tunnels.follow([{ id: evil.id, name: "evil", addresses: [address], certPem: evil.cert }]);
    await whenever(heard, () => hellos === 1);
    const open = (stream: string) =>
      control?.send(JSON.stringify({ type: "open", stream: stream }));
    for (const stream of ["s1", "s2", "s3"]) {
      open(stream);
      await whenever(heard, () => accepted.some((a) => a.stream === stream));
    }
    open("s4");
    // Asked again for its hello: the device has read the open before it.
    control?.send(JSON.stringify({ type: "challenge", nonce: "m" }));
    await whenever(heard, () => hellos === 2);
    accepted[0]?.ws.close();
    // One closed, a new stream is taken up again, once the device has heard of the close.
    for (let n = 1; accepted.length < 4; n++) {
      open(`again-${n}`);
      control?.send(JSON.stringify({ type: "challenge", nonce: `n${n}` }));
      const said = hellos;
      await whenever(heard, () => hellos > said);
    }
    await whenever(heard, () => accepted.length >= 4);
    expect(accepted.map((a) => a.stream).slice(0, 3)).toEqual(["s1", "s2", "s3"]);
    expect(accepted[3]?.stream).toStartWith("again-");
    expect(lines.join("\n")).toContain("relay asked for more streams than a tunnel holds");
  });
});
