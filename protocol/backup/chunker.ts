/**
 * Content-defined chunking (FastCDC, with normalized chunking): cut points depend on
 * the bytes around them, so an insertion moves only the chunks it touches and the rest
 * deduplicate. The gear table comes from a per-repository secret, so where files are cut
 * says nothing about what is in them.
 *
 * SQLite files are cut differently (fixedChunks): at page-aligned offsets, so a page that
 * changed changes one chunk and every other page of the database deduplicates.
 */
import { createCipheriv } from "node:crypto";

export interface ChunkerParameters {
  readonly minBytes: number;
  readonly avgBytes: number;
  readonly maxBytes: number;
}

export const DEFAULT_CHUNKER: ChunkerParameters = {
  minBytes: 512 * 1024,
  avgBytes: 1024 * 1024,
  maxBytes: 8 * 1024 * 1024,
};

/** For page-aligned SQLite chunks: a multiple of every possible page size. */
export const SQLITE_CHUNK_BYTES = 256 * 1024;

/**
 * The largest chunk this bucky cuts, whatever a repository's config says: the bound a data
 * blob is opened within (the config is plain JSON that anyone who can write to the target
 * can edit).
 */
export const MAX_CHUNK_BYTES = Math.max(DEFAULT_CHUNKER.maxBytes, SQLITE_CHUNK_BYTES);

/** The smallest chunk sizes a repository's config may ask for (below: the default's). */
const MIN_CHUNK_BYTES = 4096;

/**
 * The chunk sizes of a repository's config, if they are ones this bucky cuts by (ordered,
 * at least MIN_CHUNK_BYTES, at most MAX_CHUNK_BYTES), else the default's: an edited config
 * makes neither chunks too large to be opened nor millions of tiny ones.
 */
export function chunkerParameters(config: ChunkerParameters): ChunkerParameters {
  const { minBytes, avgBytes, maxBytes } = config;
  return MIN_CHUNK_BYTES <= minBytes &&
    minBytes <= avgBytes &&
    avgBytes <= maxBytes &&
    maxBytes <= MAX_CHUNK_BYTES
    ? { minBytes, avgBytes, maxBytes }
    : DEFAULT_CHUNKER;
}

export class Chunker {
  private readonly gear: Int32Array;
  private readonly maskSmall: number;
  private readonly maskLarge: number;

  constructor(
    secret: Uint8Array,
    readonly parameters: ChunkerParameters = DEFAULT_CHUNKER,
  ) {
    // 256 pseudo-random 32-bit values: the AES-CTR keystream of the secret.
    const cipher = createCipheriv("aes-256-ctr", secret, new Uint8Array(16));
    const stream = cipher.update(new Uint8Array(256 * 4));
    this.gear = new Int32Array(stream.buffer, stream.byteOffset, 256).slice();
    // Normalized chunking: harder to cut before the average size, easier after, which
    // narrows the spread of chunk sizes. High bits, which depend on the most bytes.
    const bits = Math.round(Math.log2(parameters.avgBytes));
    this.maskSmall = highBits(bits + 2);
    this.maskLarge = highBits(bits - 2);
  }

  /** The length of the chunk that starts at `start` in `data[start, end)`. */
  cut(data: Uint8Array, start: number, end: number): number {
    const { minBytes, avgBytes, maxBytes } = this.parameters;
    let length = end - start;
    if (length <= minBytes) return length;
    if (length > maxBytes) length = maxBytes;
    const normal = Math.min(length, avgBytes);
    const gear = this.gear;
    const small = this.maskSmall;
    const large = this.maskLarge;
    let hash = 0;
    let i = start + minBytes;
    const normalEnd = start + normal;
    for (; i < normalEnd; i++) {
      hash = ((hash << 1) + (gear[data[i] as number] as number)) | 0;
      if ((hash & small) === 0) return i - start + 1;
    }
    const last = start + length;
    for (; i < last; i++) {
      hash = ((hash << 1) + (gear[data[i] as number] as number)) | 0;
      if ((hash & large) === 0) return i - start + 1;
    }
    return length;
  }
}

function highBits(count: number): number {
  return (0xffffffff << (32 - count)) | 0;
}
