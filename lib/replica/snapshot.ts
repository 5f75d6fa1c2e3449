/**
 * Snapshots of an app's data for its standbys, taken by the backup engine's archiver:
 * files cut into content-defined chunks (SQLite databases page by page, read through
 * SQLite so the copy is consistent while the app writes), directories into trees, and
 * only the blobs the replica lacks are stored. A file whose size, times and inode are
 * those of the last snapshot is not read again.
 *
 * Whether anything changed is told by a cheap walk of names, sizes, times and inodes
 * (a SQLite database's -wal file moves with every write), so an idle app costs a stat
 * walk, not a snapshot.
 */
import { createHash } from "node:crypto";
import { type Dirent, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Chunker } from "../../protocol/backup/chunker.ts";
import { type BlobType, decodeTree } from "../../protocol/backup/formats.ts";
import { Archiver, type BlobSink } from "../backup/archiver.ts";
import { FileCache } from "../backup/file-cache.ts";
import { blobId, type ReplicaDb, type ReplicaHead } from "./replica-db.ts";

/**
 * Where replica chunks are cut. Unlike a backup target, devices of the zone are trusted
 * with the data, so the cut points need not be secret: one fixed table for every zone.
 */
const CHUNKER_SECRET = createHash("sha256").update("bucky replica chunker v1").digest();

/** The archiver's blobs, into a replica database. */
class ReplicaSink implements BlobSink {
  readonly chunker = new Chunker(CHUNKER_SECRET);
  constructor(private readonly db: ReplicaDb) {}

  has(id: string): boolean {
    return this.db.has(id);
  }

  async add(_type: BlobType, plaintext: Uint8Array): Promise<{ id: string; added: number }> {
    const id = blobId(plaintext);
    return { id, added: this.db.put(id, plaintext) ? plaintext.length : 0 };
  }

  async room(): Promise<void> {}

  async flush(): Promise<void> {}
}

/** Takes a snapshot of `dataDir` into the replica; the head it makes (not yet set). */
export async function takeSnapshot(options: {
  readonly db: ReplicaDb;
  readonly dataDir: string;
  /** The replica's file cache (which chunks each file had last time). */
  readonly cacheDir: string;
  readonly head: Omit<ReplicaHead, "root" | "content" | "files" | "bytes" | "addedBytes">;
  /** Told the entries left out, their names not UTF-8 (ArchiveResult.leftOut), if any. */
  readonly leftOut?: (paths: readonly string[]) => void;
}): Promise<ReplicaHead> {
  const cache = new FileCache(options.cacheDir, {
    job: "snapshot of this device's replica of app data",
    startedAt: new Date().toISOString(),
  });
  try {
    const archived = await new Archiver(
      new ReplicaSink(options.db),
      cache,
      undefined,
      join(options.cacheDir, "..", "scratch"),
    ).archive(new Map([["data", { kind: "dir", path: options.dataDir }]]));
    cache.commit();
    options.leftOut?.(archived.leftOut);
    return {
      ...options.head,
      root: archived.tree,
      content: contentDigest(options.db, archived.tree) as string,
      files: archived.files,
      bytes: archived.bytes,
      addedBytes: archived.addedBytes,
    };
  } finally {
    cache.close();
  }
}

export interface DataSignature {
  readonly signature: string;
  /** The newest modification time in the tree (ms): a change within the clock's grain of it may not show. */
  readonly newestMs: number;
}

/**
 * What a directory looks like to a cheap look: every entry's path, type, size, times
 * and inode, hashed. Equal signatures: nothing to snapshot. A SQLite database's -shm file
 * is left out: it is an index readers write to, not data (its -wal file counts).
 */
export function dataSignature(dir: string): DataSignature {
  const hash = createHash("sha256");
  let newestNs = 0n;
  const walk = (path: string, rel: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch {
      hash.update(`${rel}\0gone\n`);
      return;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.endsWith("-shm")) continue;
      const full = join(path, entry.name);
      try {
        const stat = lstatSync(full, { bigint: true });
        hash.update(
          `${rel}/${entry.name}\0${stat.mode}\0${stat.size}\0${stat.mtimeNs}\0${stat.ino}\n`,
        );
        if (stat.mtimeNs > newestNs) newestNs = stat.mtimeNs;
      } catch {
        continue;
      }
      if (entry.isDirectory()) walk(full, `${rel}/${entry.name}`);
    }
  };
  walk(dir, "");
  return { signature: hash.digest("hex"), newestMs: Number(newestNs / 1_000_000n) };
}

/**
 * What a snapshot holds, leaving out times and modes: two snapshots of the same data
 * have the same digest even when a file was touched (a database checkpointed) between.
 * Undefined when the snapshot is not whole in `db`.
 */
export function contentDigest(db: ReplicaDb, root: string): string | undefined {
  const hash = createHash("sha256");
  const walk = (tree: string): boolean => {
    const bytes = db.get(tree);
    if (!bytes) return false;
    for (const node of decodeTree(bytes)) {
      hash.update(`${node.name}\0${node.type}\0`);
      if (node.type === "dir") {
        if (!walk(node.subtree)) return false;
      } else if (node.type === "file") hash.update(node.content.join(","));
      else hash.update(node.target);
      hash.update("\n");
    }
    return true;
  };
  return walk(root) ? hash.digest("hex") : undefined;
}
