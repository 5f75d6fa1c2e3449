/**
 * The daemon's backup schedule, with the work it launches standing in as /bin/false (each
 * run fails at once) and its clock in the test's hands: what it launches at each tick.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type HomePaths, homePaths } from "../home.ts";
import { createLog, type Log } from "../log.ts";
import { heldBackupRun } from "./run-lock.ts";
import { BackupScheduler } from "./scheduler.ts";
import { updateTargetStatus } from "./status.ts";
import type { ResolvedTarget } from "./zone-targets.ts";

const home = mkdtempSync(join(tmpdir(), "bucky-schedule-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const HOUR_MS = 60 * 60_000;

/** A target the device backs up directly, at `/mnt/<name>`. */
function directTarget(name: string): ResolvedTarget {
  return {
    name,
    url: `/mnt/${name}`,
    via: "nas",
    route: { kind: "direct", connection: {} },
  } as unknown as ResolvedTarget;
}

/**
 * The schedule of `target`, hourly backups and daily checks, on the test's clock; its runs
 * stand in as /bin/false (each fails at once).
 */
function scheduleOf(paths: HomePaths, log: Log, now: () => number, target: ResolvedTarget) {
  return new BackupScheduler({
    paths,
    log,
    now,
    runtime: "/bin/false",
    backupEveryMs: HOUR_MS,
    verifyEveryMs: 24 * HOUR_MS,
    targets: () => [target],
  });
}

test("a prune or verify that failed is tried again an interval later, not at every tick", async () => {
  const paths = homePaths(home);
  let nowMs = Date.parse("2026-06-01T12:00:00Z");
  // Backed up a minute ago; never pruned nor verified: both are due.
  updateTargetStatus(paths, "usb", () => ({
    lastBackup: { at: new Date(nowMs - 60_000).toISOString(), snapshot: "s", durationMs: 1 },
  }));
  const usb = directTarget("usb");
  const failed: string[] = [];
  const log = createLog({ level: "warn", write: (line) => failed.push(line) });
  const scheduler = scheduleOf(paths, log, () => nowMs, usb);
  // The ticks by hand: start() ticks once, and its timer (a minute) never comes in this test.
  const tick = () => (scheduler as unknown as { tick(): void }).tick();
  const launched: string[] = [];
  const tickAndWait = async () => {
    tick();
    const running = scheduler.runningNow();
    launched.push(running.map((r) => r.kind).join(",") || "nothing");
    const before = failed.length;
    if (running.length > 0)
      while (failed.length === before || scheduler.runningNow().length > 0) await Bun.sleep(5);
  };
  try {
    for (let i = 0; i < 3; i++) {
      await tickAndWait();
      nowMs += 60_000;
    }
    // The prune failed, then the verify; the minute after, nothing again yet.
    expect(launched).toEqual(["prune", "verify", "nothing"]);
    nowMs += HOUR_MS;
    // An interval on, the backup is due first, then the prune is tried again.
    await tickAndWait();
    await tickAndWait();
    expect(launched.slice(3)).toEqual(["backup", "prune"]);
  } finally {
    await scheduler.stop();
  }
});

test("a backup of this device paused (SIGSTOP) is no failure of the target: the schedule backs up once it is gone, not an interval later", async () => {
  const paths = homePaths(mkdtempSync(join(home, "paused-")));
  const nowMs = Date.parse("2026-06-01T12:00:00Z");
  // Never backed up: a backup is due at every tick.
  const usb = directTarget("usb");
  const warned: string[] = [];
  const log = createLog({ level: "warn", write: (line) => warned.push(line) });
  // A run of its own (`bucky backup run` by hand) holds the target, then is paused.
  const runLock = join(import.meta.dir, "run-lock.ts");
  const homeModule = join(import.meta.dir, "..", "home.ts");
  const paused = Bun.spawn(
    [
      process.execPath,
      "-e",
      `const { holdBackupRun } = await import(${JSON.stringify(runLock)});
       const { homePaths } = await import(${JSON.stringify(homeModule)});
       await holdBackupRun(homePaths(${JSON.stringify(paths.home)}), "usb", Date.now);
       process.kill(process.pid, "SIGSTOP");
       await Bun.sleep(60_000);`,
    ],
    { stdout: "ignore", stderr: "inherit" },
  );
  // The schedule's own runs stand in as /bin/false: refused, as a real one is by the paused run.
  const scheduler = scheduleOf(paths, log, () => nowMs, usb);
  const tick = () => (scheduler as unknown as { tick(): void }).tick();
  const launched: string[] = [];
  const tickAndWait = async () => {
    tick();
    const running = scheduler.runningNow();
    launched.push(running.map((r) => r.kind).join(",") || "nothing");
    // Its exit seen to (the failure noted, or not) as it leaves the running.
    while (scheduler.runningNow().length > 0) await Bun.sleep(5);
  };
  try {
    while (!heldBackupRun(paths, "usb")?.paused) await Bun.sleep(10);
    await tickAndWait();
    await tickAndWait();
    // Ended (as `kill <pid>` would), at the same moment: no interval has passed.
    paused.kill("SIGKILL");
    await paused.exited;
    await tickAndWait();
    expect(launched).toEqual(["nothing", "nothing", "backup"]);
    // Said once, as waiting for it; no failure.
    expect(warned.filter((l) => l.includes("paused backup of this device"))).toHaveLength(1);
    expect(warned.filter((l) => l.includes("scheduled backup failed"))).toHaveLength(1); // /bin/false's, after
  } finally {
    paused.kill("SIGKILL");
    await scheduler.stop();
  }
});

test("a clock set back leaves no run dated ahead of it to wait for: the backup is due", async () => {
  const paths = homePaths(home);
  const backedUpAt = Date.parse("2026-06-02T12:00:00Z");
  updateTargetStatus(paths, "disk", () => ({
    lastBackup: { at: new Date(backedUpAt).toISOString(), snapshot: "s", durationMs: 1 },
    lastPrune: { at: new Date(backedUpAt).toISOString() },
    lastVerify: { at: new Date(backedUpAt).toISOString(), ok: true, damaged: 0 },
  }));
  const disk = directTarget("disk");
  // Set back an hour, ten minutes after that backup: it is dated 50 minutes ahead.
  const nowMs = backedUpAt - HOUR_MS + 10 * 60_000;
  const scheduler = scheduleOf(paths, createLog({ level: "silent" }), () => nowMs, disk);
  try {
    (scheduler as unknown as { tick(): void }).tick();
    expect(scheduler.runningNow().map((run) => run.kind)).toEqual(["backup"]);
  } finally {
    await scheduler.stop();
  }
});
