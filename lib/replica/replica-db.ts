/**
 * One app's replicated data on one device, `<home>/replicas/<app>/replica.db`: the blobs
 * of its snapshots (file chunks and directory trees, by the SHA-256 of their bytes), and
 * the newest whole snapshot this device holds (its head). The device that holds the app
 * writes snapshots of its data here; a standby fetches the blobs it lacks into its own
 * and moves its head only once a snapshot is complete, so a head always restores whole.
 *
 * SQLite rather than a file per blob: a snapshot's blobs land in one transaction, and
 * dropping what no kept snapshot needs is one statement.
 */
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { decodeTree } from "../../protocol/backup/formats.ts";
import type { HeadOnWire } from "../../protocol/replica.ts";
import { BuckyError, sqliteError } from "../errors.ts";

/** A whole snapshot of an app's data, as its holder took it (its fields: protocol/replica.ts). */
export type ReplicaHead = HeadOnWire;

/** The last reading back of a copy: when, and how many of its blobs were damaged then (0: none, or all fetched again). */
export interface CopyVerification {
  readonly atMs: number;
  readonly damagedBlobs: number;
}

const VERIFIED_META = "verified";

export function blobId(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export class ReplicaDb {
  private readonly db: Database;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path, { create: true, strict: true });
    try {
      // Before anything else: another process reading it (a command) may hold it a moment.
      this.db.run("PRAGMA busy_timeout = 5000");
      this.db.run("PRAGMA journal_mode = WAL");
      this.db.run("PRAGMA synchronous = NORMAL");
      this.db.run(
        "CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID",
      );
      this.db.run(
        "CREATE TABLE IF NOT EXISTS head (one INTEGER PRIMARY KEY CHECK (one = 1), head TEXT NOT NULL)",
      );
      this.db.run(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
      );
    } catch (error) {
      // Not left open: a damaged file is moved aside by the caller.
      this.db.close();
      throw sqliteError(error, `the replica database ${path}`) ?? error;
    }
  }

  has(id: string): boolean {
    return this.db.query("SELECT 1 FROM blobs WHERE id = ?1").get(id) !== null;
  }

  /** A blob's bytes, checked against its id; undefined when not here. */
  get(id: string): Uint8Array | undefined {
    const row = this.db
      .query<{ bytes: Uint8Array }, [string]>("SELECT bytes FROM blobs WHERE id = ?1")
      .get(id);
    if (!row) return undefined;
    const bytes = new Uint8Array(row.bytes);
    if (blobId(bytes) !== id)
      throw new BuckyError(
        "E_INTEGRITY",
        `a replica blob of ${this.path} is damaged (${id.slice(0, 12)})`,
        "It is fetched again from the device that holds the app.",
      );
    return bytes;
  }

  /** Stores a blob whose bytes were checked against `id` (or computed from them). */
  put(id: string, bytes: Uint8Array): boolean {
    return (
      this.db.query("INSERT OR IGNORE INTO blobs (id, bytes) VALUES (?1, ?2)").run(id, bytes)
        .changes > 0
    );
  }

  /** Stores blobs that came from another device, refusing any whose bytes are not its id's. */
  putVerified(blobs: readonly (readonly [string, Uint8Array])[]): void {
    for (const [id, bytes] of blobs)
      if (blobId(bytes) !== id)
        throw new BuckyError(
          "E_INTEGRITY",
          `a replica blob did not hash to its id (${id.slice(0, 12)})`,
        );
    this.db.transaction(() => {
      for (const [id, bytes] of blobs) this.put(id, bytes);
    })();
  }

  /** Drops a blob (one found damaged, so that it is fetched again). */
  drop(id: string): void {
    this.db.query("DELETE FROM blobs WHERE id = ?1").run(id);
  }

  head(): ReplicaHead | undefined {
    const row = this.db.query<{ head: string }, []>("SELECT head FROM head WHERE one = 1").get();
    return row ? (JSON.parse(row.head) as ReplicaHead) : undefined;
  }

  /**
   * Makes `head` this replica's, durably: the holder serves it next and standbys ack it, a
   * standby acks it next. Lost to a power cut (synchronous=NORMAL leaves the last commits
   * to the next checkpoint), a holder numbered its next snapshots as ones already served,
   * which a standby then took for what it had; a standby said it had what it did not. FULL
   * syncs the log at this commit, and with it every blob committed before.
   */
  setHead(head: ReplicaHead): void {
    const write = () =>
      this.db
        .query("INSERT OR REPLACE INTO head (one, head) VALUES (1, ?1)")
        .run(JSON.stringify(head));
    // Inside a transaction SQLite keeps the setting its commit began with: the caller's.
    if (this.db.inTransaction) {
      write();
      return;
    }
    this.db.run("PRAGMA synchronous = FULL");
    try {
      write();
    } finally {
      this.db.run("PRAGMA synchronous = NORMAL");
    }
  }

  /** The last reading back of this copy (lib/replica/follower.ts), kept across restarts. */
  verification(): CopyVerification | undefined {
    const kept = this.meta(VERIFIED_META);
    return kept ? (JSON.parse(kept) as CopyVerification) : undefined;
  }

  setVerification(verification: CopyVerification): void {
    this.setMeta(VERIFIED_META, JSON.stringify(verification));
  }

  /** A note this device keeps about its replica (not shipped). */
  meta(key: string): string | undefined {
    return this.db
      .query<{ value: string }, [string]>("SELECT value FROM meta WHERE key = ?1")
      .get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.query("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)").run(key, value);
  }

  /** Every blob a snapshot needs, from its root down; throws when one is missing. */
  reachable(root: string, into = new Set<string>()): Set<string> {
    if (into.has(root)) return into;
    into.add(root);
    const tree = this.get(root);
    if (!tree) throw new BuckyError("E_NOT_FOUND", `replica tree ${root.slice(0, 12)} is missing`);
    for (const node of decodeTree(tree)) {
      if (node.type === "dir") this.reachable(node.subtree, into);
      else if (node.type === "file") for (const id of node.content) into.add(id);
    }
    return into;
  }

  /**
   * Reads back every blob of snapshot `root`, a step at a time (lib/sliced.ts), and returns
   * the ids of those whose bytes are not their id's (a failing disk) or that are missing:
   * the copy is whole again once they are fetched anew. Below a damaged tree nothing can be
   * read: it counts alone, and its blobs are checked once it is back.
   */
  *damagedSteps(root: string): Generator<void, string[], void> {
    const damaged: string[] = [];
    const seen = new Set<string>();
    const read = this.db.query<{ bytes: Uint8Array }, [string]>(
      "SELECT bytes FROM blobs WHERE id = ?1",
    );
    const intact = (id: string): Uint8Array | undefined => {
      const row = read.get(id);
      const bytes = row ? new Uint8Array(row.bytes) : undefined;
      if (bytes && blobId(bytes) === id) return bytes;
      damaged.push(id);
      return undefined;
    };
    let trees = [root];
    while (trees.length > 0) {
      const next: string[] = [];
      for (const tree of trees) {
        if (seen.has(tree)) continue;
        seen.add(tree);
        const bytes = intact(tree);
        yield;
        if (!bytes) continue;
        for (const node of decodeTree(bytes)) {
          if (node.type === "dir") next.push(node.subtree);
          else if (node.type === "file")
            for (const id of node.content) {
              if (seen.has(id)) continue;
              seen.add(id);
              intact(id);
              yield;
            }
        }
      }
      trees = next;
    }
    return damaged;
  }

  /**
   * Drops every blob that none of the snapshots `roots` needs. A root that is not whole
   * here keeps nothing. Returns how many went.
   */
  collect(roots: readonly string[]): number {
    const keep = new Set<string>();
    for (const root of roots) {
      try {
        this.reachable(root, keep);
      } catch (error) {
        if (!(error instanceof BuckyError && error.code === "E_NOT_FOUND")) throw error;
      }
    }
    const ids = this.db
      .query<{ id: string }, []>("SELECT id FROM blobs")
      .all()
      .map((row) => row.id);
    const drop = ids.filter((id) => !keep.has(id));
    this.db.transaction(() => {
      const statement = this.db.query("DELETE FROM blobs WHERE id = ?1");
      for (const id of drop) statement.run(id);
    })();
    return drop.length;
  }

  /** Bytes of the blobs kept (what the replica costs on disk, before SQLite's overhead). */
  storedBytes(): number {
    const row = this.db
      .query<{ n: number | null }, []>("SELECT SUM(LENGTH(bytes)) AS n FROM blobs")
      .get();
    return row?.n ?? 0;
  }

  close(): void {
    this.db.close();
  }
}
