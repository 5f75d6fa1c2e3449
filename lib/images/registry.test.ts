/**
 * The registry client against registries made here, in-process: the token dance as Docker
 * Hub does it, blobs redirected to another host (which never sees the token), and every
 * way a registry can fail or lie.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { parseImageRef } from "../../protocol/image-ref.ts";
import { CHUNK_BYTES } from "../../protocol/ndn.ts";
import { sha256Digest } from "../../protocol/oci.ts";
import { BuckyError } from "../errors.ts";
import { BlobStaging } from "./blob-staging.ts";
import { bearerParams, isLoopback, Registry } from "./registry.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-registry-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers: Server<unknown>[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.stop(true);
});

function serve(fetch: (request: Request, url: URL) => Response | Promise<Response>): string {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request) => fetch(request, new URL(request.url)),
  });
  servers.push(server as Server<unknown>);
  return `127.0.0.1:${server.port}`;
}

function registryFor(host: string, repository = "team/app", idleMs?: number): Registry {
  const ref = parseImageRef(`${host}/${repository}:1`);
  if (!ref.ok) throw new Error(ref.reason);
  return new Registry(ref.ref, idleMs);
}

const layer = new TextEncoder().encode("the bytes of a layer");
const layerDigest = `sha256:${createHash("sha256").update(layer).digest("hex")}`;
const manifest = new TextEncoder().encode('{"schemaVersion":2}');

async function failure(work: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await work();
  } catch (error) {
    if (error instanceof BuckyError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("it did not fail");
}

describe("the registry client", () => {
  test("gets an anonymous token as the registry asks, and sends it", async () => {
    const seen: { path: string; auth: string | null; query: string }[] = [];
    const host = serve((request, url) => {
      seen.push({
        path: url.pathname,
        auth: request.headers.get("authorization"),
        query: url.search,
      });
      if (url.pathname === "/token") return Response.json({ token: "t0k3n" });
      if (request.headers.get("authorization") !== "Bearer t0k3n")
        return new Response("{}", {
          status: 401,
          headers: {
            "www-authenticate": `Bearer realm="http://${host}/token",service="reg.example",scope="repository:team/app:pull"`,
          },
        });
      return new Response(manifest, {
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
      });
    });
    const got = await registryFor(host).manifest("1");
    expect(new TextDecoder().decode(got.bytes)).toBe('{"schemaVersion":2}');
    expect(got.contentType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(seen).toEqual([
      { path: "/v2/team/app/manifests/1", auth: null, query: "" },
      {
        path: "/token",
        auth: null,
        query: "?service=reg.example&scope=repository%3Ateam%2Fapp%3Apull",
      },
      { path: "/v2/team/app/manifests/1", auth: "Bearer t0k3n", query: "" },
    ]);
  });

  test("follows a blob to another host without the token, and checks what it gets", async () => {
    const cdn: (string | null)[] = [];
    const cdnHost = serve((request) => {
      cdn.push(request.headers.get("authorization"));
      return new Response(layer);
    });
    const host = serve((request, url) => {
      if (url.pathname === "/token") return Response.json({ access_token: "secret" });
      if (!request.headers.get("authorization"))
        return new Response("", {
          status: 401,
          headers: { "www-authenticate": `Bearer realm="http://${host}/token"` },
        });
      return Response.redirect(`http://${cdnHost}/blob?signed=1`, 307);
    });
    const got = await registryFor(host).blob(
      { mediaType: "x", digest: layerDigest, size: layer.length },
      "the config",
    );
    expect(Buffer.from(got)).toEqual(Buffer.from(layer));
    expect(cdn).toEqual([null]);
  });

  test.each<[string, Uint8Array, number, RegExp]>([
    [
      "a blob longer than its manifest says",
      new Uint8Array([...layer, 1]),
      layer.length,
      /is larger than its manifest says/,
    ],
    [
      "a blob that is not its digest",
      new Uint8Array(layer).map((b, i) => (i === 3 ? b ^ 1 : b)),
      layer.length,
      /does not match its digest/,
    ],
    [
      "a blob shorter than its manifest says",
      layer.slice(1),
      layer.length,
      /does not match its digest/,
    ],
  ])("refuses %s, whole or staged", async (_what, served, size, message) => {
    const host = serve(() => new Response(served));
    const descriptor = { mediaType: "x", digest: layerDigest, size };
    const whole = await failure(() => registryFor(host).blob(descriptor, "the config"));
    const staging = new BlobStaging(join(dir, `refused-${size}-${served.length}`));
    const staged = await failure(() =>
      registryFor(host).stageBlob(descriptor, staging, "the layer", () => {}),
    );
    for (const refused of [whole, staged]) {
      expect(refused.code).toBe("E_INTEGRITY");
      expect(refused.message).toMatch(message);
    }
  });

  test("stages a layer as it streams, saying what is written as it is", async () => {
    const big = new Uint8Array(CHUNK_BYTES + 5).map((_, i) => i % 251);
    const host = serve(() => new Response(big));
    const staging = new BlobStaging(join(dir, "staged"));
    const written: number[] = [];
    const staged = await registryFor(host).stageBlob(
      { mediaType: "x", digest: sha256Digest(big), size: big.length },
      staging,
      "the layer",
      (bytes) => written.push(bytes),
    );
    expect(staged.digest).toBe(sha256Digest(big));
    expect(staged.sizeBytes).toBe(big.length);
    expect(written).toEqual([CHUNK_BYTES, 5]);
    expect(Buffer.from(staging.read(staged))).toEqual(Buffer.from(big));
  });

  test.each<[string, (host: string) => Response, string, RegExp]>([
    [
      "an image it does not have",
      () => new Response("{}", { status: 404 }),
      "E_NOT_FOUND",
      /has no image team\/app:1/,
    ],
    [
      "a private image (the token service refuses)",
      (host) =>
        new Response("", {
          status: 401,
          headers: { "www-authenticate": `Bearer realm="http://${host}/deny"` },
        }),
      "E_PERMISSION",
      /refused access to team\/app: it is private, or it does not exist/,
    ],
    [
      "a user name and password",
      () =>
        new Response("", {
          status: 401,
          headers: { "www-authenticate": 'Basic realm="registry"' },
        }),
      "E_PERMISSION",
      /asks for a user name and password for team\/app/,
    ],
    [
      "too many pulls",
      () => new Response("", { status: 429, headers: { "retry-after": "60" } }),
      "E_UNAVAILABLE",
      /is limiting how fast images are pulled/,
    ],
    [
      "trouble of its own",
      () => Response.json({ errors: [{ message: "disk \u001b[31mfailure" }] }, { status: 503 }),
      "E_UNAVAILABLE",
      /answered HTTP 503 for the manifest of team\/app: disk \?\[31mfailure$/,
    ],
  ])("says so, clearly, for %s", async (_what, answer, code, message) => {
    const host = serve((_request, url) =>
      url.pathname === "/deny" ? new Response("", { status: 401 }) : answer(host),
    );
    const refused = await failure(() => registryFor(host).manifest("1"));
    expect(refused.code).toBe(code);
    expect(refused.message).toMatch(message);
  });

  test("a registry nobody answers at is unavailable", async () => {
    const refused = await failure(() => registryFor("127.0.0.1:9").manifest("1"));
    expect(refused).toEqual({
      code: "E_UNAVAILABLE",
      message:
        "the registry 127.0.0.1:9 cannot be reached (127.0.0.1:9: nothing is listening there)",
    });
  });

  test("a blob that stops coming is given up on", async () => {
    const host = serve(
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(layer.slice(0, 4));
            },
          }),
        ),
    );
    const refused = await failure(() =>
      registryFor(host, "team/app", 300).stageBlob(
        { mediaType: "x", digest: layerDigest, size: layer.length },
        new BlobStaging(join(dir, "stalled")),
        "the layer",
        () => {},
      ),
    );
    expect(refused).toEqual({
      code: "E_UNAVAILABLE",
      message: `the layer from ${host} stopped coming for 0.3 s`,
    });
  });

  test("a manifest larger than any is refused", async () => {
    const host = serve(() => new Response(new Uint8Array(5 * 1024 * 1024)));
    const refused = await failure(() => registryFor(host).manifest("1"));
    expect(refused.code).toBe("E_INTEGRITY");
  });
});

describe("registry addresses", () => {
  test.each([
    ["127.0.0.1:5000", true],
    ["127.1.2.3", true],
    ["localhost:5000", true],
    ["[::1]:5000", true],
    ["registry.example", false],
    ["127.0.0.1.example", false],
    ["10.0.0.1:5000", false],
  ])("%s is on loopback: %p", (host, loopback) => {
    expect(isLoopback(host)).toBe(loopback);
  });

  test("reads a bearer challenge", () => {
    expect(
      bearerParams(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      ),
    ).toEqual({
      realm: "https://auth.docker.io/token",
      service: "registry.docker.io",
      scope: "repository:library/nginx:pull",
    });
  });
});
