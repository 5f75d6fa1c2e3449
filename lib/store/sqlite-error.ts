/** Explains a SQLite failure for a person, by SQLite's result code. */
import { BuckyError } from "../errors.ts";

/** A BuckyError for a SQLite failure on the database at `path`, or undefined if `error` is not one. */
export function sqliteError(error: unknown, path: string): BuckyError | undefined {
  if (!(error instanceof Error) || error.name !== "SQLiteError") return undefined;
  const code = (error as Error & { code?: string }).code ?? "";
  const cause = { cause: error };
  // Extended codes (SQLITE_IOERR_WRITE, …) share their primary code's meaning.
  switch (code.replace(/^(SQLITE_[A-Z]+)_.*$/, "$1")) {
    case "SQLITE_FULL":
      return new BuckyError(
        "E_IO",
        `cannot write ${path}: the disk is full`,
        "Free some space and run the command again.",
        cause,
      );
    case "SQLITE_IOERR":
      return new BuckyError(
        "E_IO",
        `cannot use ${path}: input/output error (${code})`,
        "The disk may be failing; check it before retrying.",
        cause,
      );
    case "SQLITE_READONLY":
    case "SQLITE_PERM":
    case "SQLITE_CANTOPEN":
      return new BuckyError(
        "E_PERMISSION",
        `cannot open ${path} for writing (${code})`,
        "Check that the home directory and its files are yours and writable.",
        cause,
      );
    case "SQLITE_BUSY":
    case "SQLITE_LOCKED":
      return new BuckyError(
        "E_UNAVAILABLE",
        `${path} is locked by another process`,
        "Try again in a moment.",
        cause,
      );
    case "SQLITE_NOTADB":
    case "SQLITE_CORRUPT":
      return new BuckyError(
        "E_INTEGRITY",
        `the state database ${path} is damaged: ${error.message}`,
        "Restore the home from a backup, or move it away and join the zone again.",
        cause,
      );
    default:
      return undefined;
  }
}
