/**
 * Pulling an image into the zone, at install: from its registry, the manifest its
 * reference names (resolving a tag to a digest once, here), for an index the manifest of
 * each platform the zone's devices run, each one's config (which must say that platform)
 * and its layers, every part checked against its digest and stored as named data
 * (lib/images/image-store.ts). What comes back is the record naming all of it. Layers the
 * device already holds are not fetched again; before any layer is fetched, the disk must
 * have room for them, once: each is written as it streams (lib/images/blob-staging.ts),
 * hashed on the way, and moved into named data (renamed) once it is checked, so a pull
 * needs its layers' size free, not that and its largest layer again.
 */
import { existsSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { ProtocolError } from "../../protocol/errors.ts";
import type { ImageBlob, ImageRecord, PlatformImage } from "../../protocol/image-record.ts";
import { formatImageRef, type ImageRef } from "../../protocol/image-ref.ts";
import {
  chooseManifest,
  type Descriptor,
  type ImageConfig,
  type ImageDocument,
  type Platform,
  parseImageConfig,
  parseImageDocument,
  platformName,
  runsOn,
  sha256Digest,
} from "../../protocol/oci.ts";
import type { Reservation } from "../disk/room.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import { formatBytes } from "../units.ts";
import { BlobStaging } from "./blob-staging.ts";
import type { ImageStore } from "./image-store.ts";
import { Registry } from "./registry.ts";

/** Room kept free on the disk besides what an image needs. */
const SPARE_BYTES = 64 * 1024 * 1024;

export interface PulledImage {
  readonly record: ImageRecord;
  /** The reference, with the digest it resolved to. */
  readonly pinned: string;
  /** Ports the image says it listens on (from its first platform's config). */
  readonly exposedPorts: readonly number[];
}

export interface PullOptions {
  /** The platforms the zone's devices that run images are. */
  readonly platforms: readonly Platform[];
  readonly images: ImageStore;
  readonly log: Log;
  /** A registry silent this long is given up on. */
  readonly idleMs?: number;
}

/** A platform's parts as they are read, before they are stored. */
export interface PlatformParts {
  readonly platform: Platform;
  readonly manifest: Descriptor & { readonly bytes: Uint8Array };
  readonly config: ImageConfig & { readonly descriptor: Descriptor; readonly bytes: Uint8Array };
  readonly layers: readonly Descriptor[];
}

export async function pullImage(ref: ImageRef, options: PullOptions): Promise<PulledImage> {
  const registry = new Registry(ref, options.idleMs);
  const shown = formatImageRef(ref);
  const top = await registry.manifest(ref.digest ?? ref.tag ?? "latest");
  const digest = sha256Digest(top.bytes);
  if (ref.digest && digest !== ref.digest)
    throw new BuckyError(
      "E_INTEGRITY",
      `${registry.name} sent a manifest for ${shown} that hashes to ${digest}, not to the digest asked for`,
      "Nothing was installed. Do not use this registry's copy of the image.",
    );
  const document = readDocument(top.bytes, top.contentType, shown);
  const manifests: { descriptor: Descriptor; bytes: Uint8Array; document: ImageDocument }[] = [];
  if (document.kind === "index") {
    const chosen = new Map<string, Descriptor>();
    for (const platform of options.platforms) {
      const entry = chooseManifest(document, platform);
      if (entry) chosen.set(entry.digest, entry);
    }
    if (chosen.size === 0) throw wrongPlatform(shown, builtFor(document), options.platforms);
    for (const descriptor of chosen.values()) {
      const fetched = await registry.manifest(descriptor.digest);
      checked(fetched.bytes, descriptor, `the manifest ${descriptor.digest} of ${shown}`);
      const parsed = readDocument(fetched.bytes, descriptor.mediaType, shown);
      if (parsed.kind !== "manifest")
        throw new BuckyError(
          "E_INVALID_INPUT",
          `${shown} nests one index in another: not supported`,
        );
      manifests.push({ descriptor, bytes: fetched.bytes, document: parsed });
    }
  } else {
    const descriptor = { mediaType: document.mediaType, digest, size: top.bytes.length };
    manifests.push({ descriptor, bytes: top.bytes, document });
  }

  const parts: PlatformParts[] = [];
  const seen: string[] = [];
  for (const { descriptor, bytes, document: manifest } of manifests) {
    if (manifest.kind !== "manifest") continue;
    const configBytes = await registry.blob(manifest.config, "the config");
    const config = readConfig(configBytes, shown);
    seen.push(platformName(config.platform));
    if (!options.platforms.some((platform) => runsOn(config.platform, platform))) {
      if (document.kind === "manifest")
        throw wrongPlatform(shown, [platformName(config.platform)], options.platforms);
      continue;
    }
    parts.push({
      platform: config.platform,
      manifest: { ...descriptor, bytes },
      config: { ...config, descriptor: manifest.config, bytes: configBytes },
      layers: manifest.layers,
    });
  }
  if (parts.length === 0) throw wrongPlatform(shown, seen, options.platforms);

  const { digest: _, ...unpinned } = ref;
  // Each layer is written once, as it streams, into the pull's own staging under
  // `incoming` (cleared at the next start should the daemon die), and renamed into named
  // data once it is checked; a layer refused, and whatever else is left, goes with it.
  const staging = new BlobStaging(`${options.images.incomingPath()}.staged`);
  // The layers' room is held until they are stored, less what is written of them as it is
  // (the disk counts that from then on): a pull or install at once counts the rest taken.
  const room = reserveRoom(options.images, missingBytes(parts, options.images), shown);
  let record: ImageRecord;
  try {
    record = await storeImage(
      { ref: formatImageRef(unpinned), digest, top, document, parts },
      options.images,
      async (layer) => {
        const staged = await registry.stageBlob(layer, staging, "the layer", (bytes) =>
          room.wrote(bytes),
        );
        options.images.putStagedBlob(layer.digest, layer.size, staged.chunks, staging.store);
      },
    );
  } finally {
    staging.discard();
    room.release();
  }
  options.log.debug("image pulled", { image: shown, digest, platforms: parts.length });
  return {
    record,
    pinned: formatImageRef({ ...ref, digest }),
    exposedPorts: parts[0]?.config.exposedPorts ?? [],
  };
}

/**
 * Stores an image's parts as named data, each layer this device lacks by `storeLayer`
 * (which fetches it, checked, and stores it), and returns its record (stored too). The
 * caller holds the room for those layers (reserveRoom, or an archive's reading).
 */
export async function storeImage(
  image: {
    readonly ref: string;
    readonly digest: string;
    readonly top: { readonly bytes: Uint8Array };
    readonly document: ImageDocument;
    readonly parts: readonly PlatformParts[];
  },
  images: ImageStore,
  storeLayer: (layer: Descriptor) => Promise<void>,
): Promise<ImageRecord> {
  for (const layer of missingLayers(image.parts, images)) await storeLayer(layer);
  const blob = (descriptor: Descriptor): ImageBlob => {
    const object = images.objectOf(descriptor.digest, descriptor.size);
    if (!object) throw new BuckyError("E_INTERNAL", `blob ${descriptor.digest} was not stored`);
    return { digest: descriptor.digest, size: descriptor.size, object };
  };
  const platforms: PlatformImage[] = image.parts.map((part) => {
    images.putBlob(part.manifest.digest, part.manifest.bytes);
    images.putBlob(part.config.descriptor.digest, part.config.bytes);
    return {
      platform: platformName(part.platform),
      manifest: { ...blob(part.manifest), mediaType: part.manifest.mediaType },
      config: blob(part.config.descriptor),
      layers: part.layers.map(blob),
    };
  });
  let index: ImageRecord["index"];
  if (image.document.kind === "index") {
    images.putBlob(image.digest, image.top.bytes);
    index = {
      ...blob({
        mediaType: image.document.mediaType,
        digest: image.digest,
        size: image.top.bytes.length,
      }),
      mediaType: image.document.mediaType,
    };
  }
  const record: ImageRecord = {
    ref: image.ref,
    digest: image.digest,
    ...(index ? { index } : {}),
    images: platforms,
  };
  images.putRecord(record);
  return record;
}

/** The layers of `parts` this device does not hold yet, each once. */
function missingLayers(parts: readonly PlatformParts[], images: ImageStore): Descriptor[] {
  const missing = new Map<string, Descriptor>();
  for (const part of parts)
    for (const layer of part.layers)
      if (!images.objectOf(layer.digest, layer.size)) missing.set(layer.digest, layer);
  return [...missing.values()];
}

function missingBytes(parts: readonly PlatformParts[], images: ImageStore): number {
  return missingLayers(parts, images).reduce((sum, layer) => sum + layer.size, 0);
}

/**
 * Refuses to start fetching `bytes` more onto a disk that cannot take them, counting what
 * other installs under way in this process hold (ImageStore.room) as taken; else holds
 * `bytes` of it, as what is still to be written, until the reservation is released.
 */
function reserveRoom(images: ImageStore, bytes: number, what: string): Reservation {
  // Measured and reserved at once (no await between): another install sees this one's hold.
  const room = bytes > 0 ? imageRoom(images, images.objects.root) : undefined;
  if (room && room.bytes < bytes)
    throw new BuckyError(
      "E_IO",
      `the disk is too full for ${what}: it needs ${formatBytes(bytes)} and ${formatBytes(room.freeBytes)} is free${
        room.heldBytes > 0
          ? ` (other installs under way hold ${formatBytes(Math.min(room.heldBytes, room.freeBytes))} of it)`
          : ""
      }`,
      "Free some space (or remove apps you no longer use), then install again; nothing was installed.",
    );
  return images.room.reserve(bytes);
}

/**
 * The room for an image's bytes on the disk of `dir`: its free space less what stays free
 * and what installs under way in this process hold (ImageStore.room); undefined when the
 * disk cannot be measured.
 */
export function imageRoom(
  images: ImageStore,
  dir: string,
): { readonly bytes: number; readonly freeBytes: number; readonly heldBytes: number } | undefined {
  const freeBytes = freeBytesOn(dir);
  if (freeBytes === undefined) return undefined;
  const heldBytes = images.room.reservedBytes();
  return { bytes: Math.max(0, freeBytes - SPARE_BYTES - heldBytes), freeBytes, heldBytes };
}

/** The free bytes on the disk `dir` is on (a directory not made yet: its nearest parent's). */
function freeBytesOn(dir: string): number | undefined {
  try {
    let existing = dir;
    while (!existsSync(existing)) existing = dirname(existing);
    const disk = statfsSync(existing);
    return disk.bavail * disk.bsize;
  } catch {
    return undefined;
  }
}

function readDocument(
  bytes: Uint8Array,
  contentType: string | undefined,
  shown: string,
): ImageDocument {
  try {
    return parseImageDocument(bytes, contentType);
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError("E_INVALID_INPUT", `${shown} cannot be installed: ${error.message}`);
    throw error;
  }
}

function readConfig(bytes: Uint8Array, shown: string): ImageConfig {
  try {
    return parseImageConfig(bytes);
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `the config of ${shown} cannot be read: ${error.message}`,
      );
    throw error;
  }
}

function checked(bytes: Uint8Array, descriptor: Descriptor, what: string): void {
  const digest = sha256Digest(bytes);
  if (digest !== descriptor.digest || bytes.length !== descriptor.size)
    throw new BuckyError(
      "E_INTEGRITY",
      `${what} does not match its digest (it hashes to ${digest}): it was altered`,
      "Nothing was installed. Do not use this registry's copy of the image.",
    );
}

function builtFor(index: Extract<ImageDocument, { kind: "index" }>): string[] {
  return index.manifests.flatMap((entry) =>
    entry.platform && entry.platform.os !== "unknown" ? [platformName(entry.platform)] : [],
  );
}

export function wrongPlatform(
  shown: string,
  builtFor: readonly string[],
  platforms: readonly Platform[],
): BuckyError {
  return new BuckyError(
    "E_INVALID_INPUT",
    `${shown} is built for ${builtFor.join(", ") || "no platform it names"}, and the zone's devices that run images are ${[...new Set(platforms.map(platformName))].join(", ")}`,
    "Choose an image built for those devices (many images are built for several).",
  );
}
