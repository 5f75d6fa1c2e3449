/**
 * An image from a file: what `docker save` or `podman save` writes (a Docker archive:
 * `manifest.json`, a config and a tar per layer), or an OCI archive (an OCI layout:
 * `oci-layout`, `index.json`, `blobs/sha256/…`), as a .tar or a .tar.gz. The file is
 * unpacked by the one bounded tar reader (lib/archive/tar-archive.ts) into a scratch
 * directory beside the store, within bounds that fit images and the room on that disk, and
 * read from there; only regular files are read (a link in the archive is left out, so it
 * cannot lead bucky elsewhere on the device), and every blob is checked against its digest: the OCI layout's
 * as its index names them, a Docker archive's layers against the digests its config lists
 * for them (`rootfs.diff_ids`). A Docker archive has no manifest of its own: bucky writes
 * one (Docker's v2 schema 2), and the image's digest is that manifest's.
 */

import { createHash } from "node:crypto";
import {
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from "node:fs";
import { basename, join, normalize } from "node:path";
import { ProtocolError } from "../../protocol/errors.ts";
import { parseImageRef } from "../../protocol/image-ref.ts";
import {
  chooseManifest,
  type Descriptor,
  type ImageDocument,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  MEDIA_TYPES,
  type Platform,
  parseImageConfig,
  parseImageDocument,
  platformName,
  runsOn,
  sha256Digest,
} from "../../protocol/oci.ts";
import { isRecord } from "../../protocol/shape.ts";
import { type ArchiveLimits, type ArchiveWords, unpackArchive } from "../archive/tar-archive.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import { formatBytes } from "../units.ts";
import type { ImageStore } from "./image-store.ts";
import {
  imageRoom,
  type PlatformParts,
  type PulledImage,
  storeImage,
  wrongPlatform,
} from "./pull.ts";

const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
const MAX_ARCHIVE_MANIFEST_BYTES = 1024 * 1024;
const NAME_ANNOTATIONS = ["io.containerd.image.name", "org.opencontainers.image.ref.name"];

/**
 * An image archive's bounds. Layers are big: `podman save` of a CUDA or PyTorch image writes
 * 10-20 GiB, one layer of it alone several GiB (an image made by `podman import` is one
 * layer, as large as the whole), and the largest images in use pass 50 GiB. So the bounds
 * on bytes are far past any image (256 GiB, all of it in one layer if so), and the real one
 * is the room on the disk, measured when the unpacking starts (`roomBytes`). The entries: a
 * Docker archive has a file a layer (Docker's older layout a directory and three files), an
 * OCI archive a blob a layer, besides a few manifests and configs; Docker stacks at most 127
 * layers and bucky reads at most 256, so 4,096 entries is room for either.
 */
export const IMAGE_ARCHIVE_LIMITS: ArchiveLimits = {
  totalBytes: 256 * 1024 ** 3,
  entries: 4096,
  fileBytes: 256 * 1024 ** 3,
};

const IMAGE_WORDS: ArchiveWords = {
  noun: "image archive",
  aNoun: "an image archive",
  dir: "the archive",
  choose:
    "Give a file written by `docker save`, `podman save` or as an OCI archive (.tar or .tar.gz).",
  compressed:
    "Decompress it first, or save the image again with `podman save` (a .tar, or gzip it).",
  repack:
    "Save the image again with `podman save` or `docker save`: an image archive holds only plain files.",
  tooLarge: "Nothing was installed. Save one image to the file (`podman save name:tag`).",
};

export async function readImageArchive(
  file: string,
  options: {
    readonly platforms: readonly Platform[];
    readonly images: ImageStore;
    /** Other bounds than an image's (IMAGE_ARCHIVE_LIMITS), for tests. */
    readonly limits?: ArchiveLimits;
  },
): Promise<PulledImage> {
  const scratch = `${options.images.incomingPath()}.unpacked`;
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  let release = () => {};
  try {
    release = await unpackImageArchive(
      file,
      scratch,
      options.limits ?? IMAGE_ARCHIVE_LIMITS,
      options.images,
    );
    const archive = new UnpackedArchive(scratch, file);
    const image =
      archive.has("oci-layout") && archive.has("index.json")
        ? fromOciLayout(archive, options.platforms)
        : archive.has("manifest.json")
          ? fromDockerArchive(archive, options.platforms)
          : undefined;
    if (!image)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${file} holds no image: it has neither an OCI layout (index.json) nor a Docker manifest.json`,
        "Give a file written by `docker save`, `podman save` or as an OCI archive.",
      );
    const record = await storeImage(image, options.images, async (layer, path) => {
      const source = image.layerFiles.get(layer.digest);
      if (!source) throw new BuckyError("E_INTERNAL", `layer ${layer.digest} has no file`);
      const digest = fileDigest(source);
      if (digest !== layer.digest)
        throw new BuckyError(
          "E_INTEGRITY",
          `layer ${layer.digest} in ${file} hashes to ${digest}: it was altered`,
          "Nothing was installed.",
        );
      linkSync(source, path);
    });
    return {
      record,
      pinned: `${record.ref}@${record.digest}`,
      exposedPorts: image.parts[0]?.config.exposedPorts ?? [],
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    release();
  }
}

/**
 * Unpacks the archive `file` into the empty directory `scratch` within `limits` and the
 * room on that disk, and returns how to give back the room it reserved. An image needs its
 * room twice: unpacked here, then stored as named data (the unpacked copy goes when the
 * install ends). So a plain .tar, which unpacks to about its size, is refused before a byte
 * is written when twice that is more than the room; a .tar.gz, whose size says nothing of
 * what it unpacks to, at the header of the first file past half the room. The room is what
 * the disk has free less what other installs under way in this process hold (`images.room`),
 * and this one holds what it may write until it ends, so two at once do not both count it.
 */
async function unpackImageArchive(
  file: string,
  scratch: string,
  limits: ArchiveLimits,
  images: ImageStore,
): Promise<() => void> {
  let sizeBytes: number;
  let head: Uint8Array;
  try {
    const stats = statSync(file);
    if (!stats.isFile())
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${file} is not a file`,
        "Give a file written by `docker save`, `podman save` or as an OCI archive (.tar or .tar.gz).",
      );
    sizeBytes = stats.size;
    head = await Bun.file(file).slice(0, 2).bytes();
  } catch (error) {
    throw fileSystemError(error, "read", file) ?? error;
  }
  const gzipped = head[0] === 0x1f && head[1] === 0x8b;
  // Measured and reserved at once (no await between): another install sees this one's hold.
  const measured = imageRoom(images, scratch);
  const room = measured?.bytes;
  const others =
    measured && measured.heldBytes > 0
      ? ` (other installs under way hold ${formatBytes(Math.min(measured.heldBytes, measured.freeBytes))} of the free space)`
      : "";
  if (room !== undefined && !gzipped && 2 * sizeBytes > room)
    throw new BuckyError(
      "E_IO",
      `${file} does not fit on this device's disk: it unpacks to about its ${formatBytes(sizeBytes)} and is then stored, so it needs about ${formatBytes(2 * sizeBytes)}, and there is room for ${formatBytes(room)}${others}`,
      "Nothing was installed. Free some space (`bucky status --disk` shows where it goes), then install again.",
    );
  const release = images.room.reserve(room === undefined ? 0 : gzipped ? room : 2 * sizeBytes);
  try {
    await unpackArchive(
      Bun.file(file).stream(),
      scratch,
      room === undefined ? limits : { ...limits, roomBytes: Math.floor(room / 2) },
      IMAGE_WORDS,
      // `podman save` (and Docker before 25) keep a link per layer, `<id>/layer.tar` to the
      // layer's file, for older tools: left out, as the links GNU tar wrote were never read.
      { leaveOutLinks: true },
    );
    return release;
  } catch (error) {
    release();
    if (
      room !== undefined &&
      error instanceof BuckyError &&
      error.code === "E_IO" &&
      error.message.startsWith(`that ${IMAGE_WORDS.noun} does not fit`)
    )
      throw new BuckyError(
        "E_IO",
        `${error.message}: an image is unpacked, then stored, so it needs twice what it unpacks to, and there is room for ${formatBytes(room)}${others}`,
        error.hint,
      );
    throw fileSystemError(error, "unpack", file) ?? error;
  }
}

/** An archive's files, read only if they are regular files inside it. */
class UnpackedArchive {
  constructor(
    readonly dir: string,
    readonly name: string,
  ) {}

  has(path: string): boolean {
    return this.stat(path) !== undefined;
  }

  /** The path of a regular file in the archive, checked to be one and at most `maxBytes`. */
  file(path: string, maxBytes: number): string {
    const stats = this.stat(path);
    if (!stats?.isFile())
      throw new BuckyError("E_INVALID_INPUT", `${this.name} has no file ${path} (or it is a link)`);
    if (stats.size > maxBytes)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${path} in ${this.name} is larger than ${maxBytes} bytes`,
      );
    return join(this.dir, normalize(path));
  }

  read(path: string, maxBytes: number): Uint8Array {
    return new Uint8Array(readFileSync(this.file(path, maxBytes)));
  }

  private stat(path: string) {
    const clean = normalize(path);
    if (clean.startsWith("..") || clean.startsWith("/")) return undefined;
    // No part of the way may be a link.
    let at = this.dir;
    for (const part of clean.split("/")) {
      at = join(at, part);
      const stats = lstatSync(at, { throwIfNoEntry: false });
      if (!stats || stats.isSymbolicLink()) return undefined;
      if (at === join(this.dir, clean)) return stats;
    }
    return undefined;
  }
}

interface ArchiveImage {
  readonly ref: string;
  readonly digest: string;
  readonly top: { readonly bytes: Uint8Array };
  readonly document: ImageDocument;
  readonly parts: readonly PlatformParts[];
  /** Each layer's file in the archive, by digest. */
  readonly layerFiles: ReadonlyMap<string, string>;
}

function fromOciLayout(archive: UnpackedArchive, platforms: readonly Platform[]): ArchiveImage {
  const index = protocol(() =>
    parseImageDocument(archive.read("index.json", MAX_MANIFEST_BYTES), MEDIA_TYPES.ociIndex),
  );
  if (index.kind !== "index")
    throw new BuckyError("E_INVALID_INPUT", `the index.json of ${archive.name} is not an index`);
  const blob = (descriptor: Descriptor, maxBytes: number): Uint8Array => {
    const bytes = archive.read(`blobs/sha256/${descriptor.digest.slice(7)}`, maxBytes);
    if (bytes.length !== descriptor.size || sha256Digest(bytes) !== descriptor.digest)
      throw new BuckyError(
        "E_INTEGRITY",
        `blob ${descriptor.digest} in ${archive.name} does not match its digest: it was altered`,
        "Nothing was installed.",
      );
    return bytes;
  };
  // index.json is not itself named by a digest: the image is the one entry it lists (or
  // the index or manifest that entry names).
  if (index.manifests.length !== 1)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${archive.name} holds ${index.manifests.length} images; bucky installs an archive of one`,
      "Save one image to the file (`docker save name:tag`).",
    );
  const entry = index.manifests[0] as Descriptor;
  const annotations = readAnnotations(archive);
  const topBytes = blob(entry, MAX_MANIFEST_BYTES);
  const top = protocol(() => parseImageDocument(topBytes, entry.mediaType));
  const manifests: { descriptor: Descriptor; bytes: Uint8Array }[] = [];
  if (top.kind === "index") {
    for (const platform of platforms) {
      const chosen = chooseManifest(top, platform);
      if (chosen && !manifests.some((m) => m.descriptor.digest === chosen.digest))
        manifests.push({ descriptor: chosen, bytes: blob(chosen, MAX_MANIFEST_BYTES) });
    }
    if (manifests.length === 0)
      throw wrongPlatform(
        archive.name,
        top.manifests.flatMap((m) => (m.platform ? [platformName(m.platform)] : [])),
        platforms,
      );
  } else manifests.push({ descriptor: entry, bytes: topBytes });
  const layerFiles = new Map<string, string>();
  const parts = manifests.map(({ descriptor, bytes }) => {
    const manifest = protocol(() => parseImageDocument(bytes, descriptor.mediaType));
    if (manifest.kind !== "manifest")
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${archive.name} nests one index in another: not supported`,
      );
    const configBytes = blob(manifest.config, MAX_CONFIG_BYTES);
    const config = protocol(() => parseImageConfig(configBytes));
    if (!platforms.some((platform) => runsOn(config.platform, platform)))
      throw wrongPlatform(archive.name, [platformName(config.platform)], platforms);
    for (const layer of manifest.layers)
      layerFiles.set(
        layer.digest,
        archive.file(`blobs/sha256/${layer.digest.slice(7)}`, layer.size),
      );
    return {
      platform: config.platform,
      manifest: { ...descriptor, mediaType: manifest.mediaType, bytes },
      config: { ...config, descriptor: manifest.config, bytes: configBytes },
      layers: manifest.layers,
    };
  });
  return {
    ref: archiveRef(annotations, archive.name),
    digest: entry.digest,
    top: { bytes: topBytes },
    document: top,
    parts,
    layerFiles,
  };
}

function fromDockerArchive(archive: UnpackedArchive, platforms: readonly Platform[]): ArchiveImage {
  let entries: unknown;
  try {
    entries = JSON.parse(
      new TextDecoder().decode(archive.read("manifest.json", MAX_ARCHIVE_MANIFEST_BYTES)),
    );
  } catch (error) {
    if (error instanceof BuckyError) throw error;
    throw new BuckyError("E_INVALID_INPUT", `the manifest.json of ${archive.name} is not JSON`);
  }
  if (!Array.isArray(entries) || entries.length !== 1 || !isRecord(entries[0]))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${archive.name} holds ${Array.isArray(entries) ? entries.length : "no"} images; bucky installs an archive of one`,
      "Save one image to the file (`docker save name:tag`).",
    );
  const entry = entries[0];
  const configPath = typeof entry.Config === "string" ? entry.Config : "";
  const layerPaths = Array.isArray(entry.Layers) ? entry.Layers : [];
  if (!configPath || layerPaths.length > 256 || !layerPaths.every((p) => typeof p === "string"))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `the manifest.json of ${archive.name} names no config or layers`,
    );
  const configBytes = archive.read(configPath, MAX_CONFIG_BYTES);
  const config = protocol(() => parseImageConfig(configBytes));
  if (!platforms.some((platform) => runsOn(config.platform, platform)))
    throw wrongPlatform(archive.name, [platformName(config.platform)], platforms);
  const diffIds = diffIdsOf(configBytes);
  if (diffIds.length !== layerPaths.length)
    throw new BuckyError(
      "E_INTEGRITY",
      `${archive.name} has ${layerPaths.length} layers and its config lists ${diffIds.length}`,
      "Nothing was installed.",
    );
  const layerFiles = new Map<string, string>();
  const layers: Descriptor[] = (layerPaths as string[]).map((path, i) => {
    const file = archive.file(path, Number.MAX_SAFE_INTEGER);
    const bytes = lstatSync(file).size;
    const digest = fileDigest(file);
    if (digest !== diffIds[i])
      throw new BuckyError(
        "E_INTEGRITY",
        `layer ${i} of ${archive.name} (${path}) hashes to ${digest}, not to the ${diffIds[i]} its config names: it was altered`,
        "Nothing was installed.",
      );
    layerFiles.set(digest, file);
    return { mediaType: DOCKER_LAYER, digest, size: bytes };
  });
  const configDescriptor = {
    mediaType: MEDIA_TYPES.dockerConfig,
    digest: sha256Digest(configBytes),
    size: configBytes.length,
  };
  const manifestBytes = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerManifest,
      config: configDescriptor,
      layers,
    }),
  );
  const digest = sha256Digest(manifestBytes);
  const document = protocol(() => parseImageDocument(manifestBytes));
  const tags = Array.isArray(entry.RepoTags)
    ? entry.RepoTags.filter((t) => typeof t === "string")
    : [];
  return {
    ref: archiveRef(tags[0] as string | undefined, archive.name),
    digest,
    top: { bytes: manifestBytes },
    document,
    parts: [
      {
        platform: config.platform,
        manifest: {
          mediaType: MEDIA_TYPES.dockerManifest,
          digest,
          size: manifestBytes.length,
          bytes: manifestBytes,
        },
        config: { ...config, descriptor: configDescriptor, bytes: configBytes },
        layers,
      },
    ],
    layerFiles,
  };
}

/** The reference an archive's image goes by: its tag when it is a valid one, else its file's name. */
function archiveRef(tag: string | undefined, file: string): string {
  if (tag && /[/:]/.test(tag)) {
    const parsed = parseImageRef(tag);
    if (parsed.ok && !parsed.ref.digest) return tag;
  }
  const name = basename(file)
    .toLowerCase()
    .replace(/\.(tar|tgz|tar\.gz)$/, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  const bareTag = tag && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag) ? `:${tag}` : "";
  return `localhost/${name || "archive"}${bareTag}`;
}

/** The image name an OCI archive's index.json gives its one entry, if any. */
function readAnnotations(archive: UnpackedArchive): string | undefined {
  try {
    const index = JSON.parse(
      new TextDecoder().decode(archive.read("index.json", MAX_MANIFEST_BYTES)),
    ) as {
      manifests?: { annotations?: Record<string, unknown> }[];
    };
    const annotations = index.manifests?.[0]?.annotations ?? {};
    const name = NAME_ANNOTATIONS.map((key) => annotations[key]).find((v) => typeof v === "string");
    return name as string | undefined;
  } catch {
    return undefined;
  }
}

function diffIdsOf(configBytes: Uint8Array): string[] {
  try {
    const config = JSON.parse(new TextDecoder().decode(configBytes)) as {
      rootfs?: { diff_ids?: unknown };
    };
    const ids = config.rootfs?.diff_ids;
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === "string") : [];
  } catch {
    return [];
  }
}

/** The digest of a file, read a piece at a time. */
function fileDigest(path: string): string {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  const fd = openSync(path, "r");
  try {
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    closeSync(fd);
  }
  return `sha256:${hash.digest("hex")}`;
}

function protocol<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError("E_INVALID_INPUT", `the image cannot be installed: ${error.message}`);
    throw error;
  }
}
