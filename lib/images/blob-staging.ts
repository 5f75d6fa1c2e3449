/**
 * Blobs stored as they stream in, before they are checked: out of an image archive, before
 * it is known which of them are the image's (an archive's manifests can come last), and
 * from a registry, before a layer's digest is known to hold. Each is written once, as chunks
 * of named data hashed on the way in (and its whole SHA-256 with them), into a store of its
 * own beside the image store, under `<home>/images/incoming`: the collector of named data
 * never sees it, and it goes with the install, whatever ends it (a refusal, an error, or a
 * kill, after which the next start clears `incoming`). The image's blobs are then moved
 * into named data by renaming their chunks (ImageStore.putStagedBlob): nothing is written
 * twice, and what was staged but is not the image's (or failed its digest) goes with the
 * rest.
 */
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { CHUNK_BYTES, type ChunkId, chunkIdOf } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import { ObjectStore } from "../ndn/store.ts";

/** A blob as it was staged: its digest and size as read, and its chunks in order. */
export interface StagedBlob {
  readonly digest: string;
  readonly sizeBytes: number;
  readonly chunks: readonly ChunkId[];
}

export class BlobStaging {
  /** The staged chunks (never a chunk list: those are written only as a blob is stored). */
  readonly store: ObjectStore;
  /** A chunk's bytes as they come: one for every blob, staged one after another. */
  private buffer: Buffer | undefined;
  private staging = false;

  constructor(
    /** A directory under the image store's `incoming` (ImageStore.incomingPath). */
    readonly dir: string,
  ) {
    this.store = new ObjectStore(dir);
  }

  /**
   * Stages the bytes `pieces` yields, a chunk at a time, telling `written` of each chunk's
   * bytes once they are on the disk (or were there already). One blob at a time: the next
   * waits until this one is staged.
   */
  async put(
    pieces: AsyncIterable<Uint8Array>,
    written: (bytes: number) => void,
  ): Promise<StagedBlob> {
    if (this.staging) throw new BuckyError("E_INTERNAL", "two blobs staged at once in one place");
    this.staging = true;
    try {
      return await this.stage(pieces, written);
    } finally {
      this.staging = false;
    }
  }

  private async stage(
    pieces: AsyncIterable<Uint8Array>,
    written: (bytes: number) => void,
  ): Promise<StagedBlob> {
    const whole = createHash("sha256");
    const chunks: ChunkId[] = [];
    this.buffer ??= Buffer.allocUnsafe(CHUNK_BYTES);
    const buffer = this.buffer;
    let filled = 0;
    let sizeBytes = 0;
    const flush = () => {
      const bytes = buffer.subarray(0, filled);
      const id = chunkIdOf(bytes);
      this.store.writeHashedChunk(id, bytes);
      chunks.push(id);
      written(filled);
      filled = 0;
    };
    for await (const piece of pieces) {
      whole.update(piece);
      sizeBytes += piece.length;
      let at = 0;
      while (at < piece.length) {
        const taken = Math.min(CHUNK_BYTES - filled, piece.length - at);
        buffer.set(piece.subarray(at, at + taken), filled);
        filled += taken;
        at += taken;
        if (filled === CHUNK_BYTES) flush();
      }
    }
    // An empty blob is one empty chunk, as the store keeps an empty file.
    if (filled > 0 || chunks.length === 0) flush();
    return { digest: `sha256:${whole.digest("hex")}`, sizeBytes, chunks };
  }

  /** The bytes of a small staged blob, each chunk checked against its id as it is read. */
  read(blob: StagedBlob): Uint8Array {
    const parts = blob.chunks.map((chunk) => {
      const bytes = this.store.readChunk(chunk);
      if (!bytes) throw new BuckyError("E_INTERNAL", `the staged chunk ${chunk} is gone`);
      return bytes;
    });
    return new Uint8Array(Buffer.concat(parts));
  }

  /** Removes everything staged (what was the image's is in named data by then). */
  discard(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
