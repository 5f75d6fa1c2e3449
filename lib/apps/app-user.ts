/**
 * Each app's own user, when bucky runs as root: a user id (and a group of the same id) no
 * other app of this home has, kept in `<app dir>/uid` so the app keeps it (and its files)
 * from run to run. Ids come from a range far above people's and systems' own
 * (1 900 000 000 and up, below 2^31), picked by a hash of the home and the app so two
 * homes on one machine do not hand out the same ones.
 */
import { createHash } from "node:crypto";
import { existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic-file.ts";

export interface AppUser {
  readonly uid: number;
  readonly gid: number;
}

export const APP_UID_BASE = 1_900_000_000;
export const APP_UID_RANGE = 2 ** 24;
/** The user the daemon tries its sandbox as at start: no app is ever given it. */
export const PROBE_USER: AppUser = { uid: APP_UID_BASE - 1, gid: APP_UID_BASE - 1 };

const UID_FILE = "uid";

/** The user `app` runs as (`appsDir/<app>/uid`), given one on its first run. */
export function appUser(appsDir: string, app: string): AppUser {
  mkdirSync(join(appsDir, app), { recursive: true, mode: 0o700 });
  const file = join(appsDir, app, UID_FILE);
  const kept = existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : Number.NaN;
  if (inRange(kept)) return { uid: kept, gid: kept };
  const taken = new Set(
    readdirSync(appsDir).flatMap((other) => {
      const path = join(appsDir, other, UID_FILE);
      return other !== app && existsSync(path) ? [Number(readFileSync(path, "utf8").trim())] : [];
    }),
  );
  const start = createHash("sha256").update(`${appsDir}\0${app}`).digest().readUInt32BE(0);
  let uid = APP_UID_BASE + (start % APP_UID_RANGE);
  while (taken.has(uid)) uid = APP_UID_BASE + ((uid - APP_UID_BASE + 1) % APP_UID_RANGE);
  writeFileAtomic(file, `${uid}\n`, 0o644);
  return { uid, gid: uid };
}

function inRange(uid: number): boolean {
  return Number.isInteger(uid) && uid >= APP_UID_BASE && uid < APP_UID_BASE + APP_UID_RANGE;
}

/**
 * Makes everything under `dir` the app's, as it must be before the app starts (a restore,
 * or an older bucky, may have left files of root's there). Symbolic links are changed
 * themselves, never followed, and a file with other names elsewhere (a hard link) is
 * left as it is: the app cannot use either to be given a file outside its data.
 */
export function giveToApp(dir: string, user: AppUser): void {
  const walk = (path: string) => {
    const stats = lstatSync(path);
    if (stats.isDirectory()) {
      for (const entry of readdirSync(path)) walk(join(path, entry));
    } else if (!stats.isSymbolicLink() && stats.nlink > 1) {
      return;
    }
    if (stats.uid !== user.uid || stats.gid !== user.gid) lchownSync(path, user.uid, user.gid);
  };
  walk(dir);
}
