/**
 * An image install killed half-way, from a file or from a registry: what the daemon had
 * stored of it, as it streamed in, is gone once the daemon starts again, and nothing of it
 * reached named data. (The archive's checks and room are tested in
 * lib/images/archive.test.ts, a pull's in lib/images/pull.test.ts; real `podman save`
 * archives and a real registry are used in test/images.test.ts.)
 */
import { afterAll, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { tarHeader } from "../lib/archive/test-archives.ts";
import { bucky, cleanUp, scratchDir, startDaemon, startZone, waitFor } from "./harness.ts";

const servers: Server<unknown>[] = [];
afterAll(async () => {
  for (const server of servers) server.stop(true);
  await cleanUp();
});

const MiB = 1024 ** 2;
const CHUNK_BYTES = 4 * MiB;

/**
 * A plain .tar as `podman save` lays one out: a layer of random bytes, then a long one
 * (of zeros, sparse: it takes no room in the test's file), then the config and
 * manifest.json last. The daemon is still reading the zeros when the first layer is stored.
 */
function slowArchive(path: string, layer: Uint8Array, zerosBytes: number): void {
  const fd = openSync(path, "w");
  let at = 0;
  const put = (bytes: Uint8Array) => {
    writeSync(fd, bytes, 0, bytes.length, at);
    at += bytes.length;
  };
  const entry = (name: string, bytes: Uint8Array) => {
    put(tarHeader(name, bytes.length));
    put(bytes);
    put(new Uint8Array((512 - (bytes.length % 512)) % 512));
  };
  try {
    entry("layer.tar", layer);
    put(tarHeader("zeros.tar", zerosBytes));
    at += zerosBytes;
    const config = JSON.stringify({
      os: "linux",
      architecture: "amd64",
      rootfs: { type: "layers", diff_ids: [digestOf(layer), digestOf(new Uint8Array(0))] },
    });
    entry("config.json", new TextEncoder().encode(config));
    const manifest = [{ Config: "config.json", Layers: ["layer.tar", "zeros.tar"] }];
    entry("manifest.json", new TextEncoder().encode(JSON.stringify(manifest)));
    put(new Uint8Array(1024));
  } finally {
    closeSync(fd);
  }
}

/** The chunks installs under way have staged in `home` (each in its own place in `incoming`). */
function stagedIn(home: string): string[] {
  const incoming = join(home, "images", "incoming");
  return existsSync(incoming)
    ? readdirSync(incoming).flatMap((name) => chunksUnder(join(incoming, name, "chunks")))
    : [];
}

function digestOf(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The chunk files under `dir` (a store's `chunks/`), by their names. */
function chunksUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((prefix) => readdirSync(join(dir, prefix)));
}

test("an install from a file killed half-way leaves nothing once the daemon starts again", async () => {
  const daemon = (await startZone(["solo"])).get("solo");
  if (!daemon) throw new Error("no daemon");
  const { home } = daemon;
  const layer = randomBytes(4 * CHUNK_BYTES);
  const layerChunks = [0, 1, 2, 3].map((i) =>
    digestOf(layer.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)),
  );
  const archive = join(scratchDir(), "slow.tar");
  slowArchive(archive, layer, 3 * 1024 ** 3);
  const incoming = join(home, "images", "incoming");
  const staged = () => stagedIn(home);
  const install = bucky(["app", "install", "--image", archive, "--home", home, "--json"]);
  // The first layer is stored (as it was read), the rest of the archive not read yet.
  await waitFor(
    "the first layer staged",
    () => layerChunks.every((chunk) => staged().includes(chunk)) || undefined,
    30_000,
  );
  await daemon.kill();
  expect((await install).exitCode).not.toBe(0);
  expect(layerChunks.every((chunk) => staged().includes(chunk))).toBe(true);

  await startDaemon(home);
  await waitFor("what the install staged gone", () => staged().length === 0 || undefined);
  expect(existsSync(incoming) ? readdirSync(incoming) : []).toEqual([]);
  const stored = chunksUnder(join(home, "ndn", "chunks"));
  expect(layerChunks.filter((chunk) => stored.includes(chunk))).toEqual([]);
  expect((await bucky(["app", "list", "--home", home, "--json"])).stdout.includes("slow")).toBe(
    false,
  );
}, 120_000);

test("a pull killed half-way leaves nothing once the daemon starts again", async () => {
  const daemon = (await startZone(["solo"])).get("solo");
  if (!daemon) throw new Error("no daemon");
  const { home } = daemon;
  const layer = randomBytes(3 * CHUNK_BYTES);
  const layerChunks = [0, 1].map((i) =>
    digestOf(layer.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)),
  );
  const config = new TextEncoder().encode(JSON.stringify({ os: "linux", architecture: "amd64" }));
  const descriptor = (mediaType: string, bytes: Uint8Array) => ({
    mediaType,
    digest: `sha256:${digestOf(bytes)}`,
    size: bytes.length,
  });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: descriptor("application/vnd.oci.image.config.v1+json", config),
    layers: [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
  });
  // A registry that sends two of the layer's three chunks, then nothing more.
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch(request) {
      const path = new URL(request.url).pathname;
      if (path === "/v2/slow/manifests/1")
        return new Response(manifest, {
          headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
        });
      if (path === `/v2/slow/blobs/sha256:${digestOf(config)}`) return new Response(config);
      if (path === `/v2/slow/blobs/sha256:${digestOf(layer)}`)
        return new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(layer.subarray(0, 2 * CHUNK_BYTES));
            },
          }),
        );
      return new Response("{}", { status: 404 });
    },
  });
  servers.push(server as Server<unknown>);
  const install = bucky([
    "app",
    "install",
    "--image",
    `127.0.0.1:${server.port}/slow:1`,
    "--port",
    "8080",
    "--home",
    home,
    "--json",
  ]);
  // Two chunks of the layer are staged (as they came), the third never comes.
  await waitFor(
    "the layer's first chunks staged",
    () => layerChunks.every((chunk) => stagedIn(home).includes(chunk)) || undefined,
    30_000,
  );
  await daemon.kill();
  expect((await install).exitCode).not.toBe(0);
  expect(layerChunks.every((chunk) => stagedIn(home).includes(chunk))).toBe(true);

  await startDaemon(home);
  await waitFor("what the pull staged gone", () => stagedIn(home).length === 0 || undefined);
  const incoming = join(home, "images", "incoming");
  expect(existsSync(incoming) ? readdirSync(incoming) : []).toEqual([]);
  const stored = chunksUnder(join(home, "ndn", "chunks"));
  expect(layerChunks.filter((chunk) => stored.includes(chunk))).toEqual([]);
  expect((await bucky(["app", "list", "--home", home, "--json"])).stdout.includes("slow")).toBe(
    false,
  );
}, 120_000);
