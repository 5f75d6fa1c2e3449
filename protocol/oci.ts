/**
 * The documents of an OCI image (and Docker's v2 schema 2, which is the same shape): an
 * index names one manifest per platform; a manifest names its config and its layers; the
 * config says which platform it is for. Each is named by the SHA-256 of its exact bytes,
 * so a document is checked against its digest before it is read, and every field is
 * checked before use (registries and archives are untrusted).
 *
 * Only what bucky needs is read: digests, sizes, media types and platforms, and of the
 * config its platform and the ports it exposes.
 */
import { createHash } from "node:crypto";
import { check } from "./errors.ts";
import { isRecord, requireString, requireUint } from "./shape.ts";

export const MEDIA_TYPES = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

/** What a registry is asked for: every kind of index and manifest bucky reads. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.dockerManifest,
].join(", ");

/** Layer types Podman unpacks (plain, gzip or zstd tars). */
const LAYER_TYPES = new Set([
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.diff.tar",
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
]);

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
export const MAX_INDEX_ENTRIES = 256;
export const MAX_LAYERS = 256;
/** No one layer is larger than this (64 GiB). */
export const MAX_LAYER_BYTES = 64 * 1024 ** 3;
const MEDIA_TYPE_LENGTH = 255;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface Descriptor {
  readonly mediaType: string;
  /** `sha256:<64 hex>`. */
  readonly digest: string;
  readonly size: number;
}

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export type ImageDocument =
  | {
      readonly kind: "index";
      readonly mediaType: string;
      readonly manifests: readonly (Descriptor & { readonly platform?: Platform })[];
    }
  | {
      readonly kind: "manifest";
      readonly mediaType: string;
      readonly config: Descriptor;
      readonly layers: readonly Descriptor[];
    };

export interface ImageConfig {
  readonly platform: Platform;
  /** Ports the image says it listens on, TCP only, lowest first. */
  readonly exposedPorts: readonly number[];
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Throws ProtocolError unless `bytes` hash to `digest`. */
export function checkDigest(bytes: Uint8Array, digest: string, what: string): void {
  check(DIGEST.test(digest), `${what}: "${digest}" is not a sha256 digest`);
  check(sha256Digest(bytes) === digest, `${what} does not match its digest ${digest}`);
}

/**
 * Reads an index or a manifest. `contentType` is what the registry said, used only when
 * the document does not say its own media type (Docker's older ones do not).
 */
export function parseImageDocument(bytes: Uint8Array, contentType?: string): ImageDocument {
  check(
    bytes.length <= MAX_MANIFEST_BYTES,
    `an image manifest is at most ${MAX_MANIFEST_BYTES} bytes`,
  );
  const value = parseJson(bytes, "image manifest");
  check(value.schemaVersion === 2, "only image manifests of schema version 2 are supported");
  const declared =
    value.mediaType === undefined
      ? undefined
      : requireString(value.mediaType, "manifest mediaType", MEDIA_TYPE_LENGTH);
  const given = contentType?.split(";")[0]?.trim();
  const mediaType =
    declared ??
    (given && given !== "application/json" ? given : undefined) ??
    (Array.isArray(value.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest);
  if (mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerList) {
    check(
      Array.isArray(value.manifests) && value.manifests.length <= MAX_INDEX_ENTRIES,
      `an image index lists at most ${MAX_INDEX_ENTRIES} manifests`,
    );
    const manifests = value.manifests.map((entry, i) => {
      const descriptor = descriptorOf(entry, `index entry ${i}`, MAX_MANIFEST_BYTES);
      const platform =
        isRecord(entry) && entry.platform !== undefined
          ? platformOf(entry.platform, `index entry ${i}`)
          : undefined;
      return { ...descriptor, ...(platform ? { platform } : {}) };
    });
    return { kind: "index", mediaType, manifests };
  }
  check(
    mediaType === MEDIA_TYPES.ociManifest || mediaType === MEDIA_TYPES.dockerManifest,
    `"${mediaType}" is not an image manifest bucky can read (Docker schema 1 and artifacts are not)`,
  );
  const config = descriptorOf(value.config, "manifest config", MAX_CONFIG_BYTES);
  check(
    Array.isArray(value.layers) && value.layers.length <= MAX_LAYERS,
    `an image has at most ${MAX_LAYERS} layers`,
  );
  const layers = value.layers.map((entry, i) => {
    const layer = descriptorOf(entry, `layer ${i}`, MAX_LAYER_BYTES);
    check(
      LAYER_TYPES.has(layer.mediaType),
      `layer ${i} is of type "${layer.mediaType}", which is not a layer bucky can run (a plain, gzip or zstd tar)`,
    );
    check(
      !isRecord(entry) || entry.urls === undefined,
      `layer ${i} is to be fetched from elsewhere (a foreign layer): not supported`,
    );
    return layer;
  });
  return { kind: "manifest", mediaType, config, layers };
}

/** Reads an image config: its platform and exposed ports. */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  check(bytes.length <= MAX_CONFIG_BYTES, `an image config is at most ${MAX_CONFIG_BYTES} bytes`);
  const value = parseJson(bytes, "image config");
  const platform = platformOf(
    {
      os: value.os,
      architecture: value.architecture,
      ...(value.variant === undefined ? {} : { variant: value.variant }),
    },
    "image config",
  );
  const exposed =
    isRecord(value.config) && isRecord(value.config.ExposedPorts)
      ? Object.keys(value.config.ExposedPorts)
      : [];
  const exposedPorts = exposed
    .flatMap((spec) => {
      const match = /^(\d{1,5})(?:\/tcp)?$/.exec(spec);
      const port = match ? Number(match[1]) : 0;
      return port > 0 && port < 65536 ? [port] : [];
    })
    .sort((a, b) => a - b);
  return { platform, exposedPorts };
}

/** `os/architecture[/variant]`, as people and Docker write a platform. */
export function platformName(platform: Platform): string {
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ""}`;
}

/** A platform from its name (`os/architecture[/variant]`); undefined when it is not one. */
export function parsePlatformName(name: string): Platform | undefined {
  const parts = name.split("/");
  if (
    parts.length < 2 ||
    parts.length > 3 ||
    parts.some((part) => !/^[a-z0-9._-]{1,32}$/.test(part))
  )
    return undefined;
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/**
 * Whether an image built for `image` runs on a machine of platform `machine`: the same
 * OS and architecture, and the variant, where both say one, the same (arm64 images often
 * leave out v8).
 */
export function runsOn(image: Platform, machine: Platform): boolean {
  if (image.os !== machine.os || image.architecture !== machine.architecture) return false;
  if (!image.variant || !machine.variant) return true;
  return image.variant === machine.variant;
}

/** The manifest of an index for `machine`, or undefined when it has none. */
export function chooseManifest(
  index: Extract<ImageDocument, { kind: "index" }>,
  machine: Platform,
): (Descriptor & { readonly platform?: Platform }) | undefined {
  return index.manifests.find(
    (entry) =>
      entry.platform !== undefined &&
      runsOn(entry.platform, machine) &&
      (entry.mediaType === MEDIA_TYPES.ociManifest ||
        entry.mediaType === MEDIA_TYPES.dockerManifest),
  );
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    check(false, `the ${what} is not JSON: ${(error as Error).message}`);
  }
  check(isRecord(value), `the ${what} must be a JSON object`);
  return value;
}

function descriptorOf(value: unknown, what: string, maxSize: number): Descriptor {
  check(isRecord(value), `${what} must be an object`);
  const mediaType = requireString(value.mediaType, `${what} mediaType`, MEDIA_TYPE_LENGTH);
  const digest = requireString(value.digest, `${what} digest`, 200);
  check(
    DIGEST.test(digest),
    `${what} digest "${digest}" is not sha256 (the only digest bucky checks)`,
  );
  const size = requireUint(value.size, `${what} size`, maxSize);
  return { mediaType, digest, size };
}

function platformOf(value: unknown, what: string): Platform {
  check(isRecord(value), `${what} platform must be an object`);
  const os = requireString(value.os, `${what} os`, 32);
  const architecture = requireString(value.architecture, `${what} architecture`, 32);
  const variant =
    value.variant === undefined || value.variant === ""
      ? undefined
      : requireString(value.variant, `${what} variant`, 32);
  for (const part of [os, architecture, variant ?? "x"])
    check(/^[a-z0-9._-]+$/.test(part), `${what} platform "${part}" has characters it may not`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}
