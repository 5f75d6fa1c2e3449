/**
 * An image from a file: what `docker save` or `podman save` writes (a Docker archive:
 * `manifest.json`, a config and a tar per layer), or an OCI archive (an OCI layout:
 * `oci-layout`, `index.json`, `blobs/sha256/…`), as a .tar or a .tar.gz. The file is read
 * once, as a stream, by the one bounded tar reader (lib/archive/tar-archive.ts), within
 * bounds that fit images, and within the room on the disk (lib/images/archive-room.ts):
 * each file in it is stored as it streams out, hashed on the way (lib/images/blob-staging.ts),
 * so an image needs its size free once. Only regular files are read (a link in the archive
 * is left out, so it cannot lead bucky elsewhere on the device), and every blob is checked
 * against its digest: the OCI layout's as its index names them, a Docker archive's layers
 * against the digests its config lists for them (`rootfs.diff_ids`). Only then are the
 * image's blobs moved into named data; the rest, and everything on a refusal, goes. A
 * Docker archive has no manifest of its own: bucky writes one (Docker's v2 schema 2), and
 * the image's digest is that manifest's.
 */

import { statSync } from "node:fs";
import { basename } from "node:path";
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
import { type ArchiveLimits, type ArchiveWords, readArchiveFiles } from "../archive/tar-archive.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import { ArchiveRoom } from "./archive-room.ts";
import { BlobStaging, type StagedBlob } from "./blob-staging.ts";
import type { ImageStore } from "./image-store.ts";
import { type PlatformParts, type PulledImage, storeImage, wrongPlatform } from "./pull.ts";

const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
const MAX_ARCHIVE_MANIFEST_BYTES = 1024 * 1024;
const NAME_ANNOTATIONS = ["io.containerd.image.name", "org.opencontainers.image.ref.name"];

/**
 * An image archive's bounds. Layers are big: `podman save` of a CUDA or PyTorch image writes
 * 10-20 GiB, one layer of it alone several GiB (an image made by `podman import` is one
 * layer, as large as the whole), and the largest images in use pass 50 GiB. So the bounds
 * on bytes are far past any image (256 GiB, all of it in one layer if so), and the real one
 * is the room on the disk (lib/images/archive-room.ts). The entries: a
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
  const { images } = options;
  const { sizeBytes, gzipped } = await archiveKind(file);
  const staging = new BlobStaging(`${images.incomingPath()}.staged`);
  const room = ArchiveRoom.hold(images, staging.dir, file, sizeBytes, gzipped);
  try {
    const archive = await stageArchive(file, staging, room, options.limits ?? IMAGE_ARCHIVE_LIMITS);
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
    // Every layer was checked against its digest as it was read: they are moved in now.
    const record = await storeImage(image, images, async (layer) => {
      const staged = image.layerBlobs.get(layer.digest);
      if (staged?.digest !== layer.digest || staged.sizeBytes !== layer.size)
        throw new BuckyError("E_INTERNAL", `layer ${layer.digest} was not staged as read`);
      images.putStagedBlob(layer.digest, layer.size, staged.chunks, staging.store);
    });
    return {
      record,
      pinned: `${record.ref}@${record.digest}`,
      exposedPorts: image.parts[0]?.config.exposedPorts ?? [],
    };
  } finally {
    staging.discard();
    room.release();
  }
}

/** The archive's size, and whether it is gzipped; refused when it is not a file. */
async function archiveKind(file: string): Promise<{ sizeBytes: number; gzipped: boolean }> {
  try {
    const stats = statSync(file);
    if (!stats.isFile())
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${file} is not a file`,
        "Give a file written by `docker save`, `podman save` or as an OCI archive (.tar or .tar.gz).",
      );
    const head = await Bun.file(file).slice(0, 2).bytes();
    return { sizeBytes: stats.size, gzipped: head[0] === 0x1f && head[1] === 0x8b };
  } catch (error) {
    throw fileSystemError(error, "read", file) ?? error;
  }
}

/**
 * Reads the archive `file`, staging each of its files as it streams out (within `limits`
 * and the room `room` holds), and returns what it holds.
 */
async function stageArchive(
  file: string,
  staging: BlobStaging,
  room: ArchiveRoom,
  limits: ArchiveLimits,
): Promise<StagedArchive> {
  const blobs = new Map<string, StagedBlob>();
  try {
    await readArchiveFiles(
      Bun.file(file).stream(),
      limits,
      IMAGE_WORDS,
      // `podman save` (and Docker before 25) keep a link per layer, `<id>/layer.tar` to the
      // layer's file, for older tools: left out, as the links GNU tar wrote were never read.
      { leaveOutLinks: true },
      async (entry) => {
        room.entry(entry.name, entry.sizeBytes);
        blobs.set(entry.parts.join("/"), await staging.put(entry.pieces, (n) => room.wrote(n)));
      },
    );
  } catch (error) {
    throw fileSystemError(error, "unpack", file) ?? error;
  }
  return new StagedArchive(staging, blobs, file);
}

/** An archive's plain files, as staged: by their paths in it. */
class StagedArchive {
  constructor(
    private readonly staging: BlobStaging,
    private readonly blobs: ReadonlyMap<string, StagedBlob>,
    readonly name: string,
  ) {}

  has(path: string): boolean {
    return this.lookUp(path) !== undefined;
  }

  /** The regular file `path` in the archive (a link was left out: it is none). */
  blob(path: string): StagedBlob {
    const blob = this.lookUp(path);
    if (!blob)
      throw new BuckyError("E_INVALID_INPUT", `${this.name} has no file ${path} (or it is a link)`);
    return blob;
  }

  /** The bytes of file `path`, at most `maxBytes` of them. */
  read(path: string, maxBytes: number): Uint8Array {
    const blob = this.blob(path);
    if (blob.sizeBytes > maxBytes)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${path} in ${this.name} is larger than ${maxBytes} bytes`,
      );
    return this.staging.read(blob);
  }

  private lookUp(path: string): StagedBlob | undefined {
    const parts = path.split("/").filter((part) => part !== "" && part !== ".");
    if (path.startsWith("/") || parts.includes("..")) return undefined;
    return this.blobs.get(parts.join("/"));
  }
}

interface ArchiveImage {
  readonly ref: string;
  readonly digest: string;
  readonly top: { readonly bytes: Uint8Array };
  readonly document: ImageDocument;
  readonly parts: readonly PlatformParts[];
  /** Each layer as staged, by digest: checked to be that digest. */
  readonly layerBlobs: ReadonlyMap<string, StagedBlob>;
}

function fromOciLayout(archive: StagedArchive, platforms: readonly Platform[]): ArchiveImage {
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
  const layerBlobs = new Map<string, StagedBlob>();
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
    for (const layer of manifest.layers) {
      const staged = archive.blob(`blobs/sha256/${layer.digest.slice(7)}`);
      if (staged.digest !== layer.digest)
        throw new BuckyError(
          "E_INTEGRITY",
          `layer ${layer.digest} in ${archive.name} hashes to ${staged.digest}: it was altered`,
          "Nothing was installed.",
        );
      if (staged.sizeBytes !== layer.size)
        throw new BuckyError(
          "E_INTEGRITY",
          `layer ${layer.digest} in ${archive.name} is ${staged.sizeBytes} bytes, not the ${layer.size} its manifest says`,
          "Nothing was installed.",
        );
      layerBlobs.set(layer.digest, staged);
    }
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
    layerBlobs,
  };
}

function fromDockerArchive(archive: StagedArchive, platforms: readonly Platform[]): ArchiveImage {
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
  const layerBlobs = new Map<string, StagedBlob>();
  const layers: Descriptor[] = (layerPaths as string[]).map((path, i) => {
    const staged = archive.blob(path);
    const digest = staged.digest;
    if (digest !== diffIds[i])
      throw new BuckyError(
        "E_INTEGRITY",
        `layer ${i} of ${archive.name} (${path}) hashes to ${digest}, not to the ${diffIds[i]} its config names: it was altered`,
        "Nothing was installed.",
      );
    layerBlobs.set(digest, staged);
    return { mediaType: DOCKER_LAYER, digest, size: staged.sizeBytes };
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
    layerBlobs,
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
function readAnnotations(archive: StagedArchive): string | undefined {
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

function protocol<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError("E_INVALID_INPUT", `the image cannot be installed: ${error.message}`);
    throw error;
  }
}
