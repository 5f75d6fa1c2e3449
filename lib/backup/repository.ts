/**
 * A backup repository opened with the zone's backup root: its keys, its index of blobs,
 * and the one way blobs are written (packed, sealed) and read back (checked against their
 * ids). Packs are written before the index that names them, and snapshots after both, so
 * a run cut short at any point leaves the repository valid: at worst a pack no index
 * names yet, which prune removes.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import {
  Chunker,
  chunkerParameters,
  DEFAULT_CHUNKER,
  MAX_CHUNK_BYTES,
} from "../../protocol/backup/chunker.ts";
import {
  type BlobLocation,
  type BlobType,
  decodeConfig,
  type IndexFile,
  inIndexOrder,
  MAX_CONFIG_FILE_BYTES,
  MAX_SNAPSHOT_FILE_BYTES,
  type RepositoryConfig,
  type Snapshot,
} from "../../protocol/backup/formats.ts";
import type { IndexFacts } from "../../protocol/backup/index-signature.ts";
import {
  type RepositoryKeys,
  repositoryKeyring,
  repositoryKeys,
} from "../../protocol/backup/keys.ts";
import { REMOTE_READ_MAX_BYTES } from "../../protocol/backup/remote.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import { type Backend, isPlainName, MAX_RANGE_BYTES, tooLarge } from "./backend.ts";
import { lstatIfThere } from "./confined-open.ts";
import { checkIndexFile } from "./index-trust.ts";
import { readGroups } from "./read-groups.ts";
import { release } from "./release.ts";
import { SealPool } from "./seal-pool.ts";
import {
  keysFit,
  newConfig,
  openBlob,
  openIndex,
  openSnapshot,
  sealIndex,
  sealSnapshot,
} from "./sealed.ts";
import type { SnapshotJudge } from "./snapshot-trust.ts";

/**
 * The roots a repository is opened with: the phrase's alone, or a keyring's (newest key
 * epoch first, the phrase's last: lib/backup/key-epochs.ts), the newest sealing.
 */
export type BackupRoots = Uint8Array | readonly Uint8Array[];

/** Packs are cut at about this size: big enough for few files, small enough to re-read. */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;
/** Snapshot files read at the same time when listing them. */
const SNAPSHOT_READS_AT_ONCE = 8;
/**
 * Index files fetched ahead when loading the index (their sealed bytes, each opened only as
 * it is taken in): memory stays bounded.
 */
const INDEX_READS_AT_ONCE = 8;
/**
 * An index file fetched ahead is read only up to this size; a larger one (a prune's, which
 * names every blob) is read when its turn comes, alone. Any holder of the backup key can
 * plant index files of the largest size (MAX_INDEX_FILE_BYTES), and eight of them fetched
 * ahead at once held 2 GiB in every backup, verify and restore. Ahead, at most 128 MiB.
 * Through another device (Backend.readsWholeUpTo), a file comes whole before its bound is
 * checked: there the bound ahead is what the device sends (48 MiB), as a smaller one would
 * hold no less and have every index file past it sent twice.
 */
const AHEAD_INDEX_FILE_BYTES = 16 * 1024 * 1024;
/** Pack directories (data/<xx>) listed at the same time when loading the index. */
const PACK_LISTS_AT_ONCE = 8;
/**
 * At most this many places of forged index files are kept (for prune to spare the packs
 * they name): anyone who can write to the target can write forged files naming millions.
 */
const FORGED_PLACES_MAX = 1 << 20;
/**
 * At most this many places are taken from untrusted index files in all (unsigned ones, once
 * a device signs or before any is read, and revoked devices'), counting only those no file
 * read before gives: anyone who can write to the target can write files naming millions of
 * made-up blobs, or real ones at made-up places, and every backup, verify and restore loads
 * them. Some four million: terabytes at the chunker's 1 MiB. Past it, the rest of such a
 * file is left out, as a file that does not open is (a prune deletes nothing a kept
 * snapshot may need); an older bucky's unsigned files, where no file is trusted signed,
 * are read again whole (loadIndex).
 */
const UNTRUSTED_ENTRIES_MAX = 4 * 1024 * 1024;
/**
 * At most this many places are tried for a blob that does not open at its chosen one
 * (readElsewhere), trusted files' first. An honest repository gives a blob more than one
 * place only where it was stored again: by a backup that would not take an untrusted file's
 * word for it, or by devices backing up at once, each its own copy: a few places, so eight
 * leave room for a zone of several devices. Each try reads up to the blob's length (a MiB
 * for a chunk); without a cap, files planted by anyone who can write to the target, each
 * naming the blob at a place of its own, cost a read each, up to four million
 * (UNTRUSTED_ENTRIES_MAX). Past it, the blob reads as damaged, and readBlob says why.
 */
const PLACES_TRIED_MAX = 8;
/** Runs of places read at the same time when vouching for many blobs (each at most 32 MiB). */
const VOUCH_READS_AT_ONCE = 4;
/** At most this many packs being written while the next one fills. */
const PACKS_IN_FLIGHT = 1;
/** At most this many plaintext bytes being named and sealed: memory stays bounded. */
const SEALING_MAX_BYTES = 16 * 1024 * 1024;
/**
 * At most about this many bytes of packs cut and not yet written (about those in flight):
 * where the target writes slower than blobs are sealed, the reading waits, rather than
 * packs piling up in memory.
 */
const UNWRITTEN_MAX_BYTES = PACKS_IN_FLIGHT * PACK_TARGET_BYTES;

/**
 * An index file is read only up to this size. Any holder of the backup key can write one,
 * and every backup, verify and restore reads them all. The largest a repository holds is
 * the one a prune writes, which names every blob: about 46 bytes each, sealed, so this is
 * some 5.8 million blobs (terabytes at the chunker's 1 MiB, or millions of small files);
 * a pack's own names at most its 16 MiB of blobs (some 26 MiB, were they all one byte).
 */
export const MAX_INDEX_FILE_BYTES = 256 * 1024 * 1024;

/**
 * The most a blob may decompress to, whatever its index entry says (an unsigned one, or a
 * revoked device's, may say anything): a tree is one directory's listing, a few hundred
 * bytes a file, so this is a directory of about a million files. A data blob is at most
 * the largest chunk this bucky cuts (MAX_CHUNK_BYTES).
 */
const MAX_TREE_BLOB_BYTES = 256 * 1024 * 1024;

/** The most a blob of `type` may be, whatever its index entry says. */
const mostOf = (type: BlobType) => (type === "data" ? MAX_CHUNK_BYTES : MAX_TREE_BLOB_BYTES);
/**
 * More than sealing adds to a blob (a nonce, a tag, a byte saying how it is compressed:
 * 29 bytes; compressed only where smaller).
 */
const SEALING_ADDS_AT_MOST = 1024;

/**
 * Whether an index entry's sizes fit a blob of its type: one that does not is never taken
 * in, so no read is sized by it (any holder of the backup key can write an entry saying a
 * blob is gigabytes long, and every read of it would be that long).
 */
const entryFits = (blob: BlobLocation) =>
  blob.size <= mostOf(blob.type) && blob.length <= blob.size + SEALING_ADDS_AT_MOST;

/** How far an index file's word on a place goes (lib/backup/index-trust.ts). */
type PlaceTrust = "trusted" | "unsigned" | "untrusted" | "forged";

/** A place an index file gives for a blob, and how far that file is trusted. */
interface Place {
  readonly location: BlobLocation;
  readonly trust: PlaceTrust;
}

/**
 * Whether two index entries say the same of a blob: its place, and its type and size too
 * (a restore places a file's chunks by their sizes: an entry that gives a blob's real place
 * with another size is another word, not the same one).
 */
const samePlace = (a: BlobLocation, b: BlobLocation) =>
  a.pack === b.pack &&
  a.offset === b.offset &&
  a.length === b.length &&
  a.type === b.type &&
  a.size === b.size;

/** Whether `error` says a blob is not where an entry places it (damaged, cut short, gone). */
const isMisplaced = (error: unknown) =>
  (error instanceof BuckyError && (error.code === "E_INTEGRITY" || error.code === "E_NOT_FOUND")) ||
  error instanceof ProtocolError;

/**
 * The most one index file prune writes may be, sealed: below what a via (a member passing a
 * target's files on to devices that cannot reach it) carries in one answer, so every member
 * can read every index file.
 */
export const INDEX_FILE_SPLIT_BYTES = REMOTE_READ_MAX_BYTES - 1024 * 1024;
/** Blobs named in one index file of places a backup confirmed: well below the split bytes. */
const VOUCHED_PER_FILE = Math.floor(INDEX_FILE_SPLIT_BYTES / 128);

export const packPath = (pack: string) => `data/${pack.slice(0, 2)}/${pack}`;
/**
 * The most a pack bucky writes holds: it is cut once past PACK_TARGET_BYTES, so short of
 * it before its last blob, which is at most the largest blob sealed (MAX_RANGE_BYTES). A
 * pack is read whole only up to this: anyone who can write to the target can grow one.
 */
export const MAX_PACK_BYTES = PACK_TARGET_BYTES + MAX_RANGE_BYTES;

/** Signs an index file about to be written (lib/backup/index-trust.ts indexSigner). */
export type IndexSigner = (facts: IndexFacts) => string;

export interface OpenOptions {
  readonly cacheDir?: string;
  readonly withIndex?: boolean;
  /** Signs the index files this session writes; without, they are unsigned (an older bucky's form). */
  readonly signer?: IndexSigner;
  /** The most blobs taken from untrusted index files in all (UNTRUSTED_ENTRIES_MAX; tests make it small). */
  readonly untrustedEntriesMax?: number;
}

/** An index file's sealed bytes, and whether they are the local cache's copy. */
interface SealedIndexFile {
  readonly bytes: Uint8Array;
  readonly cached: boolean;
}

/** An index file left out as forged: why, and the device whose key signed it, if any. */
export interface ForgedIndexFile {
  readonly name: string;
  readonly why: string;
  /** The device whose key signed it: its name in the zone, else its id; null if none did. */
  readonly signedBy: string | null;
}

export class Repository {
  /** Where each blob is: of the places the index files give, the one chosen (loadIndex). */
  private readonly index = new Map<string, BlobLocation>();
  /**
   * The blobs whose chosen place only untrusted index files give (unsigned ones once a
   * device signs, or signed by a device not in good standing), and that no read has
   * confirmed: what placeNeeded remembers of a place's word when it chooses again.
   */
  private readonly weak = new Set<string>();
  /**
   * The blobs whose chosen place no trusted signed index file gives (an unsigned one, even
   * where unsigned files count as trusted for choosing a place, or an untrusted one), and
   * that no read has confirmed: a backup reads them there before it takes them as stored,
   * and a prune before it signs their place (vouch). A superset of `weak`.
   */
  private readonly unvouched = new Set<string>();
  /**
   * The other places index files give for a blob (another file naming it elsewhere): the
   * ones a read may fall back on (vouch), and the packs a prune must not delete while they
   * may hold a blob a kept snapshot needs. Forged files' places are here too (never chosen).
   */
  private readonly spares = new Map<string, Place[]>();
  /** How many places of forged files `spares` holds: bounded (FORGED_PLACES_MAX). */
  private forgedPlaces = 0;
  /** How many new places untrusted index files gave in this load: bounded (untrustedEntriesMax). */
  private untrustedEntries = 0;
  /** Blobs added in this session and not yet in a written pack. */
  private readonly pending = new Map<string, BlobType>();
  private packParts: Uint8Array[] = [];
  private packBlobs: Omit<BlobLocation, "pack">[] = [];
  private packBytes = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly sealing = new Set<Promise<void>>();
  private sealingBytes = 0;
  /** Packs cut and not yet written, each until it is (or has failed). */
  private readonly unwritten = new Set<Promise<void>>();
  private unwrittenBytes = 0;
  private pool: SealPool | undefined;
  private failure: unknown;
  /** Bytes written to the target in this session. */
  storedBytes = 0;
  readonly chunker: Chunker;

  private constructor(
    readonly backend: Backend,
    readonly config: RepositoryConfig,
    readonly keys: RepositoryKeys,
    /** Where sealed index files are kept between runs, if anywhere. */
    private readonly cacheDir: string | undefined,
    private readonly signer: IndexSigner | undefined,
    private readonly untrustedEntriesMax = UNTRUSTED_ENTRIES_MAX,
  ) {
    this.chunker = new Chunker(keys.chunker, chunkerParameters(config.chunker));
  }

  /** Opens the repository at `backend`, creating it first if the target holds none. */
  static async openOrCreate(
    backend: Backend,
    backupRoot: BackupRoots,
    options: OpenOptions = {},
  ): Promise<Repository> {
    const id = randomBytes(16).toString("hex");
    // Its key check is the phrase's root's (epoch 0): every key epoch's reader holds that.
    const phraseRoot = backupRoot instanceof Uint8Array ? backupRoot : backupRoot.at(-1);
    if (!phraseRoot) throw new Error("a repository is opened with at least one root");
    const config = newConfig(id, repositoryKeys(phraseRoot, id), DEFAULT_CHUNKER, new Date());
    // create() does nothing where a repository exists: then that one is opened.
    await backend.create(
      "config",
      new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`),
    );
    return Repository.open(backend, backupRoot, options);
  }

  /**
   * Opens the repository at `backend`. Its index is loaded: from `cacheDir` for the
   * index files seen before, from the target for the others.
   */
  static async open(
    backend: Backend,
    backupRoot: BackupRoots,
    options: OpenOptions = {},
  ): Promise<Repository> {
    let config: RepositoryConfig;
    try {
      // Bounded: anyone who can write to the target can write a config.
      config = decodeConfig(await backend.read("config", MAX_CONFIG_FILE_BYTES));
    } catch (error) {
      if (error instanceof BuckyError && error.code === "E_NOT_FOUND") {
        throw new BuckyError(
          "E_NOT_FOUND",
          `there is no bucky backup repository at ${backend.location}`,
          "Check the target's address; `bucky backup target add` makes a new one.",
        );
      }
      if (error instanceof ProtocolError)
        throw new BuckyError("E_INTEGRITY", `${backend.location}: ${error.message}`);
      if (isTooLarge(error))
        throw new BuckyError(
          "E_INTEGRITY",
          `${backend.location}: its config is larger than a bucky backup repository's can be (${MAX_CONFIG_FILE_BYTES} bytes): not read`,
          "Someone who can write to the target replaced it, or the target holds something else: check its address.",
        );
      throw error;
    }
    const keys =
      backupRoot instanceof Uint8Array
        ? repositoryKeys(backupRoot, config.id)
        : repositoryKeyring(backupRoot, config.id);
    if (!keysFit(config, keys)) {
      throw new BuckyError(
        "E_PERMISSION",
        `the backup at ${backend.location} was made with another recovery phrase`,
        "Use the zone whose phrase made it (recover it with `bucky init --recover`), or another target.",
      );
    }
    const cacheDir = options.cacheDir ? join(options.cacheDir, config.id) : undefined;
    const repository = new Repository(
      backend,
      config,
      keys,
      cacheDir,
      options.signer,
      options.untrustedEntriesMax,
    );
    if (options.withIndex !== false) await repository.loadIndex();
    return repository;
  }

  get id(): string {
    return this.config.id;
  }

  /**
   * Whether a backup may take the blob `id` as there: added in this session, at a place a
   * trusted signed index file gives, or read there in this session (vouch). An unsigned
   * file's word is not enough, even where no file is trusted-signed (an older bucky's
   * repository, or one whose signed files were deleted): anyone who can write to the target
   * could plant one naming what a backup is about to add, which would then store none of it.
   */
  has(id: string): boolean {
    return this.pending.has(id) || (this.index.has(id) && !this.unvouched.has(id));
  }

  locate(id: string): BlobLocation | undefined {
    return this.index.get(id);
  }

  /**
   * Takes the blobs `ids` as not known to be where the index places them (a verify found
   * them damaged there): a backup reads each before taking it as stored, and stores it
   * again where it opens at no place (add, vouch). Call after the index is loaded.
   */
  distrust(ids: Iterable<string>): void {
    for (const id of ids) if (this.index.has(id)) this.unvouched.add(id);
  }

  /** Every blob the index names. */
  blobs(): IterableIterator<BlobLocation> {
    return this.index.values();
  }

  /**
   * Adds a blob unless the repository has it: names it on a worker thread, then, if it is
   * new, seals it there and puts it in a pack (written when full, or at flush()). What
   * comes back is its id and its size when new, 0 when deduplicated, as soon as it is
   * named. `plaintext` is copied before this returns, so its buffer may be reused at once;
   * callers adding many should wait for room() between them.
   */
  add(type: BlobType, plaintext: Uint8Array): Promise<{ id: string; added: number }> {
    if (this.failure) return Promise.reject(this.failure);
    this.pool ??= new SealPool(this.keys);
    const size = plaintext.length;
    const hashed = this.pool.hash(plaintext);
    const named = hashed.then(async (blob) => {
      // Where no trusted signed file places it, it is read there (once it opens, its place
      // goes into this session's index file, signed): stored again only if it is not there.
      if (!this.has(blob.id) && this.unvouched.has(blob.id) && (await this.vouch(blob.id))) {
        const place = this.index.get(blob.id);
        if (place) this.vouched.push(place);
      }
      if (this.has(blob.id)) {
        this.pool?.drop(blob);
        return { blob, added: 0 };
      }
      this.pending.set(blob.id, type);
      return { blob, added: size };
    });
    const job: Promise<void> = named
      .then(async ({ blob, added }) => {
        if (added === 0 || !this.pool) return;
        await this.pack(blob.id, type, size, await this.pool.seal(blob));
      })
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.sealing.delete(job);
        this.sealingBytes -= size;
      });
    this.sealing.add(job);
    this.sealingBytes += size;
    return named.then(({ blob, added }) => ({ id: blob.id, added }));
  }

  /**
   * Waits while too much is being named and sealed, or written; throws what went wrong
   * meanwhile.
   */
  async room(): Promise<void> {
    while (this.sealingBytes > SEALING_MAX_BYTES || this.unwrittenBytes > UNWRITTEN_MAX_BYTES)
      await Promise.race([...this.sealing, ...this.unwritten]);
    if (this.failure) throw this.failure;
  }

  /** Writes what is pending, and waits for every write to finish. */
  async flush(): Promise<void> {
    await Promise.all(this.sealing);
    if (this.packBytes > 0) await this.cutPack();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
    await this.writeVouched();
  }

  /**
   * Blobs this session found, by reading them, where no trusted signed index file placed
   * them: named in an index file of their own, signed, so the next backup takes them as
   * stored without reading them again (an older bucky's repository, from the first backup
   * of a device that signs).
   */
  private vouched: BlobLocation[] = [];

  private async writeVouched(): Promise<void> {
    const places = this.vouched;
    this.vouched = [];
    if (!this.signer) return;
    // In files a via carries (about 46 bytes a blob, sealed).
    for (let at = 0; at < places.length; at += VOUCHED_PER_FILE) {
      const name = randomBytes(16).toString("hex");
      const index = this.sealIndexFile(name, places.slice(at, at + VOUCHED_PER_FILE));
      await this.backend.write(`index/${name}`, index);
      this.cacheIndex(name, index);
      this.storedBytes += index.length;
    }
  }

  /** Stops the sealing threads. */
  close(): void {
    this.pool?.close();
    this.pool = undefined;
  }

  /** Puts a sealed blob in the pack being filled; cuts it when full. */
  private async pack(id: string, type: BlobType, size: number, sealed: Uint8Array): Promise<void> {
    // A backend that takes writes of a bounded size gets packs that fit: the pack so far
    // is cut (taken out at once, written meanwhile) before one that would not.
    const max = this.backend.maxWriteBytes;
    const cut =
      max !== undefined && this.packBytes > 0 && this.packBytes + sealed.length > max
        ? this.cutPack()
        : undefined;
    this.packBlobs.push({ id, type, offset: this.packBytes, length: sealed.length, size });
    this.packParts.push(sealed);
    this.packBytes += sealed.length;
    await cut;
    if (this.packBytes >= PACK_TARGET_BYTES) await this.cutPack();
  }

  /**
   * A blob's plaintext, checked against its id and size: read at its chosen place, and
   * where it does not open there, at the other places index files give (readElsewhere).
   */
  async readBlob(id: string): Promise<Uint8Array> {
    const where = this.index.get(id);
    if (!where)
      throw new BuckyError("E_INTEGRITY", `blob ${id.slice(0, 12)} is missing from the repository`);
    try {
      return await this.readAt(where);
    } catch (error) {
      if (!isMisplaced(error)) throw error;
      const found = await this.findElsewhere(id, where);
      if ("plaintext" in found) return found.plaintext;
      if (found.untried === 0) throw error;
      throw new BuckyError(
        "E_INTEGRITY",
        `blob ${id.slice(0, 12)} opens neither at its place nor at the ${PLACES_TRIED_MAX} others tried; index files give ${found.untried} more for it, not read: more than an honest repository gives (${error instanceof Error ? error.message : String(error)})`,
        "Someone who can write to the target planted index files naming it at made-up places. A backup of the files that hold it stores it again.",
      );
    }
  }

  /** The blob at `place`, opened and checked. */
  private async readAt(place: BlobLocation): Promise<Uint8Array> {
    const sealed = await this.backend.readRange(packPath(place.pack), place.offset, place.length);
    return this.openSealedBlob(place, sealed);
  }

  /**
   * The blob `id` read at a place index files give other than `tried` (where it did not
   * open), never a forged file's, a trusted file's first: the first where it opens and
   * checks becomes its place.
   * Undefined if it opens at none of the places tried (at most PLACES_TRIED_MAX). Anyone who
   * can write to the target can plant a file naming a blob at a wrong place, chosen before
   * the right one (a revoked device's file in a disaster restore, where no state says it is
   * revoked): the right one still serves, unless they plant more than the cap.
   */
  async readElsewhere(id: string, tried: BlobLocation): Promise<Uint8Array | undefined> {
    const found = await this.findElsewhere(id, tried);
    return "plaintext" in found ? found.plaintext : undefined;
  }

  /**
   * readElsewhere, saying, where the blob opens at none of the places tried, how many places
   * the cap left untried.
   */
  private async findElsewhere(
    id: string,
    tried: BlobLocation,
  ): Promise<{ plaintext: Uint8Array } | { untried: number }> {
    const chosen = this.index.get(id);
    const rangeOf = (place: BlobLocation) => `${place.pack}:${place.offset}:${place.length}`;
    const byRange = (a: BlobLocation, b: BlobLocation) => compareCodeUnits(rangeOf(a), rangeOf(b));
    // A trusted file's places first: a planted file's many come after them. Within each,
    // by range, so entries differing only in type or size are opened from one read.
    const spares = (this.spares.get(id) ?? []).filter((place) => place.trust !== "forged");
    const of = (trusted: boolean) =>
      spares
        .filter((place) => (place.trust === "trusted") === trusted)
        .map((place) => place.location)
        .sort(byRange);
    // Each place once, however many files give it (and never the one tried).
    const places = new Map<string, BlobLocation>();
    for (const place of [...(chosen ? [chosen] : []), ...of(true), ...of(false)]) {
      const key = `${rangeOf(place)}:${place.type}:${place.size}`;
      if (!samePlace(place, tried) && !places.has(key)) places.set(key, place);
    }
    // Each range read once: the last one read is kept for the entries that follow it, and
    // those that did not read are not tried again.
    const unread = new Set<string>();
    let last: { range: string; sealed: Uint8Array } | undefined;
    let count = 0;
    const list = [...places.values()];
    for (const [at, place] of list.entries()) {
      const range = rangeOf(place);
      if (unread.has(range)) continue;
      if (count === PLACES_TRIED_MAX)
        return { untried: list.slice(at).filter((left) => !unread.has(rangeOf(left))).length };
      count += 1;
      let sealed = last?.range === range ? last.sealed : undefined;
      if (!sealed) {
        try {
          sealed = await this.backend.readRange(packPath(place.pack), place.offset, place.length);
        } catch (error) {
          if (!isMisplaced(error)) throw error;
          unread.add(range);
          continue;
        }
        last = { range, sealed };
      }
      let plaintext: Uint8Array;
      try {
        plaintext = this.openSealedBlob(place, sealed);
      } catch (error) {
        if (isMisplaced(error)) continue;
        throw error;
      }
      this.index.set(id, place);
      this.weak.delete(id);
      this.unvouched.delete(id);
      return { plaintext };
    }
    return { untried: 0 };
  }

  /**
   * Opens a sealed blob read as part of a pack, decompressed to no more than its size
   * (`blob` is its index entry) and what a blob of its type can be.
   */
  openSealedBlob(blob: Pick<BlobLocation, "id" | "type" | "size">, sealed: Uint8Array): Uint8Array {
    const { id } = blob;
    // A fixed bound, never the config's word: the config is plain JSON anyone who can
    // write to the target can edit.
    const most = mostOf(blob.type);
    try {
      if (!(Number.isSafeInteger(blob.size) && blob.size >= 0 && blob.size <= most))
        throw new ProtocolError(
          `its index entry says ${blob.size} bytes, more than a ${blob.type} blob can be`,
        );
      const plaintext = openBlob(this.keys, id, sealed, blob.size);
      // Its index entry's size is what a restore places the next chunk by: checked too (the
      // id alone would take a real blob an entry gives with any size).
      if (plaintext.length !== blob.size)
        throw new ProtocolError(
          `it holds ${plaintext.length} bytes where its index entry says ${blob.size}`,
        );
      return plaintext;
    } catch (error) {
      if (error instanceof ProtocolError)
        throw new BuckyError("E_INTEGRITY", `blob ${id.slice(0, 12)} is damaged: ${error.message}`);
      throw error;
    }
  }

  /**
   * Writes a snapshot under a new random name: `snapshot` is the snapshot, or makes it for
   * the name it will have (its signature covers the name). `first` files what goes beside
   * it (its keys), before it is there.
   */
  async writeSnapshot(
    snapshot: Snapshot | ((name: string) => Snapshot),
    first?: (name: string) => Promise<void>,
  ): Promise<string> {
    const name = randomBytes(16).toString("hex");
    const made = typeof snapshot === "function" ? snapshot(name) : snapshot;
    await first?.(name);
    await this.backend.write(`snapshots/${name}`, sealSnapshot(this.keys, name, made));
    return name;
  }

  /**
   * The snapshots that open, oldest first. One that does not (damaged, or written by a
   * holder of the backup key to be unreadable) is left out, not an error: every backup,
   * list and restore of every device reads this list, and one file any such holder can
   * add must not stop them all. Those left out are in `unreadable` after (verify says them).
   * Each file is read only up to what a snapshot holds (MAX_SNAPSHOT_FILE_BYTES), and a
   * few at a time, so however many there are, and however large, memory stays bounded.
   */
  async snapshots(): Promise<{ name: string; snapshot: Snapshot }[]> {
    const names = await this.backend.list("snapshots");
    const unreadable: { name: string; problem: string }[] = [];
    const found: ({ name: string; snapshot: Snapshot } | undefined)[] = [];
    const readOne = async (name: string) => {
      try {
        const sealed = await this.backend.read(`snapshots/${name}`, MAX_SNAPSHOT_FILE_BYTES);
        return { name, snapshot: openSnapshot(this.keys, name, sealed) };
      } catch (error) {
        if (error instanceof ProtocolError) unreadable.push({ name, problem: error.message });
        else if (isTooLarge(error))
          unreadable.push({ name, problem: `it is larger than a snapshot can be` });
        else throw error;
        return undefined;
      }
    };
    let next = 0;
    const reader = async () => {
      while (next < names.length) {
        const index = next++;
        found[index] = await readOne(names[index] as string);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(SNAPSHOT_READS_AT_ONCE, names.length) }, reader),
    );
    this.unreadableSnapshots = unreadable.sort((a, b) => compareCodeUnits(a.name, b.name));
    return found
      .filter((entry) => entry !== undefined)
      .sort((a, b) => compareCodeUnits(a.snapshot.time, b.snapshot.time));
  }

  /** The snapshot files the last snapshots() could not open, and why. */
  unreadableSnapshots: readonly { readonly name: string; readonly problem: string }[] = [];

  /** Finds a snapshot by name prefix, or "latest". */
  async findSnapshot(which: string): Promise<{ name: string; snapshot: Snapshot }> {
    const all = await this.snapshots();
    if (which === "latest") {
      const latest = all.at(-1);
      if (!latest)
        throw new BuckyError(
          "E_NOT_FOUND",
          `${this.backend.location} has no snapshots yet`,
          "Make one with `bucky backup run`.",
        );
      return latest;
    }
    const matches = namedBy(all, which);
    if (matches.length === 1) return matches[0] as { name: string; snapshot: Snapshot };
    throw new BuckyError(
      matches.length === 0 ? "E_NOT_FOUND" : "E_INVALID_INPUT",
      matches.length === 0
        ? `no snapshot ${which} in ${this.backend.location}`
        : `${which} names ${matches.length} snapshots`,
      "See them with `bucky backup list`.",
    );
  }

  /**
   * Replaces the index files with new ones that name exactly `blobs` (prune): as many as
   * keep each below `maxFileBytes` (and what the backend takes in one write), so a via can
   * pass every one on. What the old ones were is returned.
   */
  async rewriteIndex(
    blobs: readonly BlobLocation[],
    maxFileBytes = INDEX_FILE_SPLIT_BYTES,
  ): Promise<string[]> {
    const old = await this.backend.list("index");
    const most = Math.min(maxFileBytes, this.backend.maxWriteBytes ?? maxFileBytes);
    const ordered = inIndexOrder(blobs);
    // About the most blobs a file holds (a sealed entry is some 46 bytes, compressed);
    // a part sealed larger than it may be is split in two, until it fits.
    const write = async (part: readonly BlobLocation[]): Promise<void> => {
      const name = randomBytes(16).toString("hex");
      const sealed = this.sealIndexFile(name, part);
      if (sealed.length > most && part.length > 1) {
        const half = Math.ceil(part.length / 2);
        await write(part.slice(0, half));
        await write(part.slice(half));
        return;
      }
      await this.backend.write(`index/${name}`, sealed);
      this.cacheIndex(name, sealed);
    };
    const perFile = Math.max(1, Math.floor(most / 64));
    for (let at = 0; at < ordered.length || at === 0; at += perFile)
      await write(ordered.slice(at, at + perFile));
    for (const file of old) await this.backend.remove(`index/${file}`);
    this.uncacheIndex(old);
    this.index.clear();
    this.weak.clear();
    this.unvouched.clear();
    this.spares.clear();
    this.forgedPlaces = 0;
    this.cut = [];
    for (const blob of blobs) this.index.set(blob.id, blob);
    return old;
  }

  /** An index file naming `blobs`, sealed, and signed when this session has a signer. */
  private sealIndexFile(name: string, blobs: readonly BlobLocation[]): Uint8Array {
    const signer = this.signer;
    return sealIndex(
      this.keys,
      name,
      blobs,
      signer && ((ordered) => signer({ name, repository: this.id, ...ordered })),
    );
  }

  /** Takes the packed blobs out and writes them: the pack, then its index file. */
  private async cutPack(): Promise<void> {
    const parts = this.packParts;
    const blobs = this.packBlobs;
    this.packParts = [];
    this.packBlobs = [];
    this.packBytes = 0;
    const hash = createHash("sha256");
    for (const part of parts) hash.update(part);
    const packId = hash.digest("hex");
    const packLength = parts.reduce((n, part) => n + part.length, 0);
    const located = blobs.map((blob) => ({ ...blob, pack: packId }));
    let written = () => {};
    const unwritten = new Promise<void>((resolve) => {
      written = resolve;
    });
    this.unwritten.add(unwritten);
    this.unwrittenBytes += packLength;
    const done = () => {
      this.unwritten.delete(unwritten);
      this.unwrittenBytes -= packLength;
      written();
    };
    while (this.inFlight.size >= PACKS_IN_FLIGHT) await Promise.race(this.inFlight);
    const write = (async () => {
      await this.backend.write(packPath(packId), parts);
      const name = randomBytes(16).toString("hex");
      const index = this.sealIndexFile(name, located);
      await this.backend.write(`index/${name}`, index);
      this.cacheIndex(name, index);
      this.storedBytes += packLength + index.length;
      // Written: the sealed blobs (each its own buffer, from the sealing thread) are done with.
      for (const part of parts) release(part);
      for (const blob of located) {
        this.index.set(blob.id, blob);
        this.weak.delete(blob.id);
        this.unvouched.delete(blob.id);
        this.pending.delete(blob.id);
      }
    })()
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(done);
    this.inFlight.add(write);
    void write.finally(() => this.inFlight.delete(write));
    if (this.failure) throw this.failure;
  }

  /**
   * Reads the index files (again): after taking the lock, so a prune cannot change them
   * under us; a few at a time, so memory is bounded by the index, not by how many files
   * there are; taken in in name order, so what is chosen does not depend on which read
   * ends first. Any holder of the backup key can write one, so each is checked
   * (lib/backup/index-trust.ts) against `judge`, the zone, where there is one:
   *   - one that does not open, or is larger than an index can be, is left out, not an
   *     error, as an unreadable snapshot is: the blobs only it names read as missing;
   *   - one whose signature does not hold, or holds for other blobs, or is not by a key the
   *     owner admitted, is forged: left out too (prune deletes it);
   *   - one signed by a device in good standing (or one the owner admitted that the zone
   *     state at hand does not know yet) is trusted; so is an unsigned one (an older
   *     bucky's) while no file of the repository is trusted-signed, for choosing a place
   *     only (a backup still reads a blob there before taking it as stored: has); the
   *     others (unsigned once a device signs, a revoked device's) are read, their word
   *     yielding to a trusted file's. (Without `judge`, every signature that holds counts
   *     as trusted.)
   * Then the packs are listed: a place in a pack that is not there is no place (an old
   * index file put back names packs a prune deleted). Of the places left for a blob, the
   * first a trusted file gives is taken, else the first.
   * Those left out are in `unreadableIndexFiles` and `forgedIndexFiles` after (verify and
   * prune say them).
   */
  async loadIndex(judge?: SnapshotJudge): Promise<void> {
    this.index.clear();
    this.weak.clear();
    this.unvouched.clear();
    // Marks a load cut short by an error left.
    this.weakTrust.clear();
    this.spares.clear();
    this.forgedPlaces = 0;
    this.untrustedEntries = 0;
    this.cut = [];
    this.sought.clear();
    this.judge = judge;
    const names = (await this.backend.list("index")).sort(compareCodeUnits);
    this.keepCachedIndex(names);
    const unreadable: { name: string; problem: string }[] = [];
    const forged: ForgedIndexFile[] = [];
    type Read = { file: IndexFile } | { problem: string } | { error: unknown };
    type Fetch = Promise<{ sealed: SealedIndexFile } | { error: unknown }>;
    const fetchOne = (name: string, maxBytes: number): Fetch =>
      this.fetchIndexFile(name, maxBytes).then(
        (sealed) => ({ sealed }),
        (error: unknown) => ({ error }),
      );
    const openOne = async (name: string, fetch: Fetch): Promise<Read> => {
      try {
        let fetched = await fetch;
        // Too large to be fetched ahead: read now, on its own.
        if ("error" in fetched && isTooLarge(fetched.error))
          fetched = await fetchOne(name, MAX_INDEX_FILE_BYTES);
        if ("error" in fetched) throw fetched.error;
        return { file: await this.openIndexFile(name, fetched.sealed) };
      } catch (error) {
        if (error instanceof ProtocolError) return { problem: error.message };
        if (isTooLarge(error)) return { problem: "it is larger than an index file can be" };
        return { error };
      }
    };
    const readOne = (name: string) => openOne(name, fetchOne(name, MAX_INDEX_FILE_BYTES));
    const aheadBytes = Math.min(
      MAX_INDEX_FILE_BYTES,
      Math.max(AHEAD_INDEX_FILE_BYTES, this.backend.readsWholeUpTo ?? 0),
    );
    // A few fetched ahead (their sealed bytes only), each opened as it is taken in, in name
    // order: a load holds a few sealed files and one opened at a time, so its memory is
    // bounded by the index it builds and the largest file, not by how many files there are.
    const reads: Fetch[] = [];
    let started = 0;
    let signed = false;
    // Unsigned files past the bound read before any trusted signed one: the rest of each
    // (from `from`) is taken in after all, uncapped, if none turns up (an older bucky's
    // repository may name more blobs than the bound), else left out.
    const deferred: { name: string; from: number; leftOut: number }[] = [];
    for (const name of names) {
      while (started < names.length && reads.length < INDEX_READS_AT_ONCE)
        reads.push(fetchOne(names[started++] as string, aheadBytes));
      const read = await openOne(name, reads.shift() as Fetch);
      if ("error" in read) {
        await Promise.all(reads);
        throw read.error;
      }
      if ("problem" in read) {
        unreadable.push({ name, problem: read.problem });
        continue;
      }
      const check = checkIndexFile(name, this.id, read.file, judge);
      if (check.trust === "forged") {
        forged.push({ name, why: check.why, signedBy: check.signedBy });
        this.merge(read.file.blobs, "forged");
        continue;
      }
      // A device the owner admitted that the zone state at hand does not know yet (in a
      // disaster restore, the state is not known at all) is taken at its owner's word.
      const trusted = check.trust === "signed" || check.trust === "unknown";
      if (trusted) signed = true;
      const blobs = read.file.blobs;
      if (trusted) {
        this.merge(blobs, "trusted");
        continue;
      }
      // Only places no file read before gives count toward the bound.
      const trust = check.trust === "unsigned" ? "unsigned" : "untrusted";
      const taken = this.merge(blobs, trust, true);
      if (taken === blobs.length) continue;
      const leftOut = this.newPlacesIn(blobs.slice(taken));
      if (trust === "unsigned" && !signed) deferred.push({ name, from: taken, leftOut });
      else {
        unreadable.push({ name, problem: this.boundProblem(leftOut) });
        this.cut.push(name);
      }
    }
    // No file is trusted signed: this is an older bucky's repository, all of whose files
    // are its own word. The rest of each is read again (it was not kept in memory), up to
    // as many places again as the bound; past that, a file stays cut short (a prune or a
    // restore still finds what it needs in it: placeNeeded).
    if (!signed) this.untrustedEntries = 0;
    for (const { name, from, leftOut } of deferred) {
      if (signed) {
        unreadable.push({ name, problem: this.boundProblem(leftOut) });
        this.cut.push(name);
        continue;
      }
      const read = await readOne(name);
      if ("error" in read) throw read.error;
      if ("problem" in read) {
        unreadable.push({ name, problem: read.problem });
        continue;
      }
      const rest = read.file.blobs.slice(from);
      const taken = this.merge(rest, "unsigned", true);
      if (taken === rest.length) continue;
      unreadable.push({ name, problem: this.boundProblem(this.newPlacesIn(rest.slice(taken))) });
      this.cut.push(name);
    }
    unreadable.sort((a, b) => compareCodeUnits(a.name, b.name));
    this.signed = signed;
    this.choosePlaces(await this.packsNamed(), signed);
    this.unreadableIndexFiles = unreadable;
    this.forgedIndexFiles = forged;
  }

  /**
   * Takes in, from the index files the bound cut short (loadIndex), the places they give
   * for those of `ids` the index has none for, or only one no trusted signed file gives: a
   * prune's or a restore's needed blobs, as many as the snapshots name, so a planted file
   * filling the bound (with made-up blobs, or real ones at wrong places) crowds no genuine
   * file out of them (an older bucky's unsigned files, once a device signs). Each file is
   * read again and checked again (it may have been replaced since); an id is looked for
   * once per load.
   */
  async placeNeeded(ids: Iterable<string>): Promise<void> {
    if (this.cut.length === 0) return;
    const wanted = new Set<string>();
    for (const id of ids)
      if ((!this.index.has(id) || this.unvouched.has(id)) && !this.sought.has(id)) {
        wanted.add(id);
        this.sought.add(id);
        if (!this.index.has(id)) continue;
        // Chosen again below, its place among the others: how far its word goes.
        this.weakTrust.set(id, this.weak.has(id) ? "untrusted" : "unsigned");
        this.weak.delete(id);
        this.unvouched.delete(id);
      }
    if (wanted.size === 0) return;
    for (const name of this.cut) {
      let file: IndexFile;
      try {
        file = await this.readIndexFile(name);
      } catch (error) {
        if (error instanceof ProtocolError) continue;
        if (isTooLarge(error)) continue;
        throw error;
      }
      const check = checkIndexFile(name, this.id, file, this.judge);
      if (check.trust === "forged") continue;
      const trust: PlaceTrust =
        check.trust === "signed" || check.trust === "unknown"
          ? "trusted"
          : check.trust === "unsigned"
            ? "unsigned"
            : "untrusted";
      this.merge(
        file.blobs.filter((blob) => wanted.has(blob.id)),
        trust,
      );
    }
    const named = new Set<string>();
    for (const id of wanted) {
      const first = this.index.get(id);
      if (first) named.add(first.pack);
      for (const { location } of this.spares.get(id) ?? []) named.add(location.pack);
    }
    this.choosePlaces(await this.packsNamed(named), this.signed, wanted);
  }

  /** The index files the bound cut short in the last load (placeNeeded reads them again). */
  private cut: string[] = [];
  /** The ids placeNeeded looked for since the last load. */
  private readonly sought = new Set<string>();
  /** The zone the last load judged index files by. */
  private judge: SnapshotJudge | undefined;
  /** Whether the last load read a trusted signed index file. */
  private signed = false;

  private boundProblem(leftOut: number): string {
    return `untrusted index files name more than ${this.untrustedEntriesMax} blobs: ${leftOut} of this one left out`;
  }

  /** How many of `blobs` give a place no file read so far gives for them. */
  private newPlacesIn(blobs: readonly BlobLocation[]): number {
    let count = 0;
    for (const blob of blobs) {
      const first = this.index.get(blob.id);
      if (entryFits(blob) && !(first && samePlace(first, blob))) count += 1;
    }
    return count;
  }

  /**
   * Takes in one index file's blobs: the first place given for a blob is its place for
   * now, the others spares (choosePlaces picks among them once every file is read). With
   * `bounded`, each place no file gave before counts toward untrustedEntriesMax, and the
   * file is taken in only up to it: what comes back is how many of `blobs` were.
   */
  private merge(blobs: readonly BlobLocation[], trust: PlaceTrust, bounded = false): number {
    // An honest file names a blob once: of one naming it at many places (each a read when
    // its chosen place does not open), the first is taken.
    const named = new Set<string>();
    for (const [at, blob] of blobs.entries()) {
      if (!entryFits(blob) || named.has(blob.id)) continue;
      named.add(blob.id);
      const first = this.index.get(blob.id);
      // A place already known adds nothing; a new blob or another place for one counts.
      if (bounded && !(first && samePlace(first, blob))) {
        if (this.untrustedEntries >= this.untrustedEntriesMax) return at;
        this.untrustedEntries += 1;
      }
      if (!first && trust !== "forged") {
        this.index.set(blob.id, blob);
        // Trust is settled in choosePlaces: for now, which files' word it is.
        if (trust !== "trusted") this.weakTrust.set(blob.id, trust);
        continue;
      }
      if (first && samePlace(first, blob)) {
        // The trusted file's entry is kept, not an equal one an untrusted file gave first.
        if (trust === "trusted") {
          this.index.set(blob.id, blob);
          this.weakTrust.delete(blob.id);
        } else if (trust === "unsigned" && this.weakTrust.get(blob.id) === "untrusted")
          this.weakTrust.set(blob.id, "unsigned");
        continue;
      }
      if (trust === "forged" && this.forgedPlaces++ >= FORGED_PLACES_MAX) continue;
      const list = this.spares.get(blob.id);
      if (list) list.push({ location: blob, trust });
      else this.spares.set(blob.id, [{ location: blob, trust }]);
    }
    return blobs.length;
  }

  /** While loading: the blobs whose first place only untrusted files give, and theirs. */
  private readonly weakTrust = new Map<string, Exclude<PlaceTrust, "trusted" | "forged">>();

  /**
   * The packs the index files name that are there: the directories (data/<xx>) they are
   * in listed, and of what those hold, only the names the files give kept (a repository of
   * terabytes holds some hundred thousand packs).
   */
  private async packsNamed(named = this.allPacksNamed()): Promise<Set<string>> {
    const dirs = new Set<string>();
    for (const pack of named) dirs.add(pack.slice(0, 2));
    const present = new Set<string>();
    const queue = [...dirs];
    const lister = async () => {
      for (let dir = queue.pop(); dir !== undefined; dir = queue.pop())
        for (const pack of await this.backend.list(`data/${dir}`))
          if (named.has(pack)) present.add(pack);
    };
    await Promise.all(Array.from({ length: Math.min(PACK_LISTS_AT_ONCE, dirs.size) }, lister));
    return present;
  }

  /** The packs the index and its spares name. */
  private allPacksNamed(): Set<string> {
    const named = new Set<string>();
    for (const blob of this.index.values()) named.add(blob.pack);
    for (const list of this.spares.values())
      for (const { location } of list) named.add(location.pack);
    return named;
  }

  /**
   * Chooses each blob's place among those the files give (of `ids` only, where given):
   * none in a pack that is not there; a trusted file's first (an unsigned one counts as
   * trusted where no file is trusted-signed: a repository only an older bucky wrote), else
   * the first given.
   */
  private choosePlaces(
    present: ReadonlySet<string>,
    signed: boolean,
    ids?: ReadonlySet<string>,
  ): void {
    const trusted = (trust: PlaceTrust) => trust === "trusted" || (trust === "unsigned" && !signed);
    for (const id of ids ?? this.index.keys()) {
      const first = this.index.get(id);
      if (!first) continue;
      const firstTrust = this.weakTrust.get(id) ?? "trusted";
      const others = this.spares.get(id);
      let chosen: Place | undefined = present.has(first.pack)
        ? { location: first, trust: firstTrust }
        : undefined;
      if (others && (!chosen || !trusted(chosen.trust)))
        for (const place of others)
          if (place.trust !== "forged" && present.has(place.location.pack)) {
            if (!chosen) chosen = place;
            if (trusted(place.trust)) {
              chosen = place;
              break;
            }
          }
      if (!chosen) {
        this.index.delete(id);
        continue;
      }
      if (chosen.location !== first) {
        this.index.set(id, chosen.location);
        // The first place stays one to fall back on (vouch, readElsewhere).
        if (present.has(first.pack)) {
          const list = others ?? [];
          list.push({ location: first, trust: firstTrust });
          this.spares.set(id, list);
        }
      }
      if (!trusted(chosen.trust)) this.weak.add(id);
      if (chosen.trust !== "trusted") this.unvouched.add(id);
    }
    this.weakTrust.clear();
    // The spares of blobs no longer in the index (every place gone) go too, and a spare in
    // a pack that is not there is no place.
    for (const id of ids ?? this.spares.keys()) {
      const list = this.spares.get(id);
      if (!list) continue;
      const left = this.index.has(id)
        ? list.filter((place) => present.has(place.location.pack))
        : [];
      if (left.length === 0) this.spares.delete(id);
      else if (left.length < list.length) this.spares.set(id, left);
    }
  }

  /**
   * Makes sure the blob `id` is where the index says, when no trusted signed file says it
   * (an unsigned file's word, even in a repository no device signs yet, or an untrusted
   * one's): reads it there, and, if it does not open and check, at the other places files
   * give (not a forged one's), taking the first where it does. True if it is found; false
   * if it is in no place (then the index names it nowhere).
   */
  async vouch(id: string): Promise<boolean> {
    const chosen = this.index.get(id);
    if (!chosen) return false;
    if (!this.unvouched.has(id)) return true;
    try {
      release(await this.readAt(chosen));
      this.weak.delete(id);
      this.unvouched.delete(id);
      return true;
    } catch (error) {
      // Only a blob that is not there is looked for elsewhere: a failed read (E_IO, an
      // SFTP connection dropped) says nothing of the place, which stays in the index.
      if (!isMisplaced(error)) throw error;
    }
    const found = await this.readElsewhere(id, chosen);
    if (found) {
      release(found);
      return true;
    }
    this.index.delete(id);
    this.weak.delete(id);
    this.unvouched.delete(id);
    return false;
  }

  /**
   * Makes sure each of `ids` is laid out by its real size: one whose chosen place no trusted
   * signed file gives and no read confirmed, while another index file gives it another size,
   * is read there first (vouchAll), and where it does not open at its entry's size, at the
   * other places files give, the first where it does becoming its place. A restore places a
   * file's chunks by their sizes before it reads them: two planted entries at real places,
   * one a byte long and one a byte short, would shift every byte between them. An honest
   * repository gives a blob one size (its plaintext's), so there this reads nothing.
   */
  async confirmSizes(ids: Iterable<string>): Promise<void> {
    const disputed: string[] = [];
    for (const id of ids) {
      const chosen = this.index.get(id);
      if (!chosen || !this.unvouched.has(id)) continue;
      const others = this.spares.get(id) ?? [];
      if (others.some((place) => place.trust !== "forged" && place.location.size !== chosen.size))
        disputed.push(id);
    }
    if (disputed.length > 0) await this.vouchAll(disputed);
  }

  /**
   * vouch() for many blobs (a prune's, the first a signing bucky does of an older one's
   * repository reading every one): the places to read taken pack by pack in offset order,
   * each run of close ones in one read, a few reads at a time. A blob that does not open
   * where its run was read is read at the other places files give. The ids in no place
   * come back.
   */
  async vouchAll(ids: Iterable<string>): Promise<Set<string>> {
    const nowhere = new Set<string>();
    const byPack = new Map<string, BlobLocation[]>();
    for (const id of ids) {
      const chosen = this.index.get(id);
      if (!chosen) nowhere.add(id);
      else if (this.unvouched.has(id)) {
        const list = byPack.get(chosen.pack);
        if (list) list.push(chosen);
        else byPack.set(chosen.pack, [chosen]);
      }
    }
    const runs: BlobLocation[][] = [];
    for (const list of byPack.values())
      runs.push(...readGroups(list.sort((a, b) => a.offset - b.offset)));
    let next = 0;
    const reader = async () => {
      for (let run = runs[next++]; run; run = runs[next++])
        for (const id of await this.vouchRun(run)) nowhere.add(id);
    };
    await Promise.all(Array.from({ length: Math.min(VOUCH_READS_AT_ONCE, runs.length) }, reader));
    return nowhere;
  }

  /** Vouches for a run of places in one pack, read at once: the ids found in no place. */
  private async vouchRun(run: readonly BlobLocation[]): Promise<string[]> {
    const first = run[0] as BlobLocation;
    const end = run.reduce((most, place) => Math.max(most, place.offset + place.length), 0);
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.backend.readRange(packPath(first.pack), first.offset, end - first.offset);
    } catch (error) {
      if (!isMisplaced(error)) throw error;
    }
    const nowhere: string[] = [];
    for (const place of run) {
      if (bytes) {
        const at = place.offset - first.offset;
        try {
          release(this.openSealedBlob(place, bytes.subarray(at, at + place.length)));
          this.weak.delete(place.id);
          this.unvouched.delete(place.id);
          continue;
        } catch (error) {
          if (!isMisplaced(error)) throw error;
        }
      }
      // Where the run's read failed, read alone at its own place, then elsewhere: one
      // planted place in the run (past its pack's end, say) fails the whole read, not
      // each blob in it.
      if (!bytes)
        try {
          release(await this.readAt(place));
          this.weak.delete(place.id);
          this.unvouched.delete(place.id);
          continue;
        } catch (error) {
          if (!isMisplaced(error)) throw error;
        }
      const found = await this.readElsewhere(place.id, place);
      if (found) {
        release(found);
        continue;
      }
      this.index.delete(place.id);
      this.weak.delete(place.id);
      this.unvouched.delete(place.id);
      nowhere.push(place.id);
    }
    return nowhere;
  }

  /**
   * The packs, other than the one the index chose, that some index file (whatever its
   * word, a forged one's too) says holds the blob `id`: a prune deletes none of them.
   */
  otherPacksOf(id: string): string[] {
    const chosen = this.index.get(id);
    return (this.spares.get(id) ?? [])
      .map((place) => place.location.pack)
      .filter((pack) => pack !== chosen?.pack);
  }

  /** The index files the last loadIndex() could not open, and why. */
  unreadableIndexFiles: readonly { readonly name: string; readonly problem: string }[] = [];

  /** The index files the last loadIndex() found forged, and why. */
  forgedIndexFiles: readonly ForgedIndexFile[] = [];

  /** One index file: from the local cache when it has a good copy, else the target. */
  private async readIndexFile(name: string): Promise<IndexFile> {
    return this.openIndexFile(name, await this.fetchIndexFile(name));
  }

  /**
   * One index file's sealed bytes, up to `maxBytes` (E_TOO_LARGE past it): the local
   * cache's copy if it has one, else the target's.
   */
  private async fetchIndexFile(
    name: string,
    maxBytes = MAX_INDEX_FILE_BYTES,
  ): Promise<SealedIndexFile> {
    const cached = this.cachedIndex(name, maxBytes);
    if (cached) return { bytes: cached, cached: true };
    return { bytes: await this.backend.read(`index/${name}`, maxBytes), cached: false };
  }

  /** Opens an index file fetched: a cached copy that does not open is read from the target. */
  private async openIndexFile(name: string, sealed: SealedIndexFile): Promise<IndexFile> {
    if (sealed.cached) {
      try {
        return openIndex(this.keys, name, sealed.bytes);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        // A damaged cached copy is only a cache miss: the target's copy decides.
      }
      return this.openIndexFile(name, {
        bytes: await this.backend.read(`index/${name}`, MAX_INDEX_FILE_BYTES),
        cached: false,
      });
    }
    const file = openIndex(this.keys, name, sealed.bytes);
    // Cached once it opens: a copy that does not would be read again each time anyway.
    this.cacheIndex(name, sealed.bytes);
    return file;
  }

  private cachedIndex(name: string, maxBytes: number): Uint8Array | undefined {
    // Joined into a path of the cache: a name with "/" or ".." in it would lead out of it.
    // The backends list no such name; checked here all the same, before any file is read.
    if (!isPlainName(name))
      throw new BuckyError("E_INTEGRITY", `${JSON.stringify(name.slice(0, 200))} is no index file`);
    if (!this.cacheDir) return undefined;
    const path = join(this.cacheDir, "index", name);
    try {
      if (statSync(path).size > maxBytes) throw tooLarge(path, maxBytes);
      return new Uint8Array(readFileSync(path));
    } catch (error) {
      // Not cached, or let go of meanwhile (another run found it gone from the target).
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  /**
   * Lets go of the cached copies of index files the target no longer has (another
   * device's prune replaced them): kept, the cache grew by a whole index at every prune
   * of every device, never smaller (about 1 MB a day for 20,000 blobs).
   */
  private keepCachedIndex(listed: readonly string[]): void {
    if (!this.cacheDir) return;
    const kept = new Set(listed);
    let cached: string[];
    try {
      cached = readdirSync(join(this.cacheDir, "index"));
    } catch {
      return; // none cached yet
    }
    // A copy being written (`<name>.<pid>.<random>.tmp`) is another run's: left to it,
    // unless it is older than any run writes one for (one a crash cut short).
    const writtenAtMs = (name: string) =>
      Number(lstatIfThere(join(this.cacheDir as string, "index", name))?.mtimeMs ?? Date.now());
    const cutShort = (name: string) => writtenAtMs(name) < Date.now() - TMP_CACHE_KEPT_MS;
    this.uncacheIndex(
      cached.filter((name) => (name.endsWith(".tmp") ? cutShort(name) : !kept.has(name))),
    );
  }

  /** Removes the cached copies of index files `names` (gone from the target). */
  private uncacheIndex(names: readonly string[]): void {
    if (!this.cacheDir) return;
    for (const name of names) {
      if (!isPlainName(name)) continue;
      try {
        rmSync(join(this.cacheDir, "index", name), { force: true });
      } catch {
        // Not a file (nothing this cache put there): left, and read by no one.
      }
    }
  }

  private cacheIndex(name: string, sealed: Uint8Array): void {
    if (!this.cacheDir) return;
    // Index files never change once written, so a copy keyed by name stays right; it is
    // sealed, so the cache holds nothing the target does not.
    // Whole or not at all (a rename), but not synced to disk: a copy a crash cuts short
    // is only a cache miss (readIndexFile), not worth an fsync for every pack.
    // A name of its own: two runs caching the same file wrote one `.tmp`, and the second's
    // rename found it gone.
    const path = join(this.cacheDir, "index", name);
    const temporary = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(temporary, sealed);
    renameSync(temporary, path);
  }
}

/** How long a cached copy being written may stay before it is taken as a crash's leftover. */
const TMP_CACHE_KEPT_MS = 60 * 60 * 1000;

/** Whether `error` says a file held more than it was read up to (backend.ts tooLarge). */
function isTooLarge(error: unknown): boolean {
  return error instanceof BuckyError && error.code === "E_TOO_LARGE";
}

/**
 * The snapshots whose names begin with `which`, a snapshot id or its first characters:
 * refused when it is none (an empty one began every name, and with one snapshot in the
 * repository it was taken for that one).
 */
export function namedBy<T extends { readonly name: string }>(
  all: readonly T[],
  which: string,
): T[] {
  if (!/^[0-9a-f]{1,64}$/.test(which))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${JSON.stringify(which)} is not a snapshot id (nor "latest")`,
      "See them with `bucky backup list`: an id, or its first characters.",
    );
  return all.filter((snapshot) => snapshot.name.startsWith(which));
}
