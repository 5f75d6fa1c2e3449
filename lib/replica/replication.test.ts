/**
 * Bringing a conflict copy back (`bucky app restore-copy`) on the holder: its data is moved
 * aside only once a snapshot of it under way is done, never from under the snapshot.
 */
import { afterAll, afterEach, describe, expect, spyOn, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeviceId } from "../../protocol/ids.ts";
import { conflictCopyName } from "../../protocol/replica.ts";
import { testSpec } from "../apps/test-spec.ts";
import { createLog } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { HolderClaim } from "./claims.ts";
import { Replication } from "./replication.ts";
import * as snapshot from "./snapshot.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-replication-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let replication: Replication | undefined;
afterEach(async () => {
  await replication?.stop();
  replication = undefined;
});

describe("a conflict copy restored on the holder", () => {
  test("waits for the snapshot under way before it moves the data aside", async () => {
    const home = join(scratch, "nas");
    const appsDir = join(home, "apps");
    const dataDir = join(appsDir, "notes", "data");
    const conflicts = join(appsDir, "notes", "conflicts");
    const copy = conflictCopyName(Date.parse("2026-11-29T10:00:00.000Z"), "nas", 1);
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "notes.txt"), "as it is now");
    mkdirSync(join(conflicts, copy), { recursive: true });
    writeFileSync(join(conflicts, copy, "notes.txt"), "the copy");
    writeFileSync(
      join(conflicts, `${copy}.json`),
      JSON.stringify({ name: copy, at: "2026-11-29T10:00:00.000Z", bytes: 8, epoch: 1 }),
    );
    const written: string[] = [];
    const node = {
      deviceName: "nas",
      zone: { paths: { home, appsDir } },
      now: () => Date.now(),
      log: createLog({ level: "silent" }),
      write: (ops: { key: string }[]) => written.push(...ops.map((op) => op.key)),
    } as unknown as NodeContext;
    replication = new Replication(node, { onChange: () => {} });

    // The holder's snapshot, held open until the test lets it go on; what it then reads.
    const take = snapshot.takeSnapshot;
    let started: () => void = () => {};
    const snapshotStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let seen: string | undefined;
    const held = spyOn(snapshot, "takeSnapshot").mockImplementation(async (options) => {
      started();
      await released;
      seen = readFileSync(join(options.dataDir, "notes.txt"), "utf8");
      return take(options);
    });
    try {
      const claim: HolderClaim = {
        device: "nas",
        deviceId: "dnas" as DeviceId,
        epoch: 1,
        since: "2026-11-29T09:00:00.000Z",
        from: null,
        lostAtMostMs: null,
      };
      const spec = testSpec("notes", {
        restoreCopy: { device: "nas", name: copy, at: "2026-11-29T11:00:00.000Z" },
      });
      await replication.arrange(
        spec,
        {
          holder: claim,
          runner: "nas",
          claimant: undefined,
          standbys: [],
          movingTo: undefined,
          waiting: undefined,
        },
        claim,
      );
      await snapshotStarted;
      const restoring = replication.restoreCopy(spec, [claim]);
      // The data is still where the snapshot reads it while the snapshot is under way.
      expect(readFileSync(join(dataDir, "notes.txt"), "utf8")).toBe("as it is now");
      release();
      await restoring;
      expect(seen).toBe("as it is now");
    } finally {
      release();
      held.mockRestore();
    }
    // Then the copy is the data, the data until now a conflict copy, and the next epoch claimed.
    expect(readFileSync(join(dataDir, "notes.txt"), "utf8")).toBe("the copy");
    expect(existsSync(join(conflicts, copy))).toBe(false);
    const kept = replication.conflicts("notes");
    expect(kept.map((c) => c.epoch)).toEqual([1]);
    expect(readFileSync(join(conflicts, kept[0]?.name as string, "notes.txt"), "utf8")).toBe(
      "as it is now",
    );
    expect(written).toEqual(["nodes/nas/holds/notes"]);
  });
});
