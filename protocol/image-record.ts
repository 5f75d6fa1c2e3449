/**
 * An image as the zone keeps it: which named data holds each of its parts. The record is
 * itself named data, and the app's spec names it (as an app's package is named), so any
 * device fetches the record from its peers, then every part the record names, each
 * verified against its id; the image's own digests are checked again as it is handed to
 * the container engine.
 *
 *   record = CBOR {v: 1, ref, digest, index?: Blob, images: [Image, …]}
 *   Image  = {platform: "os/arch[/variant]", manifest: Blob, config: Blob, layers: [Blob, …]}
 *   Blob   = {digest: "sha256:…", size, object: <named data id>, mediaType?}
 *
 * `ref` is the reference the image came from (registry, repository and tag, or an archive's
 * name), `digest` what it resolved to: the index when the image has one (then `index`
 * holds it), else the one manifest. An image holds one entry per platform the zone's
 * devices can run; an index may name more, which the zone then does not hold.
 */
import { cborUint, decodeCbor, encodeCbor } from "./cbor.ts";
import { check } from "./errors.ts";
import { CHUNK_BYTES, parseObjectId } from "./ndn.ts";
import { MAX_CONFIG_BYTES, MAX_LAYER_BYTES, MAX_LAYERS, MAX_MANIFEST_BYTES } from "./oci.ts";
import { requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";

export const IMAGE_RECORD_VERSION = 1;
export const MAX_IMAGE_RECORD_BYTES = 256 * 1024;
export const MAX_PLATFORMS = 16;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const PLATFORM = /^[a-z0-9._-]{1,32}\/[a-z0-9._-]{1,32}(?:\/[a-z0-9._-]{1,32})?$/;

export interface ImageBlob {
  readonly digest: string;
  readonly size: number;
  /** The named data holding the blob's bytes: `sha256:` (the digest itself) or `clist:`. */
  readonly object: string;
  readonly mediaType?: string;
}

export interface PlatformImage {
  /** `os/architecture[/variant]`. */
  readonly platform: string;
  readonly manifest: ImageBlob & { readonly mediaType: string };
  readonly config: ImageBlob;
  readonly layers: readonly ImageBlob[];
}

export interface ImageRecord {
  readonly ref: string;
  readonly digest: string;
  readonly index?: ImageBlob & { readonly mediaType: string };
  readonly images: readonly PlatformImage[];
}

export function encodeImageRecord(record: ImageRecord): Uint8Array {
  const blob = (b: ImageBlob) => ({
    digest: b.digest,
    size: cborUint(b.size),
    object: b.object,
    ...(b.mediaType ? { mediaType: b.mediaType } : {}),
  });
  const bytes = encodeCbor({
    v: IMAGE_RECORD_VERSION,
    ref: record.ref,
    digest: record.digest,
    ...(record.index ? { index: blob(record.index) } : {}),
    images: record.images.map((image) => ({
      platform: image.platform,
      manifest: blob(image.manifest),
      config: blob(image.config),
      layers: image.layers.map(blob),
    })),
  });
  // What is written is what any reader accepts.
  decodeImageRecord(bytes);
  return bytes;
}

/** Decodes a record, checking every field. Throws ProtocolError otherwise. */
export function decodeImageRecord(bytes: Uint8Array): ImageRecord {
  const value = requireRecord(
    decodeCbor(bytes, MAX_IMAGE_RECORD_BYTES, "image record"),
    "image record",
  );
  requireOnlyFields(value, ["v", "ref", "digest", "index", "images"], "image record");
  check(
    value.v === IMAGE_RECORD_VERSION,
    `image record version ${String(value.v)} is not supported`,
  );
  const ref = requireString(value.ref, "image record ref", 512);
  const digest = requireString(value.digest, "image record digest", 80);
  check(DIGEST.test(digest), "image record digest is not sha256");
  const index =
    value.index === undefined
      ? undefined
      : typedBlob(value.index, "image index", MAX_MANIFEST_BYTES);
  check(
    Array.isArray(value.images) && value.images.length >= 1 && value.images.length <= MAX_PLATFORMS,
    `an image record holds 1 to ${MAX_PLATFORMS} platforms`,
  );
  const images = value.images.map((entry, i): PlatformImage => {
    const image = requireRecord(entry, `image ${i}`);
    requireOnlyFields(image, ["platform", "manifest", "config", "layers"], `image ${i}`);
    const platform = requireString(image.platform, `image ${i} platform`, 100);
    check(PLATFORM.test(platform), `image ${i} platform "${platform}" is not os/arch[/variant]`);
    check(
      Array.isArray(image.layers) && image.layers.length <= MAX_LAYERS,
      `image ${i} has at most ${MAX_LAYERS} layers`,
    );
    return {
      platform,
      manifest: typedBlob(image.manifest, `image ${i} manifest`, MAX_MANIFEST_BYTES),
      config: blobOf(image.config, `image ${i} config`, MAX_CONFIG_BYTES),
      layers: image.layers.map((layer, l) =>
        blobOf(layer, `image ${i} layer ${l}`, MAX_LAYER_BYTES),
      ),
    };
  });
  const platforms = new Set(images.map((image) => image.platform));
  check(platforms.size === images.length, "an image record names a platform twice");
  if (index) check(index.digest === digest, "the image record's index is not its digest");
  else
    check(
      images.length === 1 && images[0]?.manifest.digest === digest,
      "an image record without an index holds the one manifest its digest names",
    );
  return { ref, digest, ...(index ? { index } : {}), images };
}

function blobOf(value: unknown, what: string, maxSize: number): ImageBlob {
  const blob = requireRecord(value, what);
  requireOnlyFields(blob, ["digest", "size", "object", "mediaType"], what);
  const digest = requireString(blob.digest, `${what} digest`, 80);
  check(DIGEST.test(digest), `${what} digest is not sha256`);
  const size = requireUint(blob.size, `${what} size`, maxSize);
  const object = requireString(blob.object, `${what} object`, 80);
  const parsed = parseObjectId(object);
  check(parsed !== undefined, `${what} object is not a named data id`);
  // A blob that fits one chunk is that chunk, named by the very digest: nothing to map.
  if (size <= CHUNK_BYTES)
    check(object === digest, `${what} fits one chunk but is not named by its digest`);
  else check(parsed.kind === "list", `${what} is larger than a chunk but not a chunk list`);
  const mediaType =
    blob.mediaType === undefined
      ? undefined
      : requireString(blob.mediaType, `${what} mediaType`, 255);
  return { digest, size, object, ...(mediaType ? { mediaType } : {}) };
}

function typedBlob(
  value: unknown,
  what: string,
  maxSize: number,
): ImageBlob & { mediaType: string } {
  const blob = blobOf(value, what, maxSize);
  check(blob.mediaType !== undefined, `${what} has no mediaType`);
  return blob as ImageBlob & { mediaType: string };
}
