/**
 * Writing a replica's snapshot out as the app's data directory, for a device that takes
 * the app over: into a fresh directory beside the data, which then takes its place, so
 * an interrupted takeover leaves no half-written data behind. Every blob is checked
 * against its id as it is read. Files, directories and the move into place are durable
 * when it returns: a takeover is claimed next, and the zone then takes this device's data
 * for the newest, though the power fails a moment after.
 */
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { decodeTree, type TreeNode } from "../../protocol/backup/formats.ts";
import { fsyncDirectory } from "../atomic-file.ts";
import { entriesUnder } from "../disk/tree.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import { utimesSeconds } from "../file-times.ts";
import type { ReplicaDb } from "./replica-db.ts";

/**
 * The mode bits a file of another device's snapshot keeps: never setuid or setgid, which a
 * hostile member would otherwise plant, owned by whoever runs the takeover (root).
 */
const PERMISSION_BITS = 0o1777;

/**
 * How deep a copy's directories may go: far past any app's data, and well within what a
 * path may hold, so a peer's tree nested without end is refused before it is written.
 */
const MAX_DEPTH = 256;

/** Writes snapshot `root`'s data into `target` (which must not exist). */
export function materialize(db: ReplicaDb, root: string, target: string): void {
  mkdirSync(target, { recursive: true, mode: 0o700 });
  const data = nodesOf(db, root).find((node) => node.name === "data");
  if (data?.type === "dir") writeTree(db, data.subtree, target, 1);
}

/**
 * What a takeover's write failed with, as a BuckyError: a file system's refusal (a name
 * too long, the disk full) or any other is the copy not taken over, said and tried again
 * at the next pass, never a fault that ends the daemon.
 */
function writeFailure(error: unknown, dataDir: string): unknown {
  if (error instanceof BuckyError) return error;
  const failed = fileSystemError(error, "write the copy into", dataDir);
  if (failed) return failed;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== "string") return error;
  return new BuckyError("E_IO", `cannot write the copy into ${dataDir}: ${code}`, undefined, {
    cause: error,
  });
}

/**
 * Puts snapshot `root` where `dataDir` is, which must hold nothing (data already there is
 * the caller's to keep). Crash-safe: the new data is whole before it moves in.
 */
export function replaceData(db: ReplicaDb, root: string, dataDir: string): void {
  if (holdsFiles(dataDir))
    throw new BuckyError("E_INTERNAL", `${dataDir} still holds data: keep it before replacing it`);
  const incoming = `${dataDir}.incoming`;
  rmSync(incoming, { recursive: true, force: true });
  try {
    materialize(db, root, incoming);
  } catch (error) {
    // A copy found damaged (or not whole) half way leaves nothing of it behind.
    rmSync(incoming, { recursive: true, force: true });
    throw writeFailure(error, dataDir);
  }
  rmSync(dataDir, { recursive: true, force: true });
  renameSync(incoming, dataDir);
  fsyncDirectory(dirname(dataDir));
}

function nodesOf(db: ReplicaDb, tree: string): TreeNode[] {
  const bytes = db.get(tree);
  if (!bytes)
    throw new BuckyError(
      "E_NOT_FOUND",
      `the replica lacks tree ${tree.slice(0, 12)}: it is not whole`,
    );
  return decodeTree(bytes);
}

function writeTree(db: ReplicaDb, tree: string, dir: string, depth: number): void {
  if (depth > MAX_DEPTH)
    throw new BuckyError(
      "E_INTEGRITY",
      `the copy's directories nest deeper than ${MAX_DEPTH} levels: it is not taken over`,
    );
  const directories: [string, TreeNode][] = [];
  for (const node of nodesOf(db, tree)) {
    const path = join(dir, node.name);
    if (node.type === "dir") {
      mkdirSync(path, { mode: 0o700 });
      writeTree(db, node.subtree, path, depth + 1);
      directories.push([path, node]);
    } else if (node.type === "symlink") {
      symlinkSync(node.target, path);
    } else {
      writeFile(db, node.content, path);
      chmodSync(path, node.mode & PERMISSION_BITS);
      setTimes(path, node.mtimeNs);
    }
  }
  // Directories last: writing into them moved their times.
  for (const [path, node] of directories) {
    chmodSync(path, node.mode & PERMISSION_BITS);
    setTimes(path, node.mtimeNs);
  }
  fsyncDirectory(dir);
}

function writeFile(db: ReplicaDb, content: readonly string[], path: string): void {
  const fd = openSync(path, "wx", 0o600);
  try {
    for (const id of content) {
      const bytes = db.get(id);
      if (!bytes)
        throw new BuckyError(
          "E_NOT_FOUND",
          `the replica lacks chunk ${id.slice(0, 12)}: it is not whole`,
        );
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function setTimes(path: string, mtimeNs: string): void {
  const seconds = utimesSeconds(mtimeNs);
  utimesSync(path, seconds, seconds);
}

/**
 * Whether a directory holds any file at all, a link being one (a tree of empty directories
 * is no data).
 */
export function holdsFiles(dir: string): boolean {
  return !entriesUnder(dir).next().done;
}
