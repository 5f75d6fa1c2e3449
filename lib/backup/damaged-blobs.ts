/**
 * The blobs a verify on this device found damaged in a repository, for this device's next
 * backup to store again. A backup takes a blob the index places as stored without reading
 * it (it cannot read the repository back at every run), so a pack the target damaged would
 * otherwise stay damaged in every later snapshot of the same data, whatever verify advised.
 * Kept beside the repository's file cache, in `<home>/backup/cache/<repository id>/`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic-file.ts";
import type { HomePaths } from "../home.ts";
import { cacheDir } from "./targets.ts";

/**
 * At most this many are kept (about 7 MB): past it, a whole target lost, the rest wait for
 * the verify after the next backup.
 */
export const MAX_DAMAGED_BLOBS = 100_000;
const BLOB_ID = /^[0-9a-f]{64}$/;

/** Adds `ids` to those recorded for the repository `repositoryId`. */
export function recordDamagedBlobs(
  paths: HomePaths,
  repositoryId: string,
  ids: readonly string[],
): void {
  if (ids.length === 0) return;
  const all = [...new Set([...readDamagedBlobs(paths, repositoryId), ...ids])].slice(
    0,
    MAX_DAMAGED_BLOBS,
  );
  const dir = join(cacheDir(paths), repositoryId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(join(dir, "damaged.json"), `${JSON.stringify(all)}\n`, 0o600);
}

/** The ids recorded for the repository; none when the file is missing or damaged itself. */
export function readDamagedBlobs(paths: HomePaths, repositoryId: string): string[] {
  const file = damagedFile(paths, repositoryId);
  if (!existsSync(file)) return [];
  try {
    const ids: unknown = JSON.parse(readFileSync(file, "utf8"));
    return Array.isArray(ids)
      ? ids.filter((id): id is string => typeof id === "string" && BLOB_ID.test(id))
      : [];
  } catch {
    return [];
  }
}

/**
 * Forgets `ids`: a backup stored again those of this device's data, and read the others
 * (another device's data, which its own backup stores again). Ids a verify recorded since
 * stay.
 */
export function forgetDamagedBlobs(
  paths: HomePaths,
  repositoryId: string,
  ids: readonly string[],
): void {
  if (ids.length === 0) return;
  const handled = new Set(ids);
  const left = readDamagedBlobs(paths, repositoryId).filter((id) => !handled.has(id));
  const file = damagedFile(paths, repositoryId);
  if (left.length === 0) rmSync(file, { force: true });
  else writeFileAtomic(file, `${JSON.stringify(left)}\n`, 0o600);
}

function damagedFile(paths: HomePaths, repositoryId: string): string {
  return join(cacheDir(paths), repositoryId, "damaged.json");
}
