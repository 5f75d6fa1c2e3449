/**
 * Writing a snapshot's tree (or part of it) back to disk, byte for byte, with modes and
 * modification times. Blobs are read pack by pack, adjacent ones in one read, and each is
 * checked against its id before a byte of it is written. A damaged blob spoils only the
 * files that hold it: the others are restored, and the damaged ones are named.
 */
import {
  chmodSync,
  closeSync,
  ftruncateSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { decodeTree, type TreeNode } from "../../protocol/backup/formats.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import { packPath, type Repository } from "./repository.ts";

/** Blobs closer than this in a pack are read in one go. */
const READ_GAP_BYTES = 1024 * 1024;
const MAX_READ_BYTES = 32 * 1024 * 1024;
const MAX_OPEN_FILES = 256;

export interface RestoreProgress {
  files: number;
  bytes: number;
  totalBytes: number;
}

export interface RestoreResult {
  readonly files: number;
  readonly bytes: number;
  /** Files that could not be restored whole because a blob of theirs is damaged or missing. */
  readonly damaged: readonly string[];
}

interface PlannedFile {
  readonly path: string;
  readonly node: Extract<TreeNode, { type: "file" }>;
}

export async function readTree(repository: Repository, id: string): Promise<TreeNode[]> {
  try {
    return decodeTree(await repository.readBlob(id));
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError("E_INTEGRITY", `tree ${id.slice(0, 12)} is damaged: ${error.message}`);
    throw error;
  }
}

/** The node at `path` (slash-separated) under the tree `root`, or the root itself for "". */
export async function findNode(
  repository: Repository,
  root: string,
  path: string,
): Promise<TreeNode | { type: "root"; subtree: string }> {
  let node: TreeNode | { type: "root"; subtree: string } = { type: "root", subtree: root };
  for (const part of path.split("/").filter(Boolean)) {
    if (node.type !== "dir" && node.type !== "root")
      throw new BuckyError("E_NOT_FOUND", `${path} is not in the snapshot`);
    const next: TreeNode | undefined = (await readTree(repository, node.subtree)).find(
      (n) => n.name === part,
    );
    if (!next)
      throw new BuckyError(
        "E_NOT_FOUND",
        `${path} is not in the snapshot`,
        "See what it holds with `bucky backup list`.",
      );
    node = next;
  }
  return node;
}

export async function restoreTree(
  repository: Repository,
  root: string,
  destination: string,
  options: { path?: string; onProgress?: (progress: Readonly<RestoreProgress>) => void } = {},
): Promise<RestoreResult> {
  const files: PlannedFile[] = [];
  const dirs: { path: string; node: TreeNode }[] = [];
  const symlinks: { path: string; node: Extract<TreeNode, { type: "symlink" }> }[] = [];
  const path = (options.path ?? "").split("/").filter(Boolean).join("/");
  const start = await findNode(repository, root, path);
  const at = path ? join(destination, ...path.split("/")) : destination;

  const walk = async (subtree: string, dir: string) => {
    for (const node of await readTree(repository, subtree)) {
      const target = join(dir, node.name);
      if (node.type === "dir") {
        dirs.push({ path: target, node });
        await walk(node.subtree, target);
      } else if (node.type === "file") files.push({ path: target, node });
      else symlinks.push({ path: target, node });
    }
  };
  if (start.type === "root" || start.type === "dir") {
    if (start.type === "dir") dirs.push({ path: at, node: start });
    await walk(start.subtree, at);
  } else if (start.type === "file") files.push({ path: at, node: start });
  else symlinks.push({ path: at, node: start });

  // The directories first (writable while we fill them), then the files.
  mkdir(start.type === "root" ? at : join(at, ".."));
  for (const dir of dirs) mkdir(dir.path);
  const progress: RestoreProgress = { files: 0, bytes: 0, totalBytes: 0 };
  for (const file of files) progress.totalBytes += file.node.size;

  const damaged = new Set<string>();
  const open = new OpenFiles();
  try {
    await fillFiles(repository, files, damaged, open, (bytes) => {
      progress.bytes += bytes;
      options.onProgress?.(progress);
    });
    // Empty files, and any whose every blob was damaged, exist all the same, at full size.
    for (const file of files) open.fd(file.path, file.node.size);
  } finally {
    open.closeAll();
  }

  for (const link of symlinks) {
    try {
      symlinkSync(link.node.target, link.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST")
        throw fileSystemError(error, "write", link.path) ?? error;
    }
    setTime(link.path, link.node.mtimeNs, true);
  }
  for (const file of files) {
    chmodSync(file.path, file.node.mode);
    setTime(file.path, file.node.mtimeNs, false);
    progress.files += 1;
  }
  // Deepest first: setting a directory's time before its children are written is undone.
  for (const dir of [...dirs].reverse()) {
    chmodSync(dir.path, dir.node.mode);
    setTime(dir.path, dir.node.mtimeNs, false);
  }
  options.onProgress?.(progress);
  return { files: files.length, bytes: progress.bytes, damaged: [...damaged].sort() };
}

/** Reads every blob the files need, pack by pack, and writes each where it belongs. */
async function fillFiles(
  repository: Repository,
  files: readonly PlannedFile[],
  damaged: Set<string>,
  open: OpenFiles,
  wrote: (bytes: number) => void,
): Promise<void> {
  const sizes = new Map(files.map((file) => [file.path, file.node.size]));
  const wanted = new Map<string, { path: string; offset: number }[]>();
  for (const file of files) {
    let offset = 0;
    for (const id of file.node.content) {
      const list = wanted.get(id) ?? [];
      list.push({ path: file.path, offset });
      wanted.set(id, list);
      const where = repository.locate(id);
      if (!where) damaged.add(file.path);
      offset += where?.size ?? 0;
    }
  }
  const byPack = new Map<string, { id: string; offset: number; length: number }[]>();
  for (const id of wanted.keys()) {
    const where = repository.locate(id);
    if (!where) continue;
    const list = byPack.get(where.pack) ?? [];
    list.push({ id, offset: where.offset, length: where.length });
    byPack.set(where.pack, list);
  }
  for (const [pack, blobs] of byPack) {
    blobs.sort((a, b) => a.offset - b.offset);
    for (const group of readGroups(blobs)) {
      const first = group[0] as { offset: number };
      const last = group[group.length - 1] as { offset: number; length: number };
      let bytes: Uint8Array;
      try {
        bytes = await repository.backend.readRange(
          packPath(pack),
          first.offset,
          last.offset + last.length - first.offset,
        );
      } catch (error) {
        if (
          !(error instanceof BuckyError) ||
          (error.code !== "E_NOT_FOUND" && error.code !== "E_INTEGRITY")
        )
          throw error;
        for (const blob of group)
          for (const target of wanted.get(blob.id) ?? []) damaged.add(target.path);
        continue;
      }
      for (const blob of group) {
        let plaintext: Uint8Array;
        try {
          plaintext = repository.openSealedBlob(
            blob.id,
            bytes.subarray(blob.offset - first.offset, blob.offset - first.offset + blob.length),
          );
        } catch (error) {
          if (!(error instanceof BuckyError && error.code === "E_INTEGRITY")) throw error;
          for (const target of wanted.get(blob.id) ?? []) damaged.add(target.path);
          continue;
        }
        for (const target of wanted.get(blob.id) ?? []) {
          const fd = open.fd(target.path, sizes.get(target.path) ?? 0);
          let done = 0;
          while (done < plaintext.length)
            done += writeSync(fd, plaintext, done, plaintext.length - done, target.offset + done);
          wrote(plaintext.length);
        }
      }
    }
  }
}

/**
 * The files being restored, kept open while their blobs arrive (a few hundred at most:
 * the least recently used is closed first). A file is created, at its full size, the
 * first time it is touched.
 */
class OpenFiles {
  private readonly fds = new Map<string, number>();
  private readonly created = new Set<string>();

  fd(path: string, size: number): number {
    const open = this.fds.get(path);
    if (open !== undefined) {
      // Most recently used last.
      this.fds.delete(path);
      this.fds.set(path, open);
      return open;
    }
    const first = !this.created.has(path);
    const fd = openOrFail(path, first ? "w" : "r+");
    if (first) {
      this.created.add(path);
      ftruncateSync(fd, size);
    }
    this.fds.set(path, fd);
    if (this.fds.size > MAX_OPEN_FILES) {
      const [oldest, oldestFd] = this.fds.entries().next().value as [string, number];
      closeSync(oldestFd);
      this.fds.delete(oldest);
    }
    return fd;
  }

  closeAll(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/** Runs of blobs close enough together to read at once. */
function readGroups<T extends { offset: number; length: number }>(sorted: readonly T[]): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  for (const blob of sorted) {
    const first = group[0];
    const last = group[group.length - 1];
    if (
      first &&
      last &&
      (blob.offset - (last.offset + last.length) > READ_GAP_BYTES ||
        blob.offset + blob.length - first.offset > MAX_READ_BYTES)
    ) {
      groups.push(group);
      group = [];
    }
    group.push(blob);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

function mkdir(path: string): void {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw fileSystemError(error, "write", path) ?? error;
  }
}

function openOrFail(path: string, flags: string): number {
  try {
    return openSync(path, flags, 0o600);
  } catch (error) {
    throw fileSystemError(error, "write", path) ?? error;
  }
}

function setTime(path: string, mtimeNs: string, link: boolean): void {
  const seconds = Number(BigInt(mtimeNs) / 1000n) / 1e6;
  if (link) lutimesSync(path, seconds, seconds);
  else utimesSync(path, seconds, seconds);
}
