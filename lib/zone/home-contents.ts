/**
 * What a home directory holds, judged from its entries alone: nothing, a finished zone,
 * the leftovers of an interrupted `bucky init`, or files that are not ours.
 */
import { readdirSync, statSync } from "node:fs";
import { basename } from "node:path";
import { BuckyError, fileSystemError } from "../errors.ts";
import { type HomePaths, homePaths } from "../home.ts";
import { DAEMON_LOCK_FILE } from "../node/daemon-lock.ts";

export type HomeContents = "missing" | "empty" | "zone" | "interrupted" | "foreign";

export function inspectHome(paths: HomePaths): HomeContents {
  let entries: string[];
  try {
    if (!statSync(paths.home).isDirectory()) {
      throw new BuckyError(
        "E_INVALID_INPUT",
        `the home ${paths.home} is a file, not a directory`,
        "Point --home (or BUCKY_HOME) at a directory.",
      );
    }
    entries = readdirSync(paths.home);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw fileSystemError(error, "read", paths.home) ?? error;
  }
  if (entries.includes(basename(paths.stateDb))) return "zone";
  const leftovers = new Set(initLeftovers(paths).map((path) => basename(path)));
  // A pending join is kept across attempts (lib/zone/pending-join.ts), not a leftover; the
  // lock of whoever makes the home (lib/node/daemon-lock.ts) stays where it is.
  const kept = new Set([basename(paths.logsDir), basename(paths.joinPending), DAEMON_LOCK_FILE]);
  const ours = entries.filter((entry) => leftovers.has(entry) || kept.has(entry));
  if (ours.length < entries.length) return "foreign";
  return entries.some((entry) => leftovers.has(entry)) ? "interrupted" : "empty";
}

/** Everything `bucky init` writes before it commits the zone by creating state.db. */
export function initLeftovers(paths: HomePaths): string[] {
  const db = paths.stateDbStaging;
  return [paths.identityDir, db, `${db}-wal`, `${db}-shm`, `${db}-journal`];
}

/** Whether `home` holds a zone (verified or not: opening it is what verifies). */
export function homeHasZone(home: string): boolean {
  return inspectHome(homePaths(home)) === "zone";
}
