/**
 * The one error type of bucky, and the one table from its codes to process exit codes
 * and HTTP statuses. Both the CLI and the HTTP API report errors through it.
 */
import { existsSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { ProtocolError } from "../protocol/errors.ts";

export const ERROR_CODES = {
  /** The command line is wrong: unknown flag, missing argument. */
  E_USAGE: { exit: 2, http: 400 },
  /** A value is not acceptable: a bad name, a mistyped recovery phrase. */
  E_INVALID_INPUT: { exit: 2, http: 400 },
  E_NOT_FOUND: { exit: 1, http: 404 },
  /** This home has no zone (yet). */
  E_NO_ZONE: { exit: 1, http: 404 },
  E_EXISTS: { exit: 1, http: 409 },
  /** A request's body is over what its route takes: the upload, not bucky, must change. */
  E_TOO_LARGE: { exit: 2, http: 413 },
  E_PERMISSION: { exit: 1, http: 403 },
  /** A device's request refused because the two devices' clocks are too far apart. */
  E_CLOCK: { exit: 1, http: 403 },
  /**
   * This device is proven to have signed two histories: every device refuses what it
   * writes, so it writes nothing, quarantined until the owner revokes it and revoked after
   * (a passing state for its daemon, said once a minute, never a crash).
   */
  E_QUARANTINED: { exit: 1, http: 403 },
  /**
   * This device was revoked by the zone's owner: it takes no part in the zone any more, and
   * its daemon does not run (an exit of its own, so a service manager does not restart it).
   */
  E_REVOKED: { exit: 5, http: 403 },
  /**
   * A member of the zone runs an older bucky that would refuse this write (and every later
   * change of the writer behind it): that member is to be upgraded first.
   */
  E_UPGRADE_FIRST: { exit: 1, http: 409 },
  /** The operating system refused: disk full, I/O error. */
  E_IO: { exit: 1, http: 500 },
  /** Try again later: a daemon that is not running, a peer that is not reachable. */
  E_UNAVAILABLE: { exit: 3, http: 503 },
  /** Too many or too large requests for now: try again after the wait it says (Retry-After). */
  E_RATE_LIMITED: { exit: 3, http: 429 },
  /** A bound on what is kept is reached (an app's live zone state): make room first. */
  E_QUOTA: { exit: 1, http: 507 },
  /** A signature, hash or file does not verify. Do not retry: something was altered. */
  E_INTEGRITY: { exit: 4, http: 422 },
  /** A bug in bucky. */
  E_INTERNAL: { exit: 70, http: 500 },
} as const satisfies Record<string, { exit: number; http: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Whether `code`, as another process or device wrote it, is one of the table's own codes
 * (not a name every object has, such as `constructor`).
 */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
}

export class BuckyError extends Error {
  override readonly name = "BuckyError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    /** What the user can do next. */
    readonly hint?: string,
    options?: {
      cause?: unknown;
      /** When a refusal for now may be tried again: an HTTP answer says it in Retry-After. */
      retryAfterS?: number;
      /** What the answer carries beside the words, for the asker to act on (E_REVOKED's revocation). */
      details?: Readonly<Record<string, string>>;
    },
  ) {
    super(message, options);
    this.retryAfterS = options?.retryAfterS;
    this.details = options?.details;
  }

  readonly retryAfterS: number | undefined;
  readonly details: Readonly<Record<string, string>> | undefined;

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  toJSON(): {
    code: ErrorCode;
    message: string;
    hint?: string;
    [detail: string]: string | undefined;
  } {
    return {
      ...this.details,
      code: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
    };
  }
}

/**
 * Whether `error` says the disk is full: SQLite's SQLITE_FULL, or the system's ENOSPC or
 * EDQUOT. That is no bug: the daemon carries on, refusing writes until there is room.
 */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT") return true;
  // SQLite says only "I/O error" when it cannot grow its shared-memory or journal file.
  return typeof code === "string" && code.startsWith("SQLITE_IOERR") && homeDiskIsFull();
}

/**
 * Whether `error` says a SQLite database is held by another process past the wait for it
 * (SQLITE_BUSY, SQLITE_LOCKED; SQLITE_PROTOCOL, what a reader meets when the process
 * holding the log's index was stopped half way, a backup paused with Ctrl-Z): a passing
 * state, tried again later, never a crash.
 */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^SQLITE_(BUSY|LOCKED|PROTOCOL)/.test(code);
}

/**
 * Whether `error` is a write refused because this device is quarantined (E_QUARANTINED):
 * its daemon carries on, writing nothing, until the owner revokes it.
 */
export function isQuarantined(error: unknown): boolean {
  return error instanceof BuckyError && error.code === "E_QUARANTINED";
}

/**
 * Whether the daemon waits this error out (a full disk, a busy database, this device's
 * quarantine) rather than crash.
 */
export function isPassing(error: unknown): boolean {
  return isDiskFull(error) || isBusy(error) || isQuarantined(error);
}

/** Less room than this on the home's disk is a full disk, for an I/O error's sake. */
const FULL_BELOW_BYTES = 1024 * 1024;
let home: string | undefined;

/** Where bucky writes: an I/O error while that disk is full is then said to be that. */
export function noteHome(path: string): void {
  home = path;
}

function homeDiskIsFull(): boolean {
  if (!home) return false;
  try {
    // A home not made yet is on its nearest existing parent's disk.
    let dir = home;
    while (!existsSync(dir)) dir = dirname(dir);
    const disk = statfsSync(dir);
    return disk.bavail * disk.bsize < FULL_BELOW_BYTES;
  } catch {
    return false;
  }
}

/**
 * Turns anything thrown into a BuckyError at the edge. A failure of SQLite or a full disk
 * is explained; a ProtocolError that escaped without context is still an integrity
 * fault; anything else unexpected is a bug.
 */
export function toBuckyError(error: unknown): BuckyError {
  if (error instanceof BuckyError) return error;
  const storage = sqliteError(error, "bucky's state database");
  if (storage) return storage;
  if (isDiskFull(error)) {
    return new BuckyError(
      "E_IO",
      "the disk is full: bucky cannot save anything to it",
      "Free some space: nothing was changed, and bucky carries on once there is room.",
      { cause: error },
    );
  }
  if (error instanceof ProtocolError) {
    return new BuckyError(
      "E_INTEGRITY",
      error.message,
      "Data failed verification; do not trust it.",
      {
        cause: error,
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new BuckyError(
    "E_INTERNAL",
    `internal error: ${message}`,
    "This is a bug in bucky. Run again with --log-level debug and report the output.",
    { cause: error },
  );
}

/**
 * Explains an operating-system error on `path` for a person, or undefined for errors
 * that are not about the file system (so the caller rethrows them untouched).
 */
export function fileSystemError(
  error: unknown,
  action: string,
  path: string,
): BuckyError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const cause = { cause: error };
  switch (code) {
    case "EACCES":
    case "EPERM":
      return new BuckyError(
        "E_PERMISSION",
        `cannot ${action} ${path}: permission denied`,
        "Choose a directory you can write to, with --home or BUCKY_HOME.",
        cause,
      );
    case "EROFS":
      return new BuckyError(
        "E_PERMISSION",
        `cannot ${action} ${path}: the file system is read-only`,
        "Choose a writable directory with --home or BUCKY_HOME.",
        cause,
      );
    case "ENOTDIR":
      return new BuckyError(
        "E_INVALID_INPUT",
        `cannot ${action} ${path}: part of the path is a file, not a directory`,
        "Point --home at a directory.",
        cause,
      );
    case "ENOENT":
      return new BuckyError(
        "E_NOT_FOUND",
        `cannot ${action} ${path}: no such file or directory`,
        undefined,
        cause,
      );
    case "ENOSPC":
    case "EDQUOT":
      return new BuckyError(
        "E_IO",
        `cannot ${action} ${path}: the disk is full`,
        "Free some space and run the command again; nothing was changed.",
        cause,
      );
    case "EIO":
      return new BuckyError(
        "E_IO",
        `cannot ${action} ${path}: input/output error`,
        "The disk may be failing; check it before retrying.",
        cause,
      );
    default:
      return undefined;
  }
}

/**
 * A BuckyError for a SQLite failure on `path` (a phrase naming the database, like "the
 * state database /home/x/state.db"), or undefined if `error` is not one.
 */
export function sqliteError(error: unknown, what: string): BuckyError | undefined {
  if (!(error instanceof Error) || error.name !== "SQLiteError") return undefined;
  const code = (error as Error & { code?: string }).code ?? "";
  const cause = { cause: error };
  // Extended codes (SQLITE_IOERR_WRITE, …) share their primary code's meaning.
  switch (code.replace(/^(SQLITE_[A-Z]+)_.*$/, "$1")) {
    case "SQLITE_FULL":
      return new BuckyError(
        "E_IO",
        `cannot write ${what}: the disk is full`,
        "Free some space and run the command again.",
        cause,
      );
    case "SQLITE_IOERR":
      if (isDiskFull(error))
        return new BuckyError(
          "E_IO",
          `cannot write ${what}: the disk is full (${code})`,
          "Free some space and run the command again.",
          cause,
        );
      return new BuckyError(
        "E_IO",
        `cannot use ${what}: input/output error (${code})`,
        "The disk may be failing; check it before retrying.",
        cause,
      );
    case "SQLITE_READONLY":
    case "SQLITE_PERM":
    case "SQLITE_CANTOPEN":
      return new BuckyError(
        "E_PERMISSION",
        `cannot open ${what} for writing (${code})`,
        "Check that the home directory and its files are yours and writable.",
        cause,
      );
    case "SQLITE_BUSY":
    case "SQLITE_LOCKED":
    case "SQLITE_PROTOCOL":
      return new BuckyError(
        "E_UNAVAILABLE",
        `${what} is locked by another process`,
        "Try again in a moment.",
        cause,
      );
    case "SQLITE_NOTADB":
    case "SQLITE_CORRUPT":
      return new BuckyError(
        "E_INTEGRITY",
        `${what} is damaged: ${error.message}`,
        "Restore the home from a backup (`bucky backup restore latest`), or move it away and join the zone again.",
        cause,
      );
    default:
      return undefined;
  }
}
