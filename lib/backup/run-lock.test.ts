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
const at = (iso: string) => () => Date.parse(iso);

describe("one backup of a device to a target at a time", () => {
  test("a second run waits for the one running, then holds it; told once that it waits", async () => {
    const paths = home();
    const first = await holdBackupRun(paths, "usb", at("2026-12-01T04:00:00Z"));
    const told: number[] = [];
    const second = holdBackupRun(paths, "usb", at("2026-12-01T04:05:00Z"), {
      onWait: (holder) => told.push(holder.pid),
    });
    await Bun.sleep(300);
    first.release();
    (await second).release();
    expect(told).toEqual([process.pid]);
    // Another target is another repository: never waits.
    const held = await holdBackupRun(paths, "usb", Date.now);
    (await holdBackupRun(paths, "offsite", Date.now, { waitMs: 0 })).release();
    held.release();
  });

  test("one that does not finish while it waits is named, and this one does not start", async () => {
    const paths = home();
    const first = await holdBackupRun(paths, "usb", at("2026-12-01T04:00:00Z"));
    await expect(holdBackupRun(paths, "usb", Date.now, { waitMs: 100 })).rejects.toThrow(
      `a backup of this device to usb is already running since 2026-12-01T04:00:00.000Z (pid ${process.pid}), and did not finish while this one waited`,
    );
    first.release();
  });

  test("the lock of a process that is gone, or of a pid used again since, is taken over at once", async () => {
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
      const held = await holdBackupRun(paths, "usb", at("2026-12-01T04:00:00Z"), { waitMs: 0 });
      expect(JSON.parse(readFileSync(lockOf(paths), "utf8"))).toMatchObject({
        pid: process.pid,
        startedAt: "2026-12-01T04:00:00.000Z",
      });
      held.release();
    }
  });

  test("a run whose lock was taken over releases nothing of the one that took it", async () => {
    const paths = home();
    const held = await holdBackupRun(paths, "usb", Date.now);
    const other = JSON.stringify({ pid: process.pid, since: "x", startedAt: "then" });
    writeFileSync(lockOf(paths), other);
    held.release();
    expect(readFileSync(lockOf(paths), "utf8")).toBe(other);
  });
});
