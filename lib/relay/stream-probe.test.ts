import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { certificatePem, deviceCertificate, privateKeyPem } from "../../protocol/tls-cert.ts";
import { streamProbe } from "./stream-probe.ts";

function deviceTls() {
  const seed = new Uint8Array(randomBytes(32));
  return {
    cert: certificatePem(deviceCertificate(signingKeyFromSeed(seed))),
    key: privateKeyPem(seed),
  };
}

test("a device that finishes its handshake through the door answers; another device's certificate does not", async () => {
  const device = deviceTls();
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: device.cert, key: device.key },
    socket: { data() {} },
  });
  try {
    const door = `https://127.0.0.1:${server.port}`;
    expect(await streamProbe(door, device.cert)).toBe(true);
    expect(await streamProbe(door, deviceTls().cert)).toBe(false);
  } finally {
    server.stop(true);
  }
});

test("a door that closes the stream (the relay failed it), or says nothing, does not answer", async () => {
  const closing = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { open: (socket) => void socket.end(), data() {} },
  });
  const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const { cert } = deviceTls();
    const startMs = performance.now();
    expect(await streamProbe(`https://127.0.0.1:${closing.port}`, cert)).toBe(false);
    expect(performance.now() - startMs).toBeLessThan(1_000);
    expect(await streamProbe(`https://127.0.0.1:${silent.port}`, cert, 100)).toBe(false);
    expect(await streamProbe("not a door", cert)).toBe(false);
  } finally {
    closing.stop(true);
    silent.stop(true);
  }
});
