/**
 * `bucky backup list`: a target's snapshots, and the devices' last backups (as each said
 * it in its signed facts) that the target holds neither of nor any later one: it lost or
 * hid them, and what it lists of those devices is older than what they backed up.
 */
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { PeerReach } from "./connect.ts";
import { listSnapshots, type SnapshotSummary } from "./run.ts";
import { lastBackupsMissing, type SaidLatest, saidLatest } from "./said-latest.ts";
import { chooseTarget, homeTargets } from "./zone-targets.ts";

export interface TargetListing {
  readonly target: string;
  readonly snapshots: readonly SnapshotSummary[];
  readonly missingLatest: readonly SaidLatest[];
}

/**
 * The snapshots of `which` (none: the only target), of every device or of `device`; a
 * daemon passes its `reach` to read a target through the device it is attached to.
 */
export async function listTarget(
  paths: HomePaths,
  which: string | undefined,
  log: Log,
  device: string | undefined,
  reach?: PeerReach,
): Promise<TargetListing> {
  const target = chooseTarget(homeTargets(paths, log), which).name;
  // Read before the snapshots are: a backup finishing meanwhile is then listed too.
  const said = saidLatest(paths, target, log).filter(
    (last) => device === undefined || last.device === device,
  );
  const snapshots = await listSnapshots(paths, target, log, {
    ...(device ? { device } : {}),
    ...(reach ? { reach } : {}),
  });
  return {
    target,
    snapshots,
    missingLatest: lastBackupsMissing(
      said,
      snapshots.filter((s) => s.trust === "signed"),
    ),
  };
}
