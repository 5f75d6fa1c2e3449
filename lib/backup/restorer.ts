/**
 * Writing a snapshot's tree (or part of it) back to disk, byte for byte, with modes and
 * modification times. Blobs are read pack by pack, adjacent ones in one read, and each is
 * checked against its id before a byte of it is written. A damaged blob spoils only the
 * files that hold it: the others are restored, and the damaged ones are named.
 *
 * Below the destination nothing already there is written through: a link or a file where
 * the snapshot has a directory, and a link or a file where it has a file or a link, is
 * replaced, not followed (restored over an earlier restore, a link an app once made,
 * `data/cfg -> /etc`, would otherwise take `data/cfg/passwd` of a later snapshot to /etc).
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  ftruncateSync,
  futimesSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { type BlobType, decodeTree, type TreeNode } from "../../protocol/backup/formats.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import { utimesSeconds } from "../file-times.ts";
import { readGroups } from "./read-groups.ts";
import { packPath, type Repository } from "./repository.ts";

const MAX_OPEN_FILES = 256;
/** Pack reads under way at once, ahead of the one being written out. */
const READS_AHEAD = 4;

interface Located {
  readonly id: string;
  readonly type: BlobType;
  readonly offset: number;
  readonly length: number;
  readonly size: number;
}

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
  /** Its blobs not yet written; at 0 the file is complete, and is finished at once. */
  pending: number;
  finished: boolean;
}

export async function readTree(repository: Repository, id: string): Promise<TreeNode[]> {
  await repository.placeNeeded([id]);
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

  // A level at a time: the trees the index has no place for are looked for in the index
  // files the bound cut short, once a level (placeNeeded).
  const walk = async (subtree: string, dir: string) => {
    let level = [{ subtree, dir }];
    while (level.length > 0) {
      await repository.placeNeeded(level.map((tree) => tree.subtree));
      const next: typeof level = [];
      for (const tree of level)
        for (const node of await readTree(repository, tree.subtree)) {
          const target = join(tree.dir, node.name);
          if (node.type === "dir") {
            dirs.push({ path: target, node });
            next.push({ subtree: node.subtree, dir: target });
          } else if (node.type === "file") files.push(planned(target, node));
          else symlinks.push({ path: target, node });
        }
      level = next;
    }
  };
  if (start.type === "root" || start.type === "dir") {
    if (start.type === "dir") dirs.push({ path: at, node: start });
    await walk(start.subtree, at);
  } else if (start.type === "file") files.push(planned(at, start));
  else symlinks.push({ path: at, node: start });

  // The directories first (writable while we fill them), then the files.
  mkdir(destination);
  const parts = path.split("/").filter(Boolean);
  for (let depth = 1; depth < parts.length; depth++)
    placeDirectory(join(destination, ...parts.slice(0, depth)));
  for (const dir of dirs) placeDirectory(dir.path);
  const progress: RestoreProgress = { files: 0, bytes: 0, totalBytes: 0 };
  for (const file of files) progress.totalBytes += file.node.size;

  const damaged = new Set<string>();
  const writer = new FileWriter(() => {
    progress.files += 1;
  });
  try {
    await fillFiles(repository, files, damaged, writer, (bytes) => {
      progress.bytes += bytes;
      options.onProgress?.(progress);
    });
    // Empty files, and damaged ones, exist all the same, at full size.
    for (const file of files) if (!file.finished) writer.finish(file);
  } finally {
    writer.closeAll();
  }

  for (const link of symlinks) {
    try {
      symlinkSync(link.node.target, link.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST")
        throw fileSystemError(error, "write", link.path) ?? error;
      removeInTheWay(link.path, "a link");
      try {
        symlinkSync(link.node.target, link.path);
      } catch (again) {
        throw fileSystemError(again, "write", link.path) ?? again;
      }
    }
    const seconds = utimesSeconds(link.node.mtimeNs);
    lutimesSync(link.path, seconds, seconds);
  }
  // Deepest first: setting a directory's time before its children are written is undone.
  for (const dir of [...dirs].reverse()) {
    chmodSync(dir.path, dir.node.mode);
    const seconds = utimesSeconds(dir.node.mtimeNs);
    utimesSync(dir.path, seconds, seconds);
  }
  options.onProgress?.(progress);
  return { files: files.length, bytes: progress.bytes, damaged: [...damaged].sort() };
}

/** Reads every blob the files need, pack by pack, and writes each where it belongs. */
async function fillFiles(
  repository: Repository,
  files: readonly PlannedFile[],
  damaged: Set<string>,
  writer: FileWriter,
  wrote: (bytes: number) => void,
): Promise<void> {
  const wanted = new Map<string, { file: PlannedFile; offset: number }[]>();
  await repository.placeNeeded(
    (function* () {
      for (const file of files) yield* file.node.content;
    })(),
  );
  // Each chunk is laid out by its size as its chosen entry gives it: one whose size another
  // index file gives otherwise (a planted entry, chosen or not) is read first, and where it
  // does not open at its entry's size, at another place, so each is laid out by its real
  // size (two planted sizes that add up to the file's would otherwise damage it).
  await repository.confirmSizes(
    new Set(
      (function* () {
        for (const file of files) yield* file.node.content;
      })(),
    ),
  );
  for (const file of files) {
    let offset = 0;
    for (const id of file.node.content) {
      const list = wanted.get(id) ?? [];
      list.push({ file, offset });
      wanted.set(id, list);
      const where = repository.locate(id);
      if (!where) damaged.add(file.path);
      offset += where?.size ?? 0;
    }
  }
  const byPack = new Map<string, Located[]>();
  for (const id of wanted.keys()) {
    const where = repository.locate(id);
    if (!where) continue;
    const list = byPack.get(where.pack) ?? [];
    list.push({
      id,
      type: where.type,
      offset: where.offset,
      length: where.length,
      size: where.size,
    });
    byPack.set(where.pack, list);
  }
  const reads: { pack: string; group: Located[] }[] = [];
  for (const [pack, blobs] of byPack) {
    blobs.sort((a, b) => a.offset - b.offset);
    for (const group of readGroups(blobs)) reads.push({ pack, group });
  }
  // The next reads are under way while a group is decrypted, checked and written.
  const read = ({ pack, group }: { pack: string; group: Located[] }) => {
    const first = group[0] as Located;
    const last = group[group.length - 1] as Located;
    return repository.backend
      .readRange(packPath(pack), first.offset, last.offset + last.length - first.offset)
      .then(
        (bytes) => ({ bytes }),
        (error: unknown) => ({ error }),
      );
  };
  const deliver = (blob: Located, plaintext: Uint8Array) => {
    for (const { file, offset } of wanted.get(blob.id) ?? []) {
      writer.write(file, offset, plaintext);
      wrote(plaintext.length);
      if (--file.pending === 0) writer.finish(file);
    }
  };
  // A blob that does not open where its group was read is read alone at its place (one
  // planted place in the group, past its pack's end, fails the group's read), then at
  // another an index file gives (one planted there may name it at a wrong place first);
  // its files are damaged only if it opens nowhere, or with another size than their
  // chunks were placed by.
  const elsewhere = async (blob: Located) => {
    let plaintext: Uint8Array | undefined;
    try {
      plaintext = await repository.readBlob(blob.id);
    } catch (error) {
      if (!(error instanceof BuckyError && isMisplacedCode(error.code))) throw error;
    }
    if (plaintext && plaintext.length === blob.size) deliver(blob, plaintext);
    else for (const target of wanted.get(blob.id) ?? []) damaged.add(target.file.path);
  };
  const inFlight = reads.slice(0, READS_AHEAD).map(read);
  for (const [index, { group }] of reads.entries()) {
    const next = reads[index + READS_AHEAD];
    if (next) inFlight.push(read(next));
    const result = await (inFlight[index] as ReturnType<typeof read>);
    inFlight[index] = undefined as unknown as ReturnType<typeof read>;
    if ("error" in result) {
      const { error } = result;
      if (!(error instanceof BuckyError && isMisplacedCode(error.code))) throw error;
      for (const blob of group) await elsewhere(blob);
      continue;
    }
    const start = (group[0] as Located).offset;
    for (const blob of group) {
      let plaintext: Uint8Array;
      try {
        plaintext = repository.openSealedBlob(
          blob,
          result.bytes.subarray(blob.offset - start, blob.offset - start + blob.length),
        );
      } catch (error) {
        if (!(error instanceof BuckyError && error.code === "E_INTEGRITY")) throw error;
        await elsewhere(blob);
        continue;
      }
      deliver(blob, plaintext);
    }
  }
}

/**
 * The files being restored, kept open while their blobs arrive (a few hundred at most:
 * the least recently used is closed first). A file is created, at its full size, the
 * first time it is touched; once whole it gets its mode and time through its open
 * descriptor and is closed.
 */
class FileWriter {
  private readonly fds = new Map<PlannedFile, number>();
  private readonly created = new Set<PlannedFile>();

  constructor(private readonly onFinished: () => void) {}

  write(file: PlannedFile, offset: number, bytes: Uint8Array): void {
    const fd = this.fd(file);
    let done = 0;
    while (done < bytes.length)
      done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
  }

  finish(file: PlannedFile): void {
    const fd = this.fd(file);
    this.fds.delete(file);
    try {
      fchmodSync(fd, file.node.mode);
      const seconds = utimesSeconds(file.node.mtimeNs);
      futimesSync(fd, seconds, seconds);
    } catch (error) {
      throw fileSystemError(error, "write", file.path) ?? error;
    } finally {
      closeSync(fd);
    }
    file.finished = true;
    this.onFinished();
  }

  closeAll(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  private fd(file: PlannedFile): number {
    const open = this.fds.get(file);
    if (open !== undefined) {
      // Most recently used last.
      this.fds.delete(file);
      this.fds.set(file, open);
      return open;
    }
    const first = !this.created.has(file);
    const fd = first ? createFile(file.path) : openOrFail(file.path, OPEN_AGAIN);
    if (first) {
      this.created.add(file);
      ftruncateSync(fd, file.node.size);
    }
    this.fds.set(file, fd);
    if (this.fds.size > MAX_OPEN_FILES) {
      const [oldest, oldestFd] = this.fds.entries().next().value as [PlannedFile, number];
      closeSync(oldestFd);
      this.fds.delete(oldest);
    }
    return fd;
  }
}

/** Whether a read failed for the blob not being there (damaged, cut short, gone). */
const isMisplacedCode = (code: string) => code === "E_NOT_FOUND" || code === "E_INTEGRITY";

/** A file of this restore's, opened again after its descriptor was let go: not through a link. */
const OPEN_AGAIN = constants.O_RDWR | constants.O_NOFOLLOW;
/** A file made anew: never one that was there, which may be a link or another's hard link. */
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** The destination itself, with its parents: as the person named it, links and all. */
function mkdir(path: string): void {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw fileSystemError(error, "write", path) ?? error;
  }
}

/**
 * A directory below the destination, its parent already placed: a directory there is kept,
 * anything else there (a link, a file) is replaced by one.
 */
function placeDirectory(path: string): void {
  try {
    if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) return;
    removeInTheWay(path, "a directory");
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    throw fileSystemError(error, "write", path) ?? error;
  }
}

/** A file below the destination, made anew: what was at its name is replaced. */
function createFile(path: string): number {
  try {
    return openSync(path, CREATE_NEW, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST")
      throw fileSystemError(error, "write", path) ?? error;
  }
  removeInTheWay(path, "a file");
  return openOrFail(path, CREATE_NEW);
}

/**
 * Removes what is at `path` (a file or a link, never followed) for the snapshot's `wanted`
 * to take its place; a directory there is refused, as it may hold what is not restored.
 */
function removeInTheWay(path: string, wanted: string): void {
  const there = lstatSync(path, { throwIfNoEntry: false });
  if (!there) return;
  if (there.isDirectory())
    throw new BuckyError(
      "E_EXISTS",
      `cannot restore ${path}: the snapshot has ${wanted} there, and a directory is in its way`,
      "Restore into an empty or new directory, or move that directory aside.",
    );
  try {
    unlinkSync(path);
  } catch (error) {
    throw fileSystemError(error, "write", path) ?? error;
  }
}

function openOrFail(path: string, flags: number): number {
  try {
    return openSync(path, flags, 0o600);
  } catch (error) {
    throw fileSystemError(error, "write", path) ?? error;
  }
}

function planned(path: string, node: Extract<TreeNode, { type: "file" }>): PlannedFile {
  return { path, node, pending: node.content.length, finished: false };
}
