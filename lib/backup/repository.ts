/**
 * A backup repository opened with the zone's backup root: its keys, its index of blobs,
 * and the one way blobs are written (packed, sealed) and read back (checked against their
 * ids). Packs are written before the index that names them, and snapshots after both, so
 * a run cut short at any point leaves the repository valid: at worst a pack no index
 * names yet, which prune removes.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Chunker, DEFAULT_CHUNKER } from "../../protocol/backup/chunker.ts";
import {
  type BlobLocation,
  type BlobType,
  decodeConfig,
  MAX_SNAPSHOT_FILE_BYTES,
  type RepositoryConfig,
  type Snapshot,
} from "../../protocol/backup/formats.ts";
import { type RepositoryKeys, repositoryKeys } from "../../protocol/backup/keys.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import type { Backend } from "./backend.ts";
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

/** Packs are cut at about this size: big enough for few files, small enough to re-read. */
const PACK_TARGET_BYTES = 16 * 1024 * 1024;
/** Snapshot files read at the same time when listing them. */
const SNAPSHOT_READS_AT_ONCE = 8;
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

export const packPath = (pack: string) => `data/${pack.slice(0, 2)}/${pack}`;

export class Repository {
  private readonly index = new Map<string, BlobLocation>();
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
  ) {
    this.chunker = new Chunker(keys.chunker, config.chunker);
  }

  /** Opens the repository at `backend`, creating it first if the target holds none. */
  static async openOrCreate(
    backend: Backend,
    backupRoot: Uint8Array,
    options: { cacheDir?: string; withIndex?: boolean } = {},
  ): Promise<Repository> {
    const id = randomBytes(16).toString("hex");
    const config = newConfig(id, repositoryKeys(backupRoot, id), DEFAULT_CHUNKER, new Date());
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
    backupRoot: Uint8Array,
    options: { cacheDir?: string; withIndex?: boolean } = {},
  ): Promise<Repository> {
    let config: RepositoryConfig;
    try {
      config = decodeConfig(await backend.read("config"));
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
      throw error;
    }
    const keys = repositoryKeys(backupRoot, config.id);
    if (!keysFit(config, keys)) {
      throw new BuckyError(
        "E_PERMISSION",
        `the backup at ${backend.location} was made with another recovery phrase`,
        "Use the zone whose phrase made it (recover it with `bucky init --recover`), or another target.",
      );
    }
    const cacheDir = options.cacheDir ? join(options.cacheDir, config.id) : undefined;
    const repository = new Repository(backend, config, keys, cacheDir);
    if (options.withIndex !== false) await repository.loadIndex();
    return repository;
  }

  get id(): string {
    return this.config.id;
  }

  has(id: string): boolean {
    return this.index.has(id) || this.pending.has(id);
  }

  locate(id: string): BlobLocation | undefined {
    return this.index.get(id);
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
    const named = hashed.then((blob) => {
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

  /** A blob's plaintext, checked against its id. */
  async readBlob(id: string): Promise<Uint8Array> {
    const where = this.index.get(id);
    if (!where)
      throw new BuckyError("E_INTEGRITY", `blob ${id.slice(0, 12)} is missing from the repository`);
    const sealed = await this.backend.readRange(packPath(where.pack), where.offset, where.length);
    return this.openSealedBlob(id, sealed);
  }

  /** Opens a sealed blob read as part of a pack. */
  openSealedBlob(id: string, sealed: Uint8Array): Uint8Array {
    try {
      return openBlob(this.keys, id, sealed);
    } catch (error) {
      if (error instanceof ProtocolError)
        throw new BuckyError("E_INTEGRITY", `blob ${id.slice(0, 12)} is damaged: ${error.message}`);
      throw error;
    }
  }

  /**
   * Writes a snapshot under a new random name: `snapshot` is the snapshot, or makes it for
   * the name it will have (its signature covers the name).
   */
  async writeSnapshot(snapshot: Snapshot | ((name: string) => Snapshot)): Promise<string> {
    const name = randomBytes(16).toString("hex");
    const made = typeof snapshot === "function" ? snapshot(name) : snapshot;
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
        else if (error instanceof BuckyError && error.code === "E_TOO_LARGE")
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
    const matches = all.filter((s) => s.name.startsWith(which));
    if (matches.length === 1) return matches[0] as { name: string; snapshot: Snapshot };
    throw new BuckyError(
      matches.length === 0 ? "E_NOT_FOUND" : "E_INVALID_INPUT",
      matches.length === 0
        ? `no snapshot ${which} in ${this.backend.location}`
        : `${which} names ${matches.length} snapshots`,
      "See them with `bucky backup list`.",
    );
  }

  /** Replaces the index files with one that names exactly `blobs` (prune). */
  async rewriteIndex(blobs: readonly BlobLocation[]): Promise<void> {
    const old = await this.backend.list("index");
    const name = randomBytes(16).toString("hex");
    await this.backend.write(`index/${name}`, sealIndex(this.keys, name, blobs));
    for (const file of old) await this.backend.remove(`index/${file}`);
    this.index.clear();
    for (const blob of blobs) this.index.set(blob.id, blob);
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
      const index = sealIndex(this.keys, name, located);
      await this.backend.write(`index/${name}`, index);
      this.cacheIndex(name, index);
      this.storedBytes += packLength + index.length;
      // Written: the sealed blobs (each its own buffer, from the sealing thread) are done with.
      for (const part of parts) release(part);
      for (const blob of located) {
        this.index.set(blob.id, blob);
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
   * under us. One that does not open, or is larger than an index can be (any holder of the
   * backup key can write one), is left out, not an error, as an unreadable snapshot is: the
   * blobs only it names read as missing. Those left out are in `unreadableIndexFiles` after
   * (verify says them, and prune removes nothing while there are any).
   */
  async loadIndex(): Promise<void> {
    this.index.clear();
    const names = await this.backend.list("index");
    const unreadable: { name: string; problem: string }[] = [];
    const files = await Promise.all(
      names.map((name) =>
        this.readIndexFile(name).catch((error: unknown) => {
          if (error instanceof ProtocolError) unreadable.push({ name, problem: error.message });
          else if (error instanceof BuckyError && error.code === "E_TOO_LARGE")
            unreadable.push({ name, problem: "it is larger than an index file can be" });
          else throw error;
          return [];
        }),
      ),
    );
    for (const blobs of files) for (const blob of blobs) this.index.set(blob.id, blob);
    this.unreadableIndexFiles = unreadable.sort((a, b) => compareCodeUnits(a.name, b.name));
  }

  /** The index files the last loadIndex() could not open, and why. */
  unreadableIndexFiles: readonly { readonly name: string; readonly problem: string }[] = [];

  /** One index file's blobs: from the local cache when it has a good copy, else the target. */
  private async readIndexFile(name: string): Promise<BlobLocation[]> {
    const cached = this.cachedIndex(name);
    if (cached) {
      try {
        return openIndex(this.keys, name, cached);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        // A damaged cached copy is only a cache miss: the target's copy decides.
      }
    }
    const sealed = await this.backend.read(`index/${name}`, MAX_INDEX_FILE_BYTES);
    const blobs = openIndex(this.keys, name, sealed);
    // Cached once it opens: a copy that does not would be read again each time anyway.
    this.cacheIndex(name, sealed);
    return blobs;
  }

  private cachedIndex(name: string): Uint8Array | undefined {
    if (!this.cacheDir) return undefined;
    const path = join(this.cacheDir, "index", name);
    return existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
  }

  private cacheIndex(name: string, sealed: Uint8Array): void {
    if (!this.cacheDir) return;
    // Index files never change once written, so a copy keyed by name stays right; it is
    // sealed, so the cache holds nothing the target does not.
    // Whole or not at all (a rename), but not synced to disk: a copy a crash cuts short
    // is only a cache miss (readIndexFile), not worth an fsync for every pack.
    const path = join(this.cacheDir, "index", name);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(`${path}.tmp`, sealed);
    renameSync(`${path}.tmp`, path);
  }
}
