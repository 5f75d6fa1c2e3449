/**
 * A device's data directory (`<home>/data`) as agents see it. Paths are taken only in
 * their plain form (no `.`, `..`, empty parts, backslashes, percent-encodings or leading
 * slash: refused, never reinterpreted), kept inside the directory, and checked against
 * the grant where they really lead, so a link inside the directory opens nothing its
 * grant does not. Only regular files are opened, without blocking (a FIFO or a device
 * is refused, not waited on); reads stop at a MiB, a search has a budget, a write
 * replaces a file whole. Everything is asynchronous and bounded: over HTTP these run
 * inside the daemon, which must keep answering while an agent reads a photo library.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readdir, realpath, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BuckyError } from "../errors.ts";

/** Reads return at most this much of a file. */
export const MAX_READ_BYTES = 1024 * 1024;
const MAX_PATH_LENGTH = 1024;
const MAX_SEARCH_RESULTS = 50;
/** A search reads this many files at most, and passes this many entries, then stops. */
const MAX_SEARCH_FILES = 5_000;
const MAX_SEARCH_ENTRIES = 50_000;
/** Opens nothing that would block (a FIFO with no writer) and follows no final link. */
const OPEN_READ = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;
const OPEN_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Whether a path in the data directory may be read or written, where it really leads. */
export type MayUse = (path: string) => boolean;

/** A file's bytes as an agent gets them: text when they are UTF-8, base64 otherwise. */
export function contentOf(bytes: Uint8Array): { text: string } | { base64: string } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { base64: Buffer.from(bytes).toString("base64") };
  }
}

/**
 * Why `path` is not a path inside the data directory in its plain form (`notes/todo.txt`,
 * or "" for the directory itself), or undefined when it is one.
 */
export function dataPathProblem(path: string): string | undefined {
  if (path === "") return undefined;
  if (path.length > MAX_PATH_LENGTH) return `a path is at most ${MAX_PATH_LENGTH} characters`;
  if (path.startsWith("/"))
    return "a path is relative to the data directory: it does not start with /";
  if (path.includes("\\")) return "a path separates its parts with /, never \\";
  if (/%[0-9a-f]{2}/i.test(path)) return "a path is written plainly, not percent-encoded";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (/[\0-\x1f\x7f]/.test(path)) return "a path holds no control characters";
  for (const part of path.split("/")) {
    if (part === "..") return "paths may not climb out of the data directory";
    if (part === "" || part === ".")
      return "a path has no empty or . parts (no double or trailing /)";
  }
  return undefined;
}

export class DataDirectory {
  constructor(readonly root: string) {}

  /**
   * A file (its first MiB) or a directory's listing. `path` is plain (dataPathProblem)
   * and granted; where it really leads must be granted too (`may`).
   */
  async read(path: string, may: MayUse): Promise<unknown> {
    const { real } = await this.locate(path, may);
    const handle = await openToRead(real, path);
    try {
      const info = await handle.stat();
      if (info.isDirectory()) {
        const entries = await readdir(real, { withFileTypes: true });
        return {
          directory: `data/${path}`,
          entries: entries.map((e) => (e.isDirectory() ? `${e.name}/` : e.name)).sort(),
        };
      }
      const bytes = await readHead(handle, MAX_READ_BYTES);
      return {
        path: `data/${path}`,
        size: info.size,
        truncated: info.size > bytes.length,
        ...contentOf(bytes),
      };
    } finally {
      await handle.close();
    }
  }

  /**
   * Files under `under` (a directory, or one file) whose name or text holds `query` (case
   * aside), that `may.read` allows, in directories `may.enter` allows: 50 at most, from
   * at most 5,000 files looked at and 50,000 entries passed (only text files of a MiB or
   * less are read). Links are not followed; a search that starts at one starts where it
   * leads, and says so in the paths it reports.
   */
  async search(
    under: string,
    query: string,
    may: { read: MayUse; enter: MayUse },
  ): Promise<{ query: string; matches: { path: string; line?: string }[]; complete: boolean }> {
    const start = await this.locate(under, (rel) => may.read(rel) || may.enter(rel));
    const needle = query.toLowerCase();
    const matches: { path: string; line?: string }[] = [];
    let looked = 0;
    let passed = 0;
    const full = () =>
      matches.length >= MAX_SEARCH_RESULTS ||
      looked >= MAX_SEARCH_FILES ||
      passed >= MAX_SEARCH_ENTRIES;
    const walk = async (rel: string): Promise<void> => {
      const entries = await readdir(join(this.root, rel), { withFileTypes: true });
      entries.sort((a, b) => a.name.localeCompare(b.name));
      for (const entry of entries) {
        if (full()) return;
        passed++;
        const path = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          if (may.enter(path)) await walk(path);
        } else if (entry.isFile() && may.read(path)) {
          looked++;
          if (entry.name.toLowerCase().includes(needle)) {
            matches.push({ path: `data/${path}` });
            continue;
          }
          const line = await matchingLine(join(this.root, path), needle);
          if (line !== undefined) matches.push({ path: `data/${path}`, line });
        }
      }
    };
    const info = await lstat(start.real);
    if (info.isDirectory()) {
      if (may.enter(start.rel)) await walk(start.rel);
    } else if (info.isFile() && may.read(start.rel)) {
      const line = await matchingLine(start.real, needle);
      if (line !== undefined) matches.push({ path: `data/${start.rel}`, line });
    } else if (!info.isFile()) {
      throw notRegular(under);
    }
    return { query, matches, complete: !full() };
  }

  /**
   * Writes a file whole (a new file renamed over it), creating its directories; or says
   * what it would do. `path` is plain and granted; where it really leads (through any
   * link on the way) must be granted too (`may`).
   */
  async write(path: string, content: string, dryRun: boolean, may: MayUse): Promise<string> {
    // The deepest part of the way that exists must be a real directory inside the data
    // directory, and what follows it (created here) is taken as written.
    const parts = path.split("/");
    let existing = parts.length - 1;
    while (existing > 0 && !(await exists(join(this.root, ...parts.slice(0, existing)))))
      existing--;
    const base = await this.locate(parts.slice(0, existing).join("/"), () => true);
    const rel = [base.rel, ...parts.slice(existing)].filter(Boolean).join("/");
    if (!may(rel))
      throw new BuckyError(
        "E_PERMISSION",
        `data/${path} leads to data/${rel}, where writing was not granted`,
      );
    const target = join(base.real, ...parts.slice(existing));
    const before = await lstat(target).catch(() => undefined);
    if (before && !before.isFile())
      throw new BuckyError("E_INVALID_INPUT", `data/${path} is not a regular file`);
    const what = before ? `replace data/${path} (${before.size} bytes)` : `create data/${path}`;
    const size = Buffer.byteLength(content);
    if (dryRun) return `Would ${what} with ${size} bytes.`;
    await mkdir(dirname(target), { recursive: true });
    const temp = join(dirname(target), `.${randomBytes(8).toString("hex")}.tmp`);
    const file = await open(temp, OPEN_NEW, 0o644);
    try {
      await file.writeFile(content);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
    return `Did ${what} with ${size} bytes.`;
  }

  /**
   * Where `path` really is: its real location and its path from the data directory.
   * Refused when a link leads it out of the data directory, or to a place `may` does not
   * allow.
   */
  private async locate(path: string, may: MayUse): Promise<{ real: string; rel: string }> {
    const full = join(this.root, path);
    if (!(await exists(full))) throw new BuckyError("E_NOT_FOUND", `data/${path} does not exist`);
    const [real, root] = await Promise.all([
      realpath(full).catch(() => {
        throw new BuckyError("E_NOT_FOUND", `data/${path} leads nowhere (a broken link)`);
      }),
      realpath(this.root),
    ]);
    if (real !== root && !real.startsWith(`${root}/`))
      throw new BuckyError("E_PERMISSION", `data/${path} leads outside the data directory`);
    const rel = real === root ? "" : real.slice(root.length + 1);
    if (rel !== path && !may(rel))
      throw new BuckyError(
        "E_PERMISSION",
        `data/${path} is a link to data/${rel}, which was not granted`,
      );
    return { real, rel };
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

function notRegular(path: string): BuckyError {
  return new BuckyError(
    "E_INVALID_INPUT",
    `data/${path} is not a regular file (a pipe, socket or device): agents read only files and directories`,
  );
}

/**
 * Opens a regular file or a directory to read, refusing anything else: looked at first,
 * then opened without blocking and looked at again through the descriptor, so what was
 * swapped in between is refused as well.
 */
async function openToRead(real: string, path: string): Promise<FileHandle> {
  const before = await lstat(real);
  if (!before.isFile() && !before.isDirectory()) throw notRegular(path);
  const handle = await open(real, OPEN_READ);
  const info = await handle.stat();
  if (!info.isFile() && !info.isDirectory()) {
    await handle.close();
    throw notRegular(path);
  }
  return handle;
}

async function readHead(file: FileHandle, maxBytes: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(maxBytes);
  let filled = 0;
  while (filled < maxBytes) {
    const { bytesRead } = await file.read(buffer, filled, maxBytes - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/** The first line of a small text file that holds `needle` (lowercase), cut to 300 characters. */
async function matchingLine(path: string, needle: string): Promise<string | undefined> {
  const handle = await openToRead(path, path).catch(() => undefined);
  if (!handle) return undefined;
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > MAX_READ_BYTES) return undefined;
    const content = contentOf(await readHead(handle, MAX_READ_BYTES));
    if (!("text" in content)) return undefined;
    return content.text
      .split("\n")
      .find((line) => line.toLowerCase().includes(needle))
      ?.slice(0, 300);
  } finally {
    await handle.close();
  }
}
