/**
 * How far a backup, verify or first backup to a new target has come, for whoever watches
 * (the panel, through the daemon, which runs them as child processes): a small JSON file
 * in `<home>/backup/progress/`, rewritten at most four times a second (renamed into
 * place, so a reader never sees half of it; not synced: it matters only while the work
 * runs) and removed when the work ends.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { HomePaths } from "../home.ts";

export interface WorkProgress {
  readonly done: number;
  /** null while the whole is not known. */
  readonly total: number | null;
  readonly unit: "bytes" | "files";
  /** Which part of the work: "backup" or "verify" (adding a target does both). */
  readonly step?: "backup" | "verify";
}

const EVERY_MS = 250;

/** Where the daemon asks a child to report its work on target `name`. */
export function progressFileOf(paths: HomePaths, name: string): string {
  return join(paths.backupDir, "progress", `${name}.json`);
}

export interface ProgressWriter {
  update(progress: WorkProgress): void;
  finish(): void;
}

/** Writes progress to `file`; with no file, a writer that does nothing. */
export function progressWriter(file: string | undefined): ProgressWriter {
  if (!file) return { update() {}, finish() {} };
  let writtenAt = 0;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  return {
    update(progress) {
      const now = performance.now();
      if (now - writtenAt < EVERY_MS) return;
      writtenAt = now;
      const temp = `${file}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(progress), { mode: 0o600 });
      renameSync(temp, file);
    },
    finish() {
      rmSync(file, { force: true });
    },
  };
}

/** The progress in `file`, or null when there is none (the work has not begun, or ended). */
export function readProgress(file: string): WorkProgress | null {
  try {
    const value = JSON.parse(readFileSync(file, "utf8")) as Partial<WorkProgress>;
    if (typeof value.done !== "number" || (value.unit !== "bytes" && value.unit !== "files"))
      return null;
    return {
      done: value.done,
      total: typeof value.total === "number" ? value.total : null,
      unit: value.unit,
      ...(value.step === "backup" || value.step === "verify" ? { step: value.step } : {}),
    };
  } catch {
    return null;
  }
}
