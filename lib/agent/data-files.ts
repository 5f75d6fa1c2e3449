/**
 * The owner's data directory (`<home>/data`) as agents see it: paths normalized and kept
 * inside it (no `..`, no link that leads out), reads of at most a MiB, a search with a
 * budget, and writes that replace a file whole. Everything is asynchronous and bounded:
 * over HTTP these run inside the daemon, which must keep answering while an agent reads
 * a photo library.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, open, readdir, realpath, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BuckyError } from "../errors.ts";

/** Reads return at most this much of a file. */
export const MAX_READ_BYTES = 1024 * 1024;
const MAX_SEARCH_RESULTS = 50;
/** A search reads this many files at most, and passes this many entries, then stops. */
const MAX_SEARCH_FILES = 5_000;
const MAX_SEARCH_ENTRIES = 50_000;

/** A file's bytes as an agent gets them: text when they are UTF-8, base64 otherwise. */
export function contentOf(bytes: Uint8Array): { text: string } | { base64: string } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { base64: Buffer.from(bytes).toString("base64") };
  }
}

/**
 * A path inside the data directory, normalized (`notes/./a` → `notes/a`, "" for the
 * directory itself); undefined when it would climb out (`..`) or holds a NUL.
 */
export function dataRelative(path: string): string | undefined {
  const parts: string[] = [];
  for (const part of path.replaceAll("\\", "/").split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." || part.includes("\0")) return undefined;
    parts.push(part);
  }
  return parts.join("/");
}

export class DataDirectory {
  constructor(readonly root: string) {}

  /** A file (its first MiB) or a directory's listing. */
  async read(path: string): Promise<unknown> {
    const real = await this.inside(path);
    const info = await stat(real);
    if (info.isDirectory()) {
      const entries = await readdir(real, { withFileTypes: true });
      return {
        directory: `data/${path}`,
        entries: entries.map((e) => (e.isDirectory() ? `${e.name}/` : e.name)).sort(),
      };
    }
    const bytes = await readHead(real, MAX_READ_BYTES);
    return {
      path: `data/${path}`,
      size: info.size,
      truncated: info.size > bytes.length,
      ...contentOf(bytes),
    };
  }

  /**
   * Files under `under` (a directory, or one file) whose name or text holds `query` (case
   * aside), that `may.read` allows, in directories `may.enter` allows: 50 at most, from
   * at most 5,000 files looked at and 50,000 entries passed (only text files of a MiB or
   * less are read). Links are not followed.
   */
  async search(
    under: string,
    query: string,
    may: { read: (path: string) => boolean; enter: (dir: string) => boolean },
  ): Promise<{ query: string; matches: { path: string; line?: string }[]; complete: boolean }> {
    const start = await this.inside(under);
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
    if ((await stat(start)).isDirectory()) await walk(under);
    else if (may.read(under)) {
      const line = await matchingLine(start, needle);
      if (line !== undefined) matches.push({ path: `data/${under}`, line });
    }
    return { query, matches, complete: !full() };
  }

  /** Writes a file whole (a rename), creating its directories; or says what it would do. */
  async write(path: string, content: string, dryRun: boolean): Promise<string> {
    const target = join(this.root, path);
    // Every existing part of the way must be a real directory inside the data directory.
    let existing = dirname(target);
    while (!existsSync(existing)) existing = dirname(existing);
    await this.inside(existing === this.root ? "" : existing.slice(this.root.length + 1));
    const before = await lstat(target).catch(() => undefined);
    if (before && !before.isFile())
      throw new BuckyError("E_INVALID_INPUT", `data/${path} is not a regular file`);
    const what = before ? `replace data/${path} (${before.size} bytes)` : `create data/${path}`;
    const size = Buffer.byteLength(content);
    if (dryRun) return `Would ${what} with ${size} bytes.`;
    await mkdir(dirname(target), { recursive: true });
    const temp = join(dirname(target), `.${randomBytes(4).toString("hex")}.tmp`);
    await writeFile(temp, content, { mode: 0o644 });
    await rename(temp, target);
    return `Did ${what} with ${size} bytes.`;
  }

  /** The real location of `path`, refused if a link leads it out of the data directory. */
  private async inside(path: string): Promise<string> {
    const full = join(this.root, path);
    if (!existsSync(full)) throw new BuckyError("E_NOT_FOUND", `data/${path} does not exist`);
    const [real, root] = await Promise.all([realpath(full), realpath(this.root)]);
    if (real !== root && !real.startsWith(`${root}/`))
      throw new BuckyError("E_PERMISSION", `data/${path} leads outside the data directory`);
    return real;
  }
}

async function readHead(path: string, maxBytes: number): Promise<Uint8Array> {
  const file = await open(path, "r");
  try {
    const buffer = new Uint8Array(maxBytes);
    let filled = 0;
    while (filled < maxBytes) {
      const { bytesRead } = await file.read(buffer, filled, maxBytes - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await file.close();
  }
}

/** The first line of a small text file that holds `needle` (lowercase), cut to 300 characters. */
async function matchingLine(path: string, needle: string): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info || info.size > MAX_READ_BYTES) return undefined;
  const content = contentOf(await readHead(path, MAX_READ_BYTES).catch(() => new Uint8Array()));
  if (!("text" in content)) return undefined;
  return content.text
    .split("\n")
    .find((line) => line.toLowerCase().includes(needle))
    ?.slice(0, 300);
}
