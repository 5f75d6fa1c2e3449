/**
 * An app's output file (`<home>/apps/<app>/app.log`), kept to a bounded size while the
 * app runs: the app writes to it directly (appending), so it is rotated by copying it to
 * `app.log.1` and truncating it in place; the app's next line lands at its start. A line
 * written in the instant between the copy and the truncation can be lost; nothing else.
 */
import { copyFileSync, renameSync, statSync, truncateSync } from "node:fs";

/** An output file past this is rotated: two files of it at most are kept. */
export const APP_LOG_MAX_BYTES = 5 * 1024 * 1024;

/** Rotates the output file of an app that is not running, if it is too large. */
export function rotateLog(path: string, maxBytes = APP_LOG_MAX_BYTES): boolean {
  if (sizeOf(path) <= maxBytes) return false;
  renameSync(path, `${path}.1`);
  return true;
}

/** Rotates the output file of an app that is running (and writing to it), if too large. */
export function trimLog(path: string, maxBytes = APP_LOG_MAX_BYTES): boolean {
  if (sizeOf(path) <= maxBytes) return false;
  copyFileSync(path, `${path}.1`);
  truncateSync(path, 0);
  return true;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
