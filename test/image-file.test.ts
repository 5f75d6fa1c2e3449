/**
 * An image from a file, killed half-way: what the daemon had stored of it, as it streamed
 * out of the archive, is gone once the daemon starts again, and nothing of it reached
 * named data. (The archive's checks and room are tested in lib/images/archive.test.ts; real
 * `podman save` archives are installed in test/images.test.ts.)
 */
import { afterAll, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tarHeader } from "../lib/archive/test-archives.ts";
import { bucky, cleanUp, scratchDir, startDaemon, startZone, waitFor } from "./harness.ts";

afterAll(cleanUp);

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
  const staged = () =>
    existsSync(incoming)
      ? readdirSync(incoming).flatMap((name) => chunksUnder(join(incoming, name, "chunks")))
      : [];
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
