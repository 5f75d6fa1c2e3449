/**
 * Pulling an image into a store, from a registry made here: the manifests of an index for
 * the zone's platforms only, every part stored as named data and named by the record, a
 * layer already held not fetched again, and a clear refusal for an image of the wrong
 * platform, a manifest that is not the digest asked for, a disk too full for it, and a
 * record or a stored chunk altered afterwards.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { parseImageRef } from "../../protocol/image-ref.ts";
import type { ChunkId } from "../../protocol/ndn.ts";
import { MEDIA_TYPES, type Platform } from "../../protocol/oci.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { ObjectStore } from "../ndn/store.ts";
import { ImageStore } from "./image-store.ts";
import { pullImage } from "./pull.ts";

const root = mkdtempSync(join(tmpdir(), "bucky-pull-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const log = createLog({ level: "silent" });
const amd64: Platform = { os: "linux", architecture: "amd64" };
const arm64: Platform = { os: "linux", architecture: "arm64", variant: "v8" };

const bytes = (text: string) => new TextEncoder().encode(text);
const digestOf = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** A registry holding one index of two platforms, each with a config and a layer. */
function imageBlobs() {
  const blobs = new Map<string, Uint8Array>();
  const put = (b: Uint8Array) => {
    blobs.set(digestOf(b), b);
    return { digest: digestOf(b), size: b.length };
  };
  const manifests = [amd64, arm64].map((platform) => {
    const config = put(
      bytes(
        JSON.stringify({
          os: platform.os,
          architecture: platform.architecture,
          config: { ExposedPorts: { "8080/tcp": {} } },
        }),
      ),
    );
    const layer = put(bytes(`layer for ${platform.architecture}`));
    const manifest = bytes(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: MEDIA_TYPES.ociConfig, ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer }],
      }),
    );
    return { platform, manifest, descriptor: put(manifest), layer };
  });
  const index = bytes(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: manifests.map((m) => ({
        mediaType: MEDIA_TYPES.ociManifest,
        ...m.descriptor,
        platform: m.platform,
      })),
    }),
  );
  put(index);
  return { blobs, index, manifests };
}

const servers: Server<unknown>[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.stop(true);
});

function registry(
  blobs: Map<string, Uint8Array>,
  tags: Record<string, Uint8Array>,
  asked: string[] = [],
): string {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const path = new URL(request.url).pathname;
      asked.push(path);
      const match = /^\/v2\/app\/(manifests|blobs)\/(.+)$/.exec(path);
      const found = match ? (tags[match[2] as string] ?? blobs.get(match[2] as string)) : undefined;
      return found ? new Response(found) : new Response("{}", { status: 404 });
    },
  });
  servers.push(server as Server<unknown>);
  return `127.0.0.1:${server.port}`;
}

function store(dir = mkdtempSync(join(root, "home-"))): ImageStore {
  return new ImageStore(new ObjectStore(join(dir, "ndn")), join(dir, "images"));
}

function ref(text: string) {
  const parsed = parseImageRef(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.ref;
}

async function failure(work: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await work();
  } catch (error) {
    if (error instanceof BuckyError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("it did not fail");
}

describe("pulling an image", () => {
  test("takes the manifest of each of the zone's platforms from an index, and stores every part", async () => {
    const { blobs, index, manifests } = imageBlobs();
    const asked: string[] = [];
    const host = registry(blobs, { "1": index }, asked);
    const images = store();
    const pulled = await pullImage(ref(`${host}/app:1`), { platforms: [amd64], images, log });
    const amd = manifests[0] as (typeof manifests)[number];
    expect(pulled.pinned).toBe(`${host}/app:1@${digestOf(index)}`);
    expect(pulled.exposedPorts).toEqual([8080]);
    expect(pulled.record).toEqual({
      ref: `${host}/app:1`,
      digest: digestOf(index),
      index: {
        digest: digestOf(index),
        size: index.length,
        object: digestOf(index),
        mediaType: MEDIA_TYPES.ociIndex,
      },
      images: [
        {
          platform: "linux/amd64",
          manifest: {
            ...amd.descriptor,
            object: amd.descriptor.digest,
            mediaType: MEDIA_TYPES.ociManifest,
          },
          config: expect.objectContaining({ object: expect.stringMatching(/^sha256:/) }),
          layers: [{ ...amd.layer, object: amd.layer.digest }],
        },
      ],
    });
    // The arm64 parts were never asked for.
    expect(asked).not.toContain(
      `/v2/app/blobs/${(manifests[1] as (typeof manifests)[number]).layer.digest}`,
    );
    // Everything is named data now: the layout the engine gets is made from it alone.
    for (const server of servers.splice(0)) server.stop(true);
    const layout = join(root, "layout");
    images.writeLayout(pulled.record.images[0] as never, "app", layout);
    expect(readdirSync(join(layout, "blobs", "sha256")).sort()).toEqual(
      [amd.descriptor.digest, amd.layer.digest, pulled.record.images[0]?.config.digest as string]
        .map((d) => d.slice(7))
        .sort(),
    );
    expect(JSON.parse(readFileSync(join(layout, "index.json"), "utf8")).manifests).toEqual([
      { mediaType: MEDIA_TYPES.ociManifest, ...amd.descriptor },
    ]);
  });

  test("fetches no layer it already holds", async () => {
    const { blobs, index, manifests } = imageBlobs();
    const images = store();
    await pullImage(ref(`${registry(blobs, { "1": index })}/app:1`), {
      platforms: [amd64],
      images,
      log,
    });
    const asked: string[] = [];
    await pullImage(ref(`${registry(blobs, { "1": index }, asked)}/app:1`), {
      platforms: [amd64],
      images,
      log,
    });
    expect(asked).not.toContain(
      `/v2/app/blobs/${(manifests[0] as (typeof manifests)[number]).layer.digest}`,
    );
  });

  test("refuses an image built for none of the zone's platforms, naming both", async () => {
    const { blobs, index } = imageBlobs();
    const host = registry(blobs, { "1": index });
    const refused = await failure(() =>
      pullImage(ref(`${host}/app:1`), {
        platforms: [{ os: "linux", architecture: "s390x" }],
        images: store(),
        log,
      }),
    );
    expect(refused).toEqual({
      code: "E_INVALID_INPUT",
      message: `${host}/app:1 is built for linux/amd64, linux/arm64/v8, and the zone's devices that run images are linux/s390x`,
    });
  });

  test("refuses a manifest that is not the digest asked for", async () => {
    const { blobs, index } = imageBlobs();
    const other = `sha256:${"0".repeat(64)}`;
    const host = registry(blobs, { [other]: index });
    const refused = await failure(() =>
      pullImage(ref(`${host}/app@${other}`), { platforms: [amd64], images: store(), log }),
    );
    expect(refused.code).toBe("E_INTEGRITY");
    expect(refused.message).toContain(`hashes to ${digestOf(index)}, not to the digest asked for`);
  });

  test("refuses to start on a disk too small for its layers", async () => {
    const mount = join(root, "small");
    mkdirSync(mount);
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount]);
    if (mounted.status !== 0)
      throw new Error(`this test needs root to mount a tmpfs: ${mounted.stderr}`);
    try {
      const layer = new Uint8Array(2 * 1024 * 1024);
      const { blobs } = imageBlobs();
      const config = bytes(JSON.stringify({ os: "linux", architecture: "amd64" }));
      blobs.set(digestOf(config), config);
      const manifest = bytes(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MEDIA_TYPES.ociManifest,
          config: {
            mediaType: MEDIA_TYPES.ociConfig,
            digest: digestOf(config),
            size: config.length,
          },
          layers: [
            {
              mediaType: "application/vnd.oci.image.layer.v1.tar",
              digest: digestOf(layer),
              size: layer.length,
            },
          ],
        }),
      );
      const asked: string[] = [];
      const host = registry(blobs, { "1": manifest }, asked);
      const refused = await failure(() =>
        pullImage(ref(`${host}/app:1`), { platforms: [amd64], images: store(mount), log }),
      );
      expect(refused.code).toBe("E_IO");
      expect(refused.message).toMatch(
        /^the disk is too full for .*app:1: it needs 2\.0 MiB and .* is free$/,
      );
      expect(asked).not.toContain(`/v2/app/blobs/${digestOf(layer)}`);
    } finally {
      spawnSync("umount", ["-l", mount]);
    }
  });
});

/** A manifest of one amd64 image of `layers`, its config and layers put in `blobs`. */
function manifestOf(blobs: Map<string, Uint8Array>, layers: readonly Uint8Array[]): Uint8Array {
  const config = bytes(JSON.stringify({ os: "linux", architecture: "amd64" }));
  blobs.set(digestOf(config), config);
  for (const layer of layers) blobs.set(digestOf(layer), layer);
  return bytes(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: digestOf(config), size: config.length },
      layers: layers.map((layer) => ({
        mediaType: "application/vnd.oci.image.layer.v1.tar",
        digest: digestOf(layer),
        size: layer.length,
      })),
    }),
  );
}

/** What a pull into the home `dir` left on its way in: nothing, once it is done. */
function incoming(dir: string): string[] {
  const path = join(dir, "images", "incoming");
  return existsSync(path) ? readdirSync(path) : [];
}

describe("a pull writes each layer once", () => {
  const MiB = 1024 ** 2;

  test("a layer that fits on the disk once but not twice is stored", async () => {
    // 136 MiB: 64 kept free, room for 72, and a layer of 70 (random: no chunk twice).
    const mount = join(root, "once");
    mkdirSync(mount);
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=136m", "tmpfs", mount]);
    if (mounted.status !== 0)
      throw new Error(`this test needs root to mount a tmpfs: ${mounted.stderr}`);
    try {
      const layer = new Uint8Array(randomBytes(70 * MiB));
      const blobs = new Map<string, Uint8Array>();
      const host = registry(blobs, { "1": manifestOf(blobs, [layer]) });
      const images = store(mount);
      const pulled = await pullImage(ref(`${host}/app:1`), { platforms: [amd64], images, log });
      expect(pulled.record.images[0]?.layers.map((l) => l.digest)).toEqual([digestOf(layer)]);
      expect(images.objectOf(digestOf(layer), layer.length)).toBeDefined();
      expect(images.room.reservedBytes()).toBe(0);
      expect(incoming(mount)).toEqual([]);
    } finally {
      spawnSync("umount", ["-l", mount]);
    }
  });

  test("the room it holds shrinks as the layer is written", async () => {
    const layer = new Uint8Array(randomBytes(9 * MiB));
    const blobs = new Map<string, Uint8Array>();
    const manifest = manifestOf(blobs, [layer]);
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      // The layer's rest waits on the test, however slow the machine.
      idleTimeout: 0,
      fetch(request) {
        const path = new URL(request.url).pathname;
        if (path === "/v2/app/manifests/1") return new Response(manifest);
        if (path === `/v2/app/blobs/${digestOf(layer)}`)
          // Two chunks' worth, then the rest once the test has seen the room held shrink.
          return new Response(
            new ReadableStream({
              async start(controller) {
                controller.enqueue(layer.subarray(0, 8 * MiB));
                await finished;
                controller.enqueue(layer.subarray(8 * MiB));
                controller.close();
              },
            }),
          );
        const found = blobs.get(path.replace("/v2/app/blobs/", ""));
        return found ? new Response(found) : new Response("{}", { status: 404 });
      },
    });
    servers.push(server as Server<unknown>);
    const images = store();
    const pull = pullImage(ref(`127.0.0.1:${server.port}/app:1`), {
      platforms: [amd64],
      images,
      log,
    });
    let ended: unknown;
    pull.then(
      () => {
        ended = "stored";
      },
      (error) => {
        ended = error;
      },
    );
    // Held whole before a byte is written, then less by what is written: with two chunks
    // written and the rest held back, only the rest.
    const deadline = Date.now() + 20_000;
    let held = 0;
    while (images.room.reservedBytes() !== 1 * MiB) {
      held = Math.max(held, images.room.reservedBytes());
      if (ended !== undefined || Date.now() > deadline)
        throw new Error(
          `the pull held ${held} bytes, never the 1 MiB it had yet to write (it ${ended === undefined ? "goes on" : `ended: ${ended}`})`,
        );
      await Bun.sleep(5);
    }
    finish();
    await pull;
    expect(images.room.reservedBytes()).toBe(0);
  });

  test("a layer altered in the registry leaves nothing of it stored; a layer checked before it stays, for the next try", async () => {
    const good = new Uint8Array(randomBytes(5 * MiB));
    const altered = new Uint8Array(randomBytes(5 * MiB));
    const blobs = new Map<string, Uint8Array>();
    const manifest = manifestOf(blobs, [good, altered]);
    // The same length, another byte in its second chunk: only its digest tells.
    const served = new Uint8Array(altered);
    served[4.5 * MiB] = (served[4.5 * MiB] as number) ^ 1;
    blobs.set(digestOf(altered), served);
    const dir = mkdtempSync(join(root, "home-"));
    const images = store(dir);
    const refused = await failure(() =>
      pullImage(ref(`${registry(blobs, { "1": manifest })}/app:1`), {
        platforms: [amd64],
        images,
        log,
      }),
    );
    expect(refused.code).toBe("E_INTEGRITY");
    expect(refused.message).toMatch(
      new RegExp(
        `^the layer ${digestOf(altered)} from 127\\.0\\.0\\.1:\\d+ does not match its digest \\(got ${altered.length} bytes hashing to ${digestOf(served)}\\): it was altered in the registry or on the way$`,
      ),
    );
    const firstChunk = (b: Uint8Array) => digestOf(b.subarray(0, 4 * MiB));
    const chunks: string[] = [...images.objects.objects()];
    expect(images.objectOf(digestOf(good), good.length)).toBeDefined();
    expect(chunks).toContain(firstChunk(good));
    expect(chunks).not.toContain(firstChunk(altered));
    expect(images.objectOf(digestOf(altered), altered.length)).toBeUndefined();
    expect(incoming(dir)).toEqual([]);
    expect(images.room.reservedBytes()).toBe(0);
  });
});

describe("two pulls at once on a small disk (a tmpfs with 8 MiB of room past what stays free)", () => {
  test("do not both count the same room: the second is refused before it fetches a layer, the first stored", async () => {
    const mount = join(root, "small-two");
    mkdirSync(mount);
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=72m", "tmpfs", mount]);
    if (mounted.status !== 0)
      throw new Error(`this test needs root to mount a tmpfs: ${mounted.stderr}`);
    try {
      const MiB = 1024 ** 2;
      const blobs = new Map<string, Uint8Array>();
      const put = (b: Uint8Array) => {
        blobs.set(digestOf(b), b);
        return { digest: digestOf(b), size: b.length };
      };
      const config = put(bytes(JSON.stringify({ os: "linux", architecture: "amd64" })));
      // Two images, each a layer of 5 MiB: one fits in the room, not both.
      const layers = ["1", "2"].map((fill) => put(bytes(fill.repeat(5 * MiB))));
      const tags = Object.fromEntries(
        layers.map((layer, i) => [
          String(i + 1),
          bytes(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: MEDIA_TYPES.ociManifest,
              config: { mediaType: MEDIA_TYPES.ociConfig, ...config },
              layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
            }),
          ),
        ]),
      );
      // The registry holds back every layer until both pulls have measured the disk.
      let release: () => void = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      // Told when a pull asks for its layer or is refused: both have measured the disk at two.
      let steps = 0;
      let bothMeasured: () => void = () => {};
      const measured = new Promise<void>((resolve) => {
        bothMeasured = resolve;
      });
      const step = () => {
        if (++steps === 2) bothMeasured();
      };
      const layerPaths = new Set(layers.map((layer) => `/v2/app/blobs/${layer.digest}`));
      const asked: string[] = [];
      const server = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        async fetch(request) {
          const path = new URL(request.url).pathname;
          asked.push(path);
          if (layerPaths.has(path)) {
            step();
            await released;
          }
          const match = /^\/v2\/app\/(manifests|blobs)\/(.+)$/.exec(path);
          const found = match
            ? (tags[match[2] as string] ?? blobs.get(match[2] as string))
            : undefined;
          return found ? new Response(found) : new Response("{}", { status: 404 });
        },
      });
      servers.push(server as Server<unknown>);
      const host = `127.0.0.1:${server.port}`;
      const images = store(mount);
      const pulls = ["1", "2"].map((tag) =>
        pullImage(ref(`${host}/app:${tag}`), { platforms: [amd64], images, log }),
      );
      for (const pull of pulls) pull.catch(step);
      await measured;
      release();
      const settled = await Promise.allSettled(pulls);
      expect(settled.map((outcome) => outcome.status).sort()).toEqual(["fulfilled", "rejected"]);
      const refusedIndex = settled.findIndex((outcome) => outcome.status === "rejected");
      const error = (settled[refusedIndex] as PromiseRejectedResult).reason as BuckyError;
      expect(`${error.code}: ${error.message}`).toMatch(
        new RegExp(
          `^E_IO: the disk is too full for ${host}/app:${refusedIndex + 1}: it needs 5\\.0 MiB and [0-9.]+ MiB is free \\(other installs under way hold 5\\.0 MiB of it\\)$`,
        ),
      );
      expect(asked).not.toContain(`/v2/app/blobs/${layers[refusedIndex]?.digest}`);
      // The room is given back when a pull ends: what it stored the disk counts now.
      expect(images.room.reservedBytes()).toBe(0);
    } finally {
      spawnSync("umount", ["-l", mount]);
    }
  });
});

describe("an image as it is handed to the engine", () => {
  test("a record that does not match its manifest is refused", async () => {
    const { blobs, index, manifests } = imageBlobs();
    const images = store();
    const { record } = await pullImage(ref(`${registry(blobs, { "1": index })}/app:1`), {
      platforms: [amd64],
      images,
      log,
    });
    const image = record.images[0] as (typeof record.images)[number];
    // The arm64 layer is in the store too, but not this manifest's.
    const other = (manifests[1] as (typeof manifests)[number]).layer;
    images.putBlob(other.digest, blobs.get(other.digest) as Uint8Array);
    const altered = { ...image, layers: [{ ...other, object: other.digest }] };
    expect(() => images.writeLayout(altered, "app", join(root, "altered"))).toThrow(
      `the image record of app does not match its manifest ${image.manifest.digest}`,
    );
  });

  test("a chunk altered in the store is found", async () => {
    const { blobs, index } = imageBlobs();
    const images = store();
    const { record } = await pullImage(ref(`${registry(blobs, { "1": index })}/app:1`), {
      platforms: [amd64],
      images,
      log,
    });
    const image = record.images[0] as (typeof record.images)[number];
    const layer = image.layers[0] as { digest: string };
    writeFileSync(images.objects.chunkPath(layer.digest as ChunkId), "altered");
    expect(() => images.writeLayout(image, "app", join(root, "damaged"))).toThrow(
      `the stored chunk ${layer.digest} was damaged: set aside`,
    );
    // Set aside, it is held no more: had again from another device, as one never held.
    expect(images.holds(image)).toBe(false);
  });
});
