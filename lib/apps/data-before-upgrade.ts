/**
 * A copy of an app's data from before an upgrade, to go back to with the version before
 * when the upgrade is given up (lib/apps/upgrade-rollback.ts). A new version that crashes
 * at start may have begun changing the data (a migration half done) that the version
 * before cannot read. The device running the app copies the data once the version before
 * has stopped and before the new one starts, when it is small enough for that to be cheap
 * (DATA_COPY_LIMIT_BYTES); a rollback puts the copy back before the version before starts,
 * and keeps what the failed version left beside it (`failed-upgrade-data/`), never deleted
 * by bucky but with the app's purge. The new version received no requests (it never was
 * healthy), so nothing a person wrote is lost with it. The copy goes once the new version
 * runs healthy.
 */
import {
  cpSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import type { ObjectId } from "../../protocol/ndn.ts";
import { writeFileAtomic } from "../atomic-file.ts";

/** Data larger than this is not copied before an upgrade (its rollback keeps it as it is). */
export const DATA_COPY_LIMIT_BYTES = 64 * 1024 ** 2;

const COPY_DIR = "before-upgrade";
/** In the copy: the package the upgrade went to. */
const UPGRADE_TO_FILE = "upgrade-to";
/** What a failed upgrade left of the data, kept aside when the copy is put back. */
export const FAILED_UPGRADE_DATA_DIR = "failed-upgrade-data";

/** Copies the app's data before it is upgraded to `upgradeTo`, when it is small; whether it did. */
export function keepDataBeforeUpgrade(
  appDir: string,
  upgradeTo: ObjectId,
  limitBytes = DATA_COPY_LIMIT_BYTES,
): boolean {
  const copy = join(appDir, COPY_DIR);
  const staging = `${copy}.partial`;
  rmSync(staging, { recursive: true, force: true });
  rmSync(copy, { recursive: true, force: true });
  const data = join(appDir, "data");
  if (!existsSync(data) || !withinBytes(data, limitBytes)) return false;
  cpSync(data, join(staging, "data"), {
    recursive: true,
    verbatimSymlinks: true,
    // Files, directories and links: a socket or FIFO the app keeps there (a server's own
    // socket) is no data, and copied it failed the copy, and with it the way back.
    filter: (source) => {
      const stat = lstatSync(source);
      return stat.isFile() || stat.isDirectory() || stat.isSymbolicLink();
    },
  });
  writeFileAtomic(join(staging, UPGRADE_TO_FILE), upgradeTo);
  renameSync(staging, copy);
  return true;
}

/**
 * Puts back the data copied before the upgrade to `failed`, if that is the copy held;
 * what that version left goes to FAILED_UPGRADE_DATA_DIR. Whether it did.
 *
 * A daemon killed part way runs this again at its next start (the spec still names the
 * failed upgrade), so each step is safe to repeat: the copy's `data` moved out is the
 * mark that the put-back is done, and `data` already moved aside is not moved again
 * (nor is what it left deleted).
 */
export function restoreDataBeforeUpgrade(appDir: string, failed: ObjectId): boolean {
  const copy = join(appDir, COPY_DIR);
  if (copyFor(appDir) !== failed) return false;
  const kept = join(copy, "data");
  if (existsSync(kept)) {
    const data = join(appDir, "data");
    if (existsSync(data)) {
      const aside = join(appDir, FAILED_UPGRADE_DATA_DIR);
      rmSync(aside, { recursive: true, force: true });
      renameSync(data, aside);
    }
    renameSync(kept, data);
  }
  rmSync(copy, { recursive: true, force: true });
  return true;
}

/** Lets the copy go once the version it was kept for runs healthy. */
export function dropDataBeforeUpgrade(appDir: string, upgradedTo: ObjectId): void {
  if (copyFor(appDir) === upgradedTo)
    rmSync(join(appDir, COPY_DIR), { recursive: true, force: true });
}

/** Everything kept of the app's data beside it (the app's purge removes it too). */
export function dataCopiesOf(appDir: string): string[] {
  return [join(appDir, COPY_DIR), join(appDir, FAILED_UPGRADE_DATA_DIR)];
}

function copyFor(appDir: string): string | undefined {
  const path = join(appDir, COPY_DIR, UPGRADE_TO_FILE);
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

/** Whether the files under `dir` add up to `limit` bytes at most (stops counting past it). */
function withinBytes(dir: string, limit: number): boolean {
  let total = 0;
  const walk = (path: string): boolean => {
    const stats = lstatSync(path);
    if (stats.isDirectory()) return readdirSync(path).every((entry) => walk(join(path, entry)));
    total += stats.isFile() ? stats.size : 0;
    return total <= limit;
  };
  return walk(dir);
}
