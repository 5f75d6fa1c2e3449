/**
 * How the client authenticates its calls: with a tag under the pair key to a peer whose
 * info says it takes request-auth v2, and signed to any other (a device of an older
 * version), so a zone of mixed versions keeps talking.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { PairKeys } from "../../protocol/pair-key.ts";
import { checkRequest, REQUEST_KEY_PURPOSE, UNSIGNED_BODY } from "../../protocol/request-auth.ts";
import { certificatePem, deviceCertificate, privateKeyPem } from "../../protocol/tls-cert.ts";
import { RequestKeys } from "../identity/request-keys.ts";
import { PeerClient } from "./peer-client.ts";
import { MemoryContacts, type Peer } from "./peers.ts";

const clientSeed = new Uint8Array(32).fill(1);
const serverSeed = new Uint8Array(32).fill(2);
const clientKey = signingKeyFromSeed(clientSeed);
const serverKey = signingKeyFromSeed(serverSeed);
const clientId = deviceIdFromPublicKey(clientKey.publicKey);
const serverId = deviceIdFromPublicKey(serverKey.publicKey);
const serverPairs = new PairKeys(serverSeed, serverId);

/** What the server made of each request: how it was authenticated, and whether it checked. */
const seen: { scheme: string; ok: boolean }[] = [];
const certPem = certificatePem(deviceCertificate(serverKey));
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  tls: { cert: certPem, key: privateKeyPem(serverSeed) },
  async fetch(request) {
    const url = new URL(request.url);
    // As the peer API does: app traffic through the ingress streams, its body unsigned.
    const body = url.pathname.startsWith("/v1/ingress/")
      ? UNSIGNED_BODY
      : new Uint8Array(await request.arrayBuffer());
    const check = checkRequest(
      { method: request.method, path: url.pathname + url.search, audience: serverId, body },
      request.headers,
      Date.now(),
      (device) => serverPairs.key(device, serverId, REQUEST_KEY_PURPOSE),
    );
    seen.push({ scheme: request.headers.has("bucky-mac") ? "v2" : "v1", ok: check.ok });
    return new Response("ok");
  },
});
afterAll(() => server.stop(true));

const peer: Peer = {
  id: serverId,
  name: "server",
  addresses: [`https://127.0.0.1:${server.port}`],
  certPem,
};
const withKeys = new PeerClient(
  clientKey,
  new MemoryContacts(),
  Date.now,
  undefined,
  new RequestKeys(new PairKeys(clientSeed, clientId)),
);

async function schemeOf(client: PeerClient, to: Peer): Promise<{ scheme: string; ok: boolean }> {
  seen.length = 0;
  await client.post(to, "/v1/sync/push?x=1", new Uint8Array([1, 2, 3]));
  return seen[0] as { scheme: string; ok: boolean };
}

describe("PeerClient's request authentication", () => {
  test("tags its requests to a peer that takes v2", async () => {
    expect(await schemeOf(withKeys, { ...peer, requestAuth: 2 })).toEqual({
      scheme: "v2",
      ok: true,
    });
  });

  test("signs them to a peer that did not say so (an older version)", async () => {
    expect(await schemeOf(withKeys, peer)).toEqual({ scheme: "v1", ok: true });
  });

  test("signs them when it holds no pair keys (a one-off command)", async () => {
    const plain = new PeerClient(clientKey, new MemoryContacts(), Date.now);
    expect(await schemeOf(plain, { ...peer, requestAuth: 2 })).toEqual({ scheme: "v1", ok: true });
  });

  test("tags what it forwards, its body unsigned as before", async () => {
    seen.length = 0;
    const response = await withKeys.forward({ ...peer, requestAuth: 2 }, "/v1/ingress/app/x", {
      method: "GET",
      headers: new Headers(),
      body: null,
      signal: AbortSignal.timeout(5_000),
    });
    expect(await response.text()).toBe("ok");
    expect(seen).toEqual([{ scheme: "v2", ok: true }]);
  });
});
