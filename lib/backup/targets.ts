/**
 * How this device connects to the backup targets it added: `<home>/backup/targets.json`
 * holds what must stay on the device (the SSH identity file), beside the URL and the
 * pinned host key. The zone's list of targets is in the zone state (zone-targets.ts); a
 * target is a directory or an SFTP URL, and an SFTP server's host key is pinned when the
 * target is added, and refused if it changes.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { TARGET_NAME, urlProblem } from "../../protocol/backup/zone-target.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Backend } from "./backend.ts";
import { LocalBackend } from "./local-backend.ts";

export interface Target {
  readonly name: string;
  /** A directory path, or `sftp://user@host[:port]/path`. */
  readonly url: string;
  /** The SSH private key for an SFTP target. */
  readonly identityFile?: string;
  /** The SFTP server's host key, pinned when the target was added. */
  readonly hostKey?: string;
  /** Recorded in the zone state too (targets added before the zone recorded them are not). */
  readonly shared?: boolean;
  /** Recorded by this device's daemon, being from before the zone recorded targets. */
  readonly adopted?: boolean;
}

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

function damagedTargets(file: string, why: string): BuckyError {
  return new BuckyError(
    "E_INTEGRITY",
    `the backup targets file ${file} is damaged: ${why}`,
    "Remove it: the zone's targets stay, and a directory needs nothing from it. To give an SFTP target its key again, `bucky backup target rm` it and `bucky backup target add` it again (the backups on it stay).",
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
    [...others, target].sort((a, b) => compareCodeUnits(a.name, b.name)),
  );
}

/** Forgets how to connect to the target `name`; what it was, if this device knew it. */
export function forgetTarget(paths: HomePaths, name: string): Target | undefined {
  const targets = readTargets(paths);
  const target = targets.find((t) => t.name === name);
  if (target)
    writeTargets(
      paths,
      targets.filter((t) => t !== target),
    );
  return target;
}

/** A target's name is short, and safe in a file name (its progress file bears it). */
export function checkTargetName(name: string): void {
  if (!TARGET_NAME.test(name))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${JSON.stringify(name)} is not a target name`,
      "Use lowercase letters, digits and dashes, for example: usb, nas, offsite.",
    );
}

/** Checks a new target's name and URL; a directory path is made absolute. */
export function newTarget(name: string, url: string, identityFile?: string): Target {
  checkTargetName(name);
  if (url.startsWith("sftp://")) {
    const problem = urlProblem(url);
    if (problem)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${url}: ${problem}`,
        "Write it as sftp://user@host[:port]/path; SFTP targets log in with a key (--identity).",
      );
    return { name, url, ...(identityFile ? { identityFile: resolve(identityFile) } : {}) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${url}: only directories and sftp:// targets are supported`,
      "For example: /mnt/usb/bucky or sftp://me@backup.example.com/backups/home",
    );
  }
  const path = isAbsolute(url) ? url : resolve(url);
  const problem = urlProblem(path);
  if (problem) throw new BuckyError("E_INVALID_INPUT", `${url}: ${problem}`);
  return { name, url: path };
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
      // Only the directory itself: a path whose parent is not there is a typo or a disk not
      // mounted, and making the parents would put the backups somewhere nobody meant.
      if (!existsSync(dirname(target.url)))
        throw new BuckyError(
          "E_INVALID_INPUT",
          `the backup target ${target.url} cannot be made: ${dirname(target.url)} does not exist`,
          `Is its disk mounted, and the path spelled right? If that is where it goes, make the directory first (\`mkdir -p ${dirname(target.url)}\`).`,
        );
      try {
        mkdirSync(target.url, { mode: 0o700 });
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
  // Loaded when wanted: the SSH library is a large part of what a command would load.
  const { SftpBackend } = await import("./sftp-backend.ts");
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
