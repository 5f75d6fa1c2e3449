/**
 * The backup status file, changed by several processes at once (the daemon, and each
 * backup, verify and prune run): every change stands.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { homePaths } from "../home.ts";
import { readBackupStatus } from "./status.ts";

const home = mkdtempSync(join(tmpdir(), "bucky-backup-status-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** A process that records `count` verifies of `target`, one change each. */
function recorder(target: string, count: number) {
  const script = `
    import { homePaths } from ${JSON.stringify(join(import.meta.dir, "../home.ts"))};
    import { updateTargetStatus } from ${JSON.stringify(join(import.meta.dir, "status.ts"))};
    const paths = homePaths(${JSON.stringify(home)});
    for (let i = 1; i <= ${count}; i++)
      updateTargetStatus(paths, ${JSON.stringify(target)}, (status) => ({
        ...status,
        lastVerify: { at: new Date().toISOString(), ok: true, damaged: status.lastVerify ? status.lastVerify.damaged + 1 : 1 },
      }));
  `;
  return Bun.spawn([process.execPath, "-e", script], { stdout: "inherit", stderr: "inherit" });
}

describe("the backup status, changed by four processes at once", () => {
  test("keeps every change of each", async () => {
    const targets = ["nas", "usb", "cloud", "office"];
    const runs = targets.map((target) => recorder(target, 40));
    expect(await Promise.all(runs.map((run) => run.exited))).toEqual([0, 0, 0, 0]);
    const status = readBackupStatus(homePaths(home));
    // Each counted its own 40 changes: none read the file before another's write and
    // wrote it back without that.
    expect(targets.map((target) => status[target]?.lastVerify?.damaged)).toEqual([40, 40, 40, 40]);
  }, 60_000);
});
