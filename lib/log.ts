/**
 * Logs, per DESIGN.md: info is one line per completed request or durable state change,
 * with key=value fields; everything else is debug. Lines go to stderr (stdout carries
 * only results) and, once a home is attached, as JSON lines to `<home>/logs/bucky.log`,
 * rotated by size. Secrets are never passed in: there is nothing to redact.
 */
import { appendFileSync, mkdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  type ConsolaInstance,
  type ConsolaReporter,
  createConsola,
  type LogObject,
} from "consola/core";
import { isDiskFull } from "./errors.ts";

export const LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** consola's numeric levels; fatal and error share 0, so we keep the name as the type. */
const LEVEL_NUMBERS: Record<LogLevelName, number> = {
  silent: Number.NEGATIVE_INFINITY,
  fatal: 0,
  error: 0,
  warn: 1,
  info: 3,
  debug: 4,
  trace: 5,
};

/** The file keeps info and above whatever the console shows: it is the record. */
const FILE_LEVEL = LEVEL_NUMBERS.info;
const ROTATE_AT_BYTES = 10 * 1024 * 1024;
const FLUSH_AFTER_MS = 200;
const FLUSH_AT_BYTES = 64 * 1024;
const ROTATED_FILES_KEPT = 3;
/**
 * How much is kept for the file while the process has no descriptor to open it with: a
 * flood of connections can take them all for a while, and the lines of that while are the
 * ones a person would look for. Past this, the newest lines are dropped, and their count
 * written once the file opens again.
 */
const HELD_WITHOUT_DESCRIPTORS_BYTES = 1024 * 1024;
/** How soon the file is tried again, once it found no descriptor free. */
const RETRY_WITHOUT_DESCRIPTORS_MS = 1000;

export interface Log {
  fatal(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** From now on, also append JSON lines under `logsDir` (created if missing). */
  attachFile(logsDir: string): void;
  /** Writes what the log file has batched (it also does at exit). */
  flush(): void;
}

export interface LogOptions {
  level: LogLevelName;
  /** Where console lines go; stderr unless a test captures them. */
  write?: (line: string) => void;
}

export function createLog(options: LogOptions): Log {
  const consoleLevel = LEVEL_NUMBERS[options.level];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const consoleReporter: ConsolaReporter = {
    log(entry) {
      if (entry.level <= consoleLevel) write(`${formatConsoleLine(entry)}\n`);
    },
  };
  const fileReporters: ConsolaReporter[] = [];
  // Made at the first line logged: a command that logs nothing (most, with --json) does
  // not pay for it (0.3 ms of `bucky status`'s start).
  let consola: ConsolaInstance | undefined;
  const logger = (): ConsolaInstance => {
    consola ??= createConsola({
      level: Math.max(consoleLevel, FILE_LEVEL),
      reporters: [consoleReporter, ...fileReporters],
      // consola folds repeated identical lines by default; a log of requests must not.
      throttle: 0,
    });
    return consola;
  };
  const log =
    (type: Exclude<LogLevelName, "silent" | "trace">) => (message: string, fields?: LogFields) =>
      logger()[type](message, fields ?? {});
  let file: RotatingFile | undefined;
  return {
    fatal: log("fatal"),
    error: log("error"),
    warn: log("warn"),
    info: log("info"),
    debug: log("debug"),
    flush() {
      file?.flush();
    },
    attachFile(logsDir) {
      // Once: the daemon attaches it first thing, and opening the zone does again.
      if (file) return;
      file = new RotatingFile(logsDir);
      const attached = file;
      const reporter: ConsolaReporter = {
        log(entry) {
          // Warnings and worse are written at once; info lines a moment later, in batches.
          if (entry.level <= FILE_LEVEL)
            attached.append(`${formatJsonLine(entry)}\n`, entry.level <= LEVEL_NUMBERS.warn);
        },
      };
      fileReporters.push(reporter);
      consola?.addReporter(reporter);
    },
  };
}

function formatConsoleLine(entry: LogObject): string {
  const [message, fields] = entry.args as [string, LogFields];
  const time = entry.date.toISOString().slice(11, 23);
  const pairs = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  return [time, entry.type.toUpperCase().padEnd(5), message, ...pairs].join(" ");
}

function formatValue(value: LogFields[string]): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/**
 * `{"time":…,"level":…,"msg":…, …fields}`, its fields written by one JSON.stringify of
 * their own object rather than copied into a new one (a line per gateway request: the
 * copy, a Date's ISO string per line and the stringify were 3.4% of the gateway's samples
 * under wrk). A field named like the first three comes after them, so it is the one a
 * JSON reader keeps, as a copy would have done.
 */
function formatJsonLine(entry: LogObject): string {
  const [message, fields] = entry.args as [string, LogFields];
  return jsonLine(entry.date.getTime(), entry.type, message, fields);
}

function jsonLine(atMs: number, level: string, message: string, fields: LogFields): string {
  const rest = JSON.stringify(fields);
  const head = `{"time":"${isoTime(atMs)}","level":"${level}","msg":${JSON.stringify(message)}`;
  return rest === "{}" ? `${head}}` : `${head},${rest.slice(1)}`;
}

/** The time as RFC 3339 UTC: formatted once per millisecond, however many lines share it. */
let lastIso = { atMs: Number.NaN, text: "" };
function isoTime(atMs: number): string {
  if (lastIso.atMs !== atMs) lastIso = { atMs, text: new Date(atMs).toISOString() };
  return lastIso.text;
}

/**
 * An append-only file that rolls over to `.1`, `.2`, … when it grows too large. Lines are
 * written in batches (a write per request would cost a daemon under load more than the
 * request itself), at most FLUSH_AFTER_MS late, and at once when urgent or at exit.
 */
class RotatingFile {
  private readonly path: string;
  private sizeBytes: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the last write found no descriptor free: lines are held for the timer. */
  private waitingForDescriptor = false;
  /** Lines that found the file without a descriptor to spare, past what is held. */
  private droppedLines = 0;
  private droppedSinceMs = 0;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, "bucky.log");
    this.sizeBytes = sizeOf(this.path);
    process.once("exit", () => this.flush());
  }

  append(line: string, urgent: boolean): void {
    if (this.waitingForDescriptor) {
      // Only the timer tries again (a try per line would cost each line an open that fails,
      // during the flood that took the descriptors); past what is held, the newest lines go,
      // and the first of the spell, what a person would look for, stay.
      if (this.pendingBytes + line.length > HELD_WITHOUT_DESCRIPTORS_BYTES) {
        if (this.droppedLines === 0) this.droppedSinceMs = Date.now();
        this.droppedLines += 1;
      } else {
        this.pending.push(line);
        this.pendingBytes += line.length;
      }
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (urgent || this.pendingBytes >= FLUSH_AT_BYTES) {
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), FLUSH_AFTER_MS);
      this.timer.unref();
    }
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending.join("");
    this.pending = [];
    this.pendingBytes = 0;
    const dropped = this.droppedLines;
    const written = dropped === 0 ? text : `${droppedLine(dropped, this.droppedSinceMs)}\n${text}`;
    try {
      if (this.sizeBytes + written.length > ROTATE_AT_BYTES) this.rotate();
      appendFileSync(this.path, written, { mode: 0o600 });
      this.sizeBytes += Buffer.byteLength(written);
      this.droppedLines = 0;
      this.waitingForDescriptor = false;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // Out of descriptors (EMFILE, or the system's ENFILE): a passing state, which must
      // not end the process (it did, on a flood of connections); the lines wait for a
      // descriptor, tried again by the timer alone.
      if (code === "EMFILE" || code === "ENFILE") this.waitForDescriptor(text);
      // The file is a copy of what went to stderr: on a full disk, or with its directory
      // gone (the home removed under the process), it goes without.
      else if (!isDiskFull(error) && code !== "ENOENT") throw error;
    }
  }

  private waitForDescriptor(text: string): void {
    // Nothing was appended since the flush took the lines: they are all there is.
    this.waitingForDescriptor = true;
    this.pending = [text];
    this.pendingBytes = text.length;
    this.timer = setTimeout(() => this.flush(), RETRY_WITHOUT_DESCRIPTORS_MS);
    this.timer.unref();
  }

  private rotate(): void {
    for (let n = ROTATED_FILES_KEPT - 1; n >= 1; n--) {
      renameIfExists(`${this.path}.${n}`, `${this.path}.${n + 1}`);
    }
    renameIfExists(this.path, `${this.path}.1`);
    this.sizeBytes = 0;
  }
}

/** The line that stands in the file for those it could not be given. */
function droppedLine(count: number, sinceMs: number): string {
  return jsonLine(Date.now(), "warn", "log lines dropped: no file descriptor was free", {
    count,
    since: isoTime(sinceMs),
  });
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function renameIfExists(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
