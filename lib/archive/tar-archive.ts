/**
 * A tar archive unpacked, .tar or .tar.gz: one reader for every archive a person hands
 * the daemon (a catalog file, an app's directory). It is read as a stream (gzip through
 * DecompressionStream, a slice at a time), so the daemon answers everything else
 * meanwhile, and written only as plain files and directories under `target`, within the
 * caller's bounds. A .tar.gz of a few megabytes can unpack to terabytes of zeros, and tar
 * can hold links, devices, FIFOs and sparse files: an entry past a bound is refused as
 * soon as its header says so (before any of its bytes are written), anything but a plain
 * file or a directory is refused, and so is a path that leads outside `target`. A file
 * keeps one thing of its mode: whether it is executable. The caller removes `target` on a
 * refusal. A reader that wants the files' bytes as they stream, not written out as they
 * are (an image archive, whose layers go straight into named data), reads the same
 * entries within the same bounds and refusals with readArchiveFiles.
 */
import { mkdir, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BuckyError } from "../errors.ts";
import { formatBytes } from "../units.ts";

export interface ArchiveLimits {
  /** The bytes of all the files together. */
  readonly totalBytes: number;
  /** The entries: files, directories, and the headers tar adds for long names. */
  readonly entries: number;
  /** One file, at most. */
  readonly fileBytes: number;
  /**
   * The room on the target's disk for the files, when the caller measured it (its free
   * space less what must stay free): an archive whose files come to more is refused as not
   * fitting (E_IO) at the header of the entry past it, before any of its bytes are written.
   */
  readonly roomBytes?: number;
}

/** How a refusal names the archive, and what it tells the person to do. */
export interface ArchiveWords {
  /** What the archive is: "catalog file". */
  readonly noun: string;
  /** The same with its article: "a catalog file". */
  readonly aNoun: string;
  /** Where its paths stay: "the catalog's directory". */
  readonly dir: string;
  /** What to choose instead of bytes that are not one. */
  readonly choose: string;
  /** What to do with one compressed otherwise than gzip. */
  readonly compressed: string;
  /** What to do with one holding a link, a device, a FIFO or a sparse file. */
  readonly repack: string;
  /** What to do with one past a bound. */
  readonly tooLarge: string;
}

/**
 * An archive as sent, at most: its files' bound, and room for every entry's header and
 * padding and tar's closing blocks.
 */
export function archiveBytesOf(limits: ArchiveLimits): number {
  return limits.totalBytes + (limits.entries + 20) * 2 * BLOCK;
}

const BLOCK = 512;
/** A pax header (long names, exact sizes) or a GNU long name, at most. */
const MAX_META_BYTES = 64 * 1024;
/** The archive is handed to the reader in slices of this size, so no one step is long. */
const SLICE_BYTES = 1024 * 1024;

/** What the file system says of a name it cannot take (too long, a NUL in it…). */
const NAME_ERRORS = new Set(["ENAMETOOLONG", "EILSEQ", "EINVAL", "ERR_INVALID_ARG_VALUE"]);

const NOT_ALLOWED: Record<string, string> = {
  "1": "a hard link",
  "2": "a symbolic link",
  "3": "a character device",
  "4": "a block device",
  "6": "a FIFO",
  S: "a sparse file",
};

/** How an archive's kind is read beside its bounds. */
export interface ArchiveOptions {
  /**
   * Links (symbolic and hard) are left out, not written, rather than refused: for archives
   * whose reader reads only the files it names and takes a link for no file (an image
   * archive, whose older layout keeps links for tools of its own).
   */
  readonly leaveOutLinks?: boolean;
}

/**
 * Unpacks `archive` (its bytes, or its chunks as they arrive) into the empty directory
 * `target`, or refuses it (see above) in `words`. On a refusal the chunks stop being read;
 * a refusal of the chunks' own (the upload's bound) comes through as it is.
 */
export async function unpackArchive(
  archive: Uint8Array | AsyncIterable<Uint8Array>,
  target: string,
  limits: ArchiveLimits,
  words: ArchiveWords,
  options: ArchiveOptions = {},
): Promise<void> {
  await readArchive(archive, limits, words, options, {
    async directory(parts, name) {
      if (parts.length === 0) return;
      await mkdir(join(target, ...parts), { recursive: true, mode: 0o700 }).catch((error) => {
        // A file of the same archive there already, or above it.
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EEXIST") throw notTar(`it holds ${name} twice`);
        if (code === "ENOTDIR") throw notTar(`${name} is under a file of the same archive`);
        throw error;
      });
    },
    file: (file) => writeEntry(join(target, ...file.parts), file),
  });
}

/** A plain file of an archive, as its header says, and its bytes as they stream. */
export interface ArchiveFile {
  /** Its name as the archive says it. */
  readonly name: string;
  /** Its path inside the archive, in parts: none empty, none `.` or `..`. */
  readonly parts: readonly string[];
  readonly sizeBytes: number;
  readonly executable: boolean;
  /** Its bytes, in pieces, `sizeBytes` in all (what is left unread is skipped). */
  readonly pieces: AsyncIterable<Uint8Array>;
}

/**
 * Reads the plain files of `archive` one at a time, within `limits`, and hands each to
 * `onFile` as its bytes stream (the next waits until it returns), or refuses the archive as
 * unpackArchive does: a link (left out with `leaveOutLinks`), a device, a path out of it, a
 * name it holds twice or under a file of its own, an entry past a bound (at its header,
 * before its bytes). A refusal `onFile` throws comes through as it is.
 */
export async function readArchiveFiles(
  archive: Uint8Array | AsyncIterable<Uint8Array>,
  limits: ArchiveLimits,
  words: ArchiveWords,
  options: ArchiveOptions,
  onFile: (file: ArchiveFile) => Promise<void>,
): Promise<void> {
  const names = new ArchiveNames();
  await readArchive(archive, limits, words, options, {
    directory: async (parts, name) => names.directory(parts, name),
    file: async (file) => {
      names.file(file.parts, file.name);
      await onFile(file);
    },
  });
}

/** Where an archive's entries go, as it is read. */
interface EntrySink {
  /** A directory (no parts: the archive's top directory itself). */
  directory(parts: readonly string[], name: string): Promise<void>;
  file(file: ArchiveFile): Promise<void>;
}

async function readArchive(
  archive: Uint8Array | AsyncIterable<Uint8Array>,
  limits: ArchiveLimits,
  words: ArchiveWords,
  options: ArchiveOptions,
  sink: EntrySink,
): Promise<void> {
  const source = archive instanceof Uint8Array ? slices(archive) : archive[Symbol.asyncIterator]();
  const { head, chunks } = await withHead(source, MAGIC_BYTES);
  const compression = compressionOf(head);
  if (compression && compression !== "gzip") {
    await source.return?.(undefined);
    throw new BuckyError(
      "E_INVALID_INPUT",
      `that ${words.noun} is compressed with ${compression}: ${words.aNoun} is a .tar or a .tar.gz`,
      words.compressed,
    );
  }
  const stream =
    compression === "gzip"
      ? streamOf(chunks).pipeThrough<Uint8Array>(new DecompressionStream("gzip"))
      : { [Symbol.asyncIterator]: () => chunks };
  const reader = new Pull(stream[Symbol.asyncIterator]());
  try {
    await readTar(reader, limits, options.leaveOutLinks === true, sink);
  } catch (error) {
    if (error instanceof Refusal) throw refusalOf(error.problem, limits, words);
    if (error instanceof BuckyError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined && NAME_ERRORS.has(code))
      throw refusalOf(
        { kind: "not-tar", why: `it holds a name this system cannot write (${code})` },
        limits,
        words,
      );
    if (typeof code === "string" && code.startsWith("E")) throw error;
    // What DecompressionStream throws on bytes that are not gzip ("inflate failed"): its
    // words, for the log, are the cause.
    throw new BuckyError(
      "E_INVALID_INPUT",
      `that ${words.noun} is not a whole .tar.gz: its compressed data is damaged or cut short`,
      words.choose,
      { cause: error },
    );
  } finally {
    await reader.close();
  }
}

async function readTar(
  reader: Pull,
  limits: ArchiveLimits,
  leaveOutLinks: boolean,
  sink: EntrySink,
): Promise<void> {
  let entries = 0;
  let totalBytes = 0;
  // What a pax header or a GNU long name says of the entry that follows it.
  let next: { path?: string; size?: number } = {};
  for (;;) {
    const header = await reader.exactly(BLOCK);
    // The end of the stream at an entry's end: an archive without tar's closing blocks.
    if (!header) return;
    if (header.length < BLOCK) throw notTar("it ends in the middle of a header");
    if (header.every((byte) => byte === 0)) return;
    if (++entries > limits.entries)
      throw tooLarge(`more than ${limits.entries} entries`, "entries");
    checkHeader(header);
    const type = String.fromCharCode(header[156] as number);
    const size = next.size ?? sizeOf(header);
    const name = next.path ?? nameOf(header);
    next = {};
    if (type === "x" || type === "g" || type === "L" || type === "K") {
      if (size > MAX_META_BYTES) throw notTar(`a header of ${size} bytes is too long`);
      const meta = (await reader.exactly(padded(size))) ?? new Uint8Array(0);
      if (meta.length < size) throw notTar("it ends in the middle of a header");
      const body = meta.subarray(0, size);
      if (type === "x") next = paxFields(body);
      if (type === "L") next = { path: new TextDecoder().decode(body).replace(/\0+$/, "") };
      continue;
    }
    const leftOut = leaveOutLinks && (type === "1" || type === "2");
    const kind = NOT_ALLOWED[type];
    if (kind && !leftOut) throw new Refusal({ kind: "not-plain", what: `${name}, ${kind}` });
    // Every entry's bytes are bounded, a directory's too: they are skipped, not written,
    // but a .tar.gz claiming terabytes of them would be decompressed all the same.
    if (size > limits.fileBytes) throw tooLarge(`${name}, of ${size} bytes`, "fileBytes");
    totalBytes += size;
    if (totalBytes > limits.totalBytes)
      throw tooLarge(`more than ${limits.totalBytes} bytes of files`, "totalBytes");
    if (limits.roomBytes !== undefined && totalBytes > limits.roomBytes)
      throw new Refusal({ kind: "no-room", what: `${name}, of ${size} bytes` });
    const parts = partsOf(name);
    if (leftOut) {
      await reader.skip(padded(size));
      continue;
    }
    if (type === "5") {
      await sink.directory(parts, name);
      await reader.skip(padded(size));
      continue;
    }
    if (type !== "0" && type !== "\0" && type !== "7")
      throw notTar(`${name} is an entry of a type bucky does not read (${JSON.stringify(type)})`);
    if (parts.length === 0) throw outside(name);
    const body = new EntryBody(reader, name, size);
    await sink.file({
      name,
      parts,
      sizeBytes: size,
      executable: executable(header),
      pieces: body,
    });
    await body.skipRest();
    await reader.skip(padded(size) - size);
  }
}

/** An entry's bytes, read from the archive once, as far as its reader goes. */
class EntryBody implements AsyncIterable<Uint8Array> {
  private left: number;

  constructor(
    private readonly reader: Pull,
    private readonly name: string,
    size: number,
  ) {
    this.left = size;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    while (this.left > 0) {
      const piece = await this.reader.piece(this.left);
      if (!piece) throw notTar(`it ends in the middle of ${this.name}`);
      this.left -= piece.length;
      yield piece;
    }
  }

  async skipRest(): Promise<void> {
    if (this.left === 0) return;
    await this.reader.skip(this.left);
    this.left = 0;
  }
}

/**
 * The names an archive read without writing it holds, so it is refused as it would be
 * unpacked: a name twice, or one under a file of its own.
 */
class ArchiveNames {
  private readonly files = new Set<string>();
  private readonly directories = new Set<string>();

  directory(parts: readonly string[], name: string): void {
    this.under(parts, name);
    this.directories.add(parts.join("/"));
  }

  file(parts: readonly string[], name: string): void {
    this.under(parts, name);
    const path = parts.join("/");
    if (this.directories.has(path)) throw notTar(`it holds ${name} twice`);
    this.files.add(path);
  }

  /** Refuses `parts` as one name twice, or as under a file; notes its directories. */
  private under(parts: readonly string[], name: string): void {
    const path = parts.join("/");
    if (this.files.has(path)) throw notTar(`it holds ${name} twice`);
    for (let i = 1; i < parts.length; i++) {
      const above = parts.slice(0, i).join("/");
      if (this.files.has(above)) throw notTar(`${name} is under a file of the same archive`);
      this.directories.add(above);
    }
  }
}

/** Writes `file`'s bytes as the new file `path`. */
async function writeEntry(path: string, file: ArchiveFile): Promise<void> {
  const { name } = file;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((error) => {
    const code = (error as NodeJS.ErrnoException).code;
    throw code === "ENOTDIR" || code === "EEXIST"
      ? notTar(`${name} is under a file of the same archive`)
      : error;
  });
  // O_EXCL: a name the archive holds twice is refused, and nothing there is followed.
  const out = await open(path, "wx", file.executable ? 0o700 : 0o600).catch((error) => {
    const code = (error as NodeJS.ErrnoException).code;
    throw code === "EEXIST" || code === "EISDIR" || code === "ENOTDIR"
      ? notTar(`it holds ${name} twice`)
      : error;
  });
  try {
    for await (const piece of file.pieces) await out.write(piece);
  } finally {
    await out.close();
  }
}

/** Entry `name`'s path in parts; none for the archive's top directory itself. */
function partsOf(name: string): string[] {
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (name.startsWith("/") || parts.includes("..")) throw outside(name);
  return parts;
}

/** Whether the header's mode lets anyone run the file (what an app's package keeps of it). */
function executable(header: Uint8Array): boolean {
  const mode = Number.parseInt(field(header, 100, 8).trim() || "0", 8);
  return Number.isSafeInteger(mode) && (mode & 0o111) !== 0;
}

function checkHeader(header: Uint8Array): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
  const stored = Number.parseInt(field(header, 148, 8).trim() || "x", 8);
  if (stored !== sum) throw notTar("a header's checksum does not match");
}

function sizeOf(header: Uint8Array): number {
  if ((header[124] as number) & 0x80) {
    // GNU base-256: only ever used for sizes of 8 GiB and more.
    let size = (header[124] as number) & 0x7f;
    for (let i = 125; i < 136; i++) size = size * 256 + (header[i] as number);
    return size;
  }
  const text = field(header, 124, 12).trim();
  const size = text === "" ? 0 : Number.parseInt(text, 8);
  if (!/^[0-7]*$/.test(text) || !Number.isSafeInteger(size)) throw notTar("a size is not a number");
  return size;
}

function nameOf(header: Uint8Array): string {
  const name = field(header, 0, 100);
  const prefix = field(header, 257, 5) === "ustar" ? field(header, 345, 155) : "";
  return prefix ? `${prefix}/${name}` : name;
}

/** A pax header's path and size; a sparse file's fields refuse it. */
function paxFields(body: Uint8Array): { path?: string; size?: number } {
  const fields: { path?: string; size?: number } = {};
  const text = new TextDecoder().decode(body);
  for (const record of text.split("\n")) {
    const match = /^\d+ ([^=]+)=(.*)$/s.exec(record);
    if (!match) continue;
    const [, key, value] = match as unknown as [string, string, string];
    if (key.startsWith("GNU.sparse"))
      throw new Refusal({ kind: "not-plain", what: "a sparse file" });
    if (key === "path") fields.path = value;
    if (key === "size") {
      if (!/^\d+$/.test(value)) throw notTar("a size is not a number");
      fields.size = Number(value);
    }
  }
  return fields;
}

function field(header: Uint8Array, at: number, length: number): string {
  const bytes = header.subarray(at, at + length);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function compressionOf(archive: Uint8Array): string | undefined {
  const starts = (...bytes: number[]) => bytes.every((byte, i) => archive[i] === byte);
  if (starts(0x1f, 0x8b)) return "gzip";
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (starts(0x42, 0x5a, 0x68)) return "bzip2";
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  return undefined;
}

/** The longest magic number compressionOf looks for. */
const MAGIC_BYTES = 6;

/**
 * The first `n` bytes of `source` (fewer if it is shorter), and its chunks from the start
 * all the same: those read to find them, then the rest.
 */
async function withHead(
  source: AsyncIterator<Uint8Array>,
  n: number,
): Promise<{ head: Uint8Array; chunks: AsyncIterator<Uint8Array> }> {
  const read: Uint8Array[] = [];
  let sizeBytes = 0;
  while (sizeBytes < n) {
    const next = await source.next();
    if (next.done) break;
    read.push(next.value);
    sizeBytes += next.value.length;
  }
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      yield* read;
      for (;;) {
        const next = await source.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Stopped early (a refusal): the source stops too.
      await source.return?.(undefined);
    }
  }
  return { head: Buffer.concat(read).subarray(0, n), chunks: chunks() };
}

/** `chunks` as a ReadableStream (for DecompressionStream); cancelling it stops them. */
function streamOf(chunks: AsyncIterator<Uint8Array>): ReadableStream<Uint8Array<ArrayBuffer>> {
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value as Uint8Array<ArrayBuffer>);
    },
    async cancel() {
      await chunks.return?.(undefined);
    },
  });
}

async function* slices(archive: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < archive.length; at += SLICE_BYTES)
    yield archive.subarray(at, at + SLICE_BYTES);
}

/** Why an archive is refused, before it is said in the caller's words. */
type Problem =
  | { readonly kind: "not-tar"; readonly why: string }
  | { readonly kind: "not-plain"; readonly what: string }
  | { readonly kind: "too-large"; readonly what: string; readonly bound: keyof ArchiveLimits }
  | { readonly kind: "outside"; readonly name: string }
  | { readonly kind: "no-room"; readonly what: string };

class Refusal extends Error {
  constructor(readonly problem: Problem) {
    super(problem.kind);
  }
}

function refusalOf(problem: Problem, limits: ArchiveLimits, words: ArchiveWords): BuckyError {
  switch (problem.kind) {
    case "not-tar":
      return new BuckyError(
        "E_INVALID_INPUT",
        `that is not ${words.aNoun} bucky can read: ${problem.why}`,
        words.choose,
      );
    case "not-plain":
      return new BuckyError(
        "E_INVALID_INPUT",
        `that ${words.noun} holds ${problem.what}: ${words.aNoun} holds only plain files and directories`,
        words.repack,
      );
    case "too-large":
      return new BuckyError(
        "E_INVALID_INPUT",
        `that ${words.noun} holds ${problem.what}: ${words.aNoun} unpacks to at most ${limits.totalBytes} bytes, ${limits.entries} entries, and ${limits.fileBytes} bytes a file (${problem.bound})`,
        words.tooLarge,
      );
    case "no-room":
      return new BuckyError(
        "E_IO",
        `that ${words.noun} does not fit on this device's disk: with ${problem.what}, its files come to more than the ${formatBytes(limits.roomBytes ?? 0)} there is room for`,
        "Nothing was kept. Free some space (`bucky status --disk` shows where it goes), then try again.",
      );
    case "outside":
      return new BuckyError(
        "E_INVALID_INPUT",
        `that ${words.noun} holds ${JSON.stringify(problem.name)}, a path outside ${words.dir}`,
        `Nothing was kept: ${words.aNoun}'s paths are relative and stay inside it.`,
      );
  }
}

function tooLarge(what: string, bound: keyof ArchiveLimits): Refusal {
  return new Refusal({ kind: "too-large", what, bound });
}

function notTar(why: string): Refusal {
  return new Refusal({ kind: "not-tar", why });
}

function outside(name: string): Refusal {
  return new Refusal({ kind: "outside", name });
}

/** Bytes pulled from a stream of chunks, as many as asked for at a time. */
class Pull {
  private chunk: Uint8Array = new Uint8Array(0);
  private at = 0;

  constructor(private readonly chunks: AsyncIterator<Uint8Array>) {}

  /** At most `max` bytes (at least one); undefined at the end of the stream. */
  async piece(max: number): Promise<Uint8Array | undefined> {
    while (this.at >= this.chunk.length) {
      const next = await this.chunks.next();
      if (next.done) return undefined;
      this.chunk = next.value;
      this.at = 0;
    }
    const end = Math.min(this.chunk.length, this.at + max);
    const piece = this.chunk.subarray(this.at, end);
    this.at = end;
    return piece;
  }

  /** `n` bytes; fewer if the stream ends first, undefined if it had ended already. */
  async exactly(n: number): Promise<Uint8Array | undefined> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const piece = await this.piece(n - got);
      if (!piece) return got === 0 ? undefined : out.subarray(0, got);
      out.set(piece, got);
      got += piece.length;
    }
    return out;
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const piece = await this.piece(left);
      if (!piece) throw notTar("it ends in the middle of an entry");
      left -= piece.length;
    }
  }

  /** Stops the stream: nothing more is decompressed. */
  async close(): Promise<void> {
    await this.chunks.return?.().catch(() => {});
  }
}
