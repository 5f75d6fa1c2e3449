import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { homePaths } from "../home.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { holdBackupRun } from "./run-lock.ts";

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function home() {
  const dir = mkdtempSync(join(TEST_SCRATCH_ROOT, "run-lock-"));
  made.push(dir);
  return homePaths(dir);
}

const lockOf = (paths: ReturnType<typeof home>) => join(paths.backupDir, "running", "usb.json");

describe("one backup of a device to a target at a time", () => {
  test("a second run while one lives is refused, naming it; once released, one goes through", () => {
    const paths = home();
    const held = holdBackupRun(paths, "usb", new Date("2026-12-01T04:00:00Z"));
    expect(() => holdBackupRun(paths, "usb", new Date())).toThrow(
      `a backup of this device to usb is already running since 2026-12-01T04:00:00.000Z (pid ${process.pid}): this one did not start`,
    );
    // Another target is another repository: not held.
    holdBackupRun(paths, "offsite", new Date()).release();
    held.release();
    holdBackupRun(paths, "usb", new Date()).release();
  });

  test("the lock of a process that is gone, or of a pid used again since, is taken over", async () => {
    const paths = home();
    const gone = Bun.spawn(["true"]);
    await gone.exited;
    mkdirSync(join(paths.backupDir, "running"), { recursive: true });
    for (const holder of [
      { pid: gone.pid, since: "1", startedAt: "2026-12-01T03:00:00.000Z" },
      // This very pid, but a process that started at another time: not the one that wrote it.
      { pid: process.pid, since: "0", startedAt: "2026-12-01T03:00:00.000Z" },
      "half a file",
    ]) {
      writeFileSync(lockOf(paths), typeof holder === "string" ? holder : JSON.stringify(holder));
      const held = holdBackupRun(paths, "usb", new Date("2026-12-01T04:00:00Z"));
      expect(JSON.parse(readFileSync(lockOf(paths), "utf8"))).toMatchObject({
        pid: process.pid,
        startedAt: "2026-12-01T04:00:00.000Z",
      });
      held.release();
    }
  });

  test("a run whose lock was taken over releases nothing of the one that took it", () => {
    const paths = home();
    const held = holdBackupRun(paths, "usb", new Date());
    const other = JSON.stringify({ pid: process.pid, since: "x", startedAt: "then" });
    writeFileSync(lockOf(paths), other);
    held.release();
    expect(readFileSync(lockOf(paths), "utf8")).toBe(other);
  });
});
