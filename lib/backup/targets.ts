/**
 * Backup targets: where this device's backups go, by name, in `<home>/backup/targets.json`
 * (local, as SSH identities are local). A target is a directory or an SFTP URL; an SFTP
 * server's host key is pinned when the target is added, and refused if it changes.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { writeFileAtomic } from "../atomic-file.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { Backend } from "./backend.ts";
import { LocalBackend } from "./local-backend.ts";
import { SftpBackend } from "./sftp-backend.ts";

export interface Target {
  readonly name: string;
  /** A directory path, or `sftp://user@host[:port]/path`. */
  readonly url: string;
  /** The SSH private key for an SFTP target. */
  readonly identityFile?: string;
  /** The SFTP server's host key, pinned when the target was added. */
  readonly hostKey?: string;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export function readTargets(paths: HomePaths): Target[] {
  const file = targetsFile(paths);
  if (!existsSync(file)) return [];
  let targets: unknown;
  try {
    targets = (JSON.parse(readFileSync(file, "utf8")) as { targets?: unknown }).targets ?? [];
  } catch (error) {
    throw damagedTargets(file, (error as Error).message);
  }
  const valid = (t: unknown): t is Target =>
    typeof t === "object" &&
    t !== null &&
    typeof (t as Target).name === "string" &&
    typeof (t as Target).url === "string";
  if (!Array.isArray(targets) || !targets.every(valid))
    throw damagedTargets(file, "it does not list targets");
  return targets;
}

/**
 * The targets, for work the daemon does by itself: a damaged file is said once and
 * counts as none (the commands that read it say what is wrong and how to mend it).
 */
export function targetsForDaemon(paths: HomePaths, log: Log): Target[] {
  try {
    const targets = readTargets(paths);
    saidDamaged = undefined;
    return targets;
  } catch (error) {
    if (!(error instanceof BuckyError)) throw error;
    if (saidDamaged !== error.message) log.error("backups stopped", { error: error.message });
    saidDamaged = error.message;
    return [];
  }
}
let saidDamaged: string | undefined;

function damagedTargets(file: string, why: string): BuckyError {
  return new BuckyError(
    "E_INTEGRITY",
    `the backup targets file ${file} is damaged: ${why}`,
    "Remove it, then add the targets again with `bucky backup target add` (the backups on them stay).",
  );
}

function writeTargets(paths: HomePaths, targets: readonly Target[]): void {
  mkdirSync(paths.backupDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(targetsFile(paths), `${JSON.stringify({ targets }, null, 2)}\n`, 0o600);
}

export function saveTarget(paths: HomePaths, target: Target): void {
  const others = readTargets(paths).filter((t) => t.name !== target.name);
  writeTargets(
    paths,
    [...others, target].sort((a, b) => a.name.localeCompare(b.name)),
  );
}

export function removeTarget(paths: HomePaths, name: string): Target {
  const targets = readTargets(paths);
  const target = targets.find((t) => t.name === name);
  if (!target) throw unknownTarget(name, targets);
  writeTargets(
    paths,
    targets.filter((t) => t !== target),
  );
  return target;
}

/** Checks a new target's name and URL; a directory path is made absolute. */
export function newTarget(name: string, url: string, identityFile?: string): Target {
  if (!NAME.test(name)) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${JSON.stringify(name)} is not a target name`,
      "Use lowercase letters, digits and dashes, for example: usb, nas, offsite.",
    );
  }
  if (url.startsWith("sftp://")) {
    return { name, url, ...(identityFile ? { identityFile: resolve(identityFile) } : {}) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${url}: only directories and sftp:// targets are supported`,
      "For example: /mnt/usb/bucky or sftp://me@backup.example.com/backups/home",
    );
  }
  return { name, url: isAbsolute(url) ? url : resolve(url) };
}

/**
 * The target to use: the one named, or the only one there is. `from` may also be a
 * directory or URL not added as a target (restoring on a new box).
 */
export function chooseTarget(
  paths: HomePaths,
  which: string | undefined,
  identityFile?: string,
): Target {
  const targets = readTargets(paths);
  if (which) {
    const named = targets.find((t) => t.name === which);
    if (named) return identityFile ? { ...named, identityFile: resolve(identityFile) } : named;
    if (which.includes("/")) return newTarget("adhoc", which, identityFile);
    throw unknownTarget(which, targets);
  }
  if (targets.length === 1) return targets[0] as Target;
  throw new BuckyError(
    targets.length === 0 ? "E_NOT_FOUND" : "E_USAGE",
    targets.length === 0
      ? "no backup target is set up"
      : `there are ${targets.length} backup targets: say which one`,
    targets.length === 0
      ? "Add one: `bucky backup target add usb /mnt/usb/bucky` (or an sftp:// URL)."
      : `Use --target with one of: ${targets.map((t) => t.name).join(", ")}.`,
  );
}

/**
 * Connects to a target. A directory is made only with `create` (when the target is
 * added): otherwise a missing one means its disk is not there, and making it would put
 * the backups on whatever disk holds the empty mount point.
 */
export async function connect(
  target: Target,
  options: { create?: boolean } = {},
): Promise<Backend> {
  if (!target.url.startsWith("sftp://")) {
    if (!existsSync(target.url)) {
      if (!options.create)
        throw new BuckyError(
          "E_UNAVAILABLE",
          `the backup target ${target.url} is not there: is its disk plugged in and mounted?`,
          "Backups go on by themselves once it is back.",
        );
      try {
        mkdirSync(target.url, { recursive: true, mode: 0o700 });
      } catch (error) {
        throw new BuckyError(
          "E_UNAVAILABLE",
          `the backup target ${target.url} cannot be created: ${(error as Error).message}`,
          "Is the disk mounted?",
        );
      }
    }
    return new LocalBackend(target.url);
  }
  return SftpBackend.connect(target.url, {
    ...(target.identityFile ? { identityFile: target.identityFile } : {}),
    ...(target.hostKey ? { hostKey: target.hostKey } : {}),
  });
}

export function cacheDir(paths: HomePaths): string {
  return join(paths.backupDir, "cache");
}

function targetsFile(paths: HomePaths): string {
  return join(paths.backupDir, "targets.json");
}

function unknownTarget(name: string, targets: readonly Target[]): BuckyError {
  return new BuckyError(
    "E_NOT_FOUND",
    `there is no backup target named ${name}`,
    targets.length > 0
      ? `The targets are: ${targets.map((t) => t.name).join(", ")}.`
      : "Add one with `bucky backup target add`.",
  );
}
