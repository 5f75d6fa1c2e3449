/**
 * Images as named data on this device. Each blob of an image (index, manifest, config,
 * layer) is stored as an object: one that fits a chunk is that chunk, named by its very
 * digest; a larger one is a chunk list, and `<home>/images/blobs/<hex>` remembers which,
 * so a blob this device has is not fetched again. An image's record (protocol/
 * image-record.ts) is an object too: the spec names it, and a device that lacks the image
 * fetches the record, then what it names, from its peers.
 *
 * For the container engine, an image is written out as an OCI layout directory, each
 * blob checked against its digest on the way out as it was on the way in.
 */

import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { ProtocolError } from "../../protocol/errors.ts";
import {
  decodeImageRecord,
  encodeImageRecord,
  type ImageBlob,
  type ImageRecord,
  type PlatformImage,
} from "../../protocol/image-record.ts";
import {
  CHUNK_BYTES,
  type ChunkId,
  type ChunkListId,
  digestOf,
  type ObjectId,
  parseObjectId,
} from "../../protocol/ndn.ts";
import { checkDigest, parseImageDocument } from "../../protocol/oci.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { RoomReservations } from "../disk/room.ts";
import { BuckyError } from "../errors.ts";
import { fetchToStore, type ObjectSource } from "../ndn/fetch.ts";
import type { ObjectStore } from "../ndn/store.ts";

export class ImageStore {
  constructor(
    readonly objects: ObjectStore,
    /** `<home>/images`. */
    private readonly dir: string,
    /** The room installs under way in this process hold on the disk (one per node). */
    readonly room: RoomReservations = new RoomReservations(),
  ) {}

  /** The object holding blob `digest` when all of it is on this device. */
  objectOf(digest: string, size: number): ObjectId | undefined {
    if (size <= CHUNK_BYTES)
      return this.objects.hasChunk(digest as ChunkId) ? (digest as ChunkId) : undefined;
    const path = this.mapPath(digest);
    if (!existsSync(path)) return undefined;
    const parsed = parseObjectId(readFileSync(path, "utf8").trim());
    if (parsed?.kind !== "list") return undefined;
    const list = this.objects.readList(parsed.id);
    return list?.size === size && list.chunks.every((chunk) => this.objects.hasChunk(chunk))
      ? parsed.id
      : undefined;
  }

  /** Stores a blob held in memory, after checking it is `digest`. */
  putBlob(digest: string, bytes: Uint8Array): ObjectId {
    verified(() => checkDigest(bytes, digest, `blob ${digest}`));
    const stored = this.objects.putBytes(bytes);
    this.remember(digest, stored.id, bytes.length);
    return stored.id;
  }

  /**
   * Stores a blob whose chunks were written, and checked to be `digest`, as it was read
   * (lib/images/blob-staging.ts: a layer from an archive or a registry): they are moved in
   * from `staged`, not written again.
   */
  putStagedBlob(
    digest: string,
    size: number,
    chunks: readonly ChunkId[],
    staged: ObjectStore,
  ): ObjectId {
    this.objects.adoptChunks(chunks, (chunk) => staged.chunkPath(chunk));
    const id =
      chunks.length === 1
        ? (chunks[0] as ChunkId)
        : this.objects.writeList({ size, chunkSize: CHUNK_BYTES, chunks: [...chunks] });
    this.remember(digest, id, size);
    return id;
  }

  /** Stores a record; its id is what a spec names. */
  putRecord(record: ImageRecord): ObjectId {
    return this.objects.putBytes(encodeImageRecord(record)).id;
  }

  /** A record stored here, checked; undefined when it is not here. */
  readRecord(id: ObjectId): ImageRecord | undefined {
    const bytes = this.objects.readObject(id);
    if (!bytes) return undefined;
    try {
      return decodeImageRecord(bytes);
    } catch (error) {
      if (error instanceof ProtocolError)
        throw new BuckyError(
          "E_INTEGRITY",
          `the image record ${id} is malformed: ${error.message}`,
        );
      throw error;
    }
  }

  /** Fetches record `id` (verified) from this device or its peers. */
  async fetchRecord(id: ObjectId, sources: readonly ObjectSource[]): Promise<ImageRecord> {
    await fetchToStore(id, this.objects, sources);
    const record = this.readRecord(id);
    if (!record) throw new BuckyError("E_NOT_FOUND", `the image record ${id} is not complete here`);
    return record;
  }

  /** Fetches the manifest, config and layers of `image`, each verified, that this device lacks. */
  async fetchBlobs(image: PlatformImage, sources: readonly ObjectSource[]): Promise<void> {
    for (const blob of blobsOf(image)) {
      await fetchToStore(blob.object as ObjectId, this.objects, sources);
      this.remember(blob.digest, blob.object as ObjectId, blob.size);
    }
  }

  /** Whether every blob of `image` is on this device. */
  holds(image: PlatformImage): boolean {
    return blobsOf(image).every((blob) => this.objectOf(blob.digest, blob.size) === blob.object);
  }

  /**
   * Writes `image` out as an OCI layout in `dir` (made here), every blob checked against
   * its digest, and the manifest against the record: what the engine loads is what the
   * zone installed.
   */
  writeLayout(image: PlatformImage, ref: string, dir: string): void {
    const blobs = join(dir, "blobs", "sha256");
    mkdirSync(blobs, { recursive: true, mode: 0o700 });
    const manifestBytes = this.blobBytes(image.manifest);
    let parsed: ReturnType<typeof parseImageDocument>;
    try {
      parsed = parseImageDocument(manifestBytes, image.manifest.mediaType);
    } catch (error) {
      if (error instanceof ProtocolError)
        throw new BuckyError(
          "E_INTEGRITY",
          `the manifest of ${ref} is malformed: ${error.message}`,
        );
      throw error;
    }
    const same = (a: { digest: string; size: number }, b: { digest: string; size: number }) =>
      a.digest === b.digest && a.size === b.size;
    if (
      parsed.kind !== "manifest" ||
      !same(parsed.config, image.config) ||
      parsed.layers.length !== image.layers.length ||
      parsed.layers.some((layer, i) => !same(layer, image.layers[i] as ImageBlob))
    )
      throw new BuckyError(
        "E_INTEGRITY",
        `the image record of ${ref} does not match its manifest ${image.manifest.digest}`,
        "The record was altered; install the app again.",
      );
    writeFileSync(join(blobs, digestOf(image.manifest.digest as ChunkId)), manifestBytes);
    for (const blob of [image.config, ...image.layers])
      this.writeBlob(blob, join(blobs, digestOf(blob.digest as ChunkId)));
    writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    writeFileSync(
      join(dir, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: image.manifest.mediaType,
            digest: image.manifest.digest,
            size: image.manifest.size,
          },
        ],
      }),
    );
  }

  /** A file for a blob on its way in: beside the store, on its disk. */
  incomingPath(): string {
    const dir = join(this.dir, "incoming");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return join(dir, randomBytes(8).toString("hex"));
  }

  /** Removes what interrupted installs left on their way in. */
  clearIncoming(): void {
    rmSync(join(this.dir, "incoming"), { recursive: true, force: true });
  }

  /** The bytes of a small blob, checked. */
  private blobBytes(blob: ImageBlob): Uint8Array {
    const bytes = this.objects.readObject(blob.object as ObjectId);
    if (!bytes) throw new BuckyError("E_NOT_FOUND", `blob ${blob.digest} is not on this device`);
    verified(() => checkDigest(bytes, blob.digest, `blob ${blob.digest}`));
    return bytes;
  }

  /** Writes a blob, chunk by chunk (each verified by the store), checking its digest. */
  private writeBlob(blob: ImageBlob, path: string): void {
    const parsed = parseObjectId(blob.object);
    if (parsed?.kind !== "list") {
      writeFileSync(path, this.blobBytes(blob), { mode: 0o600 });
      return;
    }
    const list = this.objects.readList(parsed.id as ChunkListId);
    if (!list) throw new BuckyError("E_NOT_FOUND", `blob ${blob.digest} is not on this device`);
    const hash = createHash("sha256");
    const fd = openSync(path, "wx", 0o600);
    try {
      for (const chunk of list.chunks) {
        const bytes = this.objects.readChunk(chunk);
        if (!bytes)
          throw new BuckyError("E_NOT_FOUND", `blob ${blob.digest} is not whole on this device`);
        hash.update(bytes);
        let written = 0;
        while (written < bytes.length) written += writeSync(fd, bytes, written);
      }
    } finally {
      closeSync(fd);
    }
    const digest = `sha256:${hash.digest("hex")}`;
    if (digest !== blob.digest || list.size !== blob.size)
      throw new BuckyError(
        "E_INTEGRITY",
        `blob ${blob.digest} as stored hashes to ${digest}: it was altered`,
        "Nothing was started. Install the app again to fetch a good copy.",
      );
  }

  private remember(digest: string, object: ObjectId, size: number): void {
    if (size <= CHUNK_BYTES) return;
    mkdirSync(join(this.dir, "blobs"), { recursive: true });
    const path = this.mapPath(digest);
    if (!existsSync(path)) writeFileAtomic(path, `${object}\n`, 0o644);
  }

  private mapPath(digest: string): string {
    return join(this.dir, "blobs", digest.slice("sha256:".length));
  }
}

/** Every blob of a platform's image: manifest, config, layers. */
export function blobsOf(image: PlatformImage): ImageBlob[] {
  return [image.manifest, image.config, ...image.layers];
}

/** Runs a protocol check, reporting a failure as an integrity error. */
function verified(work: () => void): void {
  try {
    work();
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError("E_INTEGRITY", error.message, "Nothing was installed or started.");
    throw error;
  }
}
