/**
 * Adding a backup target to the zone: its repository is made (or checked against this
 * zone's phrase) at once, so a wrong address or key shows up now rather than at the first
 * scheduled backup; then it is recorded in the zone state with this device as its via (the
 * SSH key stays in this device's own file), so every device backs up to it; then the
 * first backup runs and is read back, so the owner leaves knowing the backups restore.
 */
import { resolve } from "node:path";
import type { DeviceName } from "../../protocol/names.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { requireZone } from "../zone/checked-zone.ts";
import { openZone } from "../zone/open.ts";
import type { ArchiveProgress } from "./archiver.ts";
import { type BackupRunResult, backupRoot, runBackup, withRepository } from "./run.ts";
import { recordOp, writeZoneState } from "./target-records.ts";
import { newTarget, saveTarget, type Target } from "./targets.ts";
import { type VerifyResult, verifyTarget } from "./verify.ts";
import { type ResolvedTarget, readZoneTargets, resolveTargets } from "./zone-targets.ts";

export interface AddedTarget {
  readonly name: string;
  readonly url: string;
  /** The device that reaches it: this one. */
  readonly via: string;
  readonly repository: string;
  readonly hostKey?: string;
  /** Present, and false, when answered without waiting for another device to hold it. */
  readonly waited?: false;
  /** The first backup and its verify (every blob read back), unless asked not to. */
  readonly firstBackup: BackupRunResult | null;
  readonly verified: VerifyResult | null;
  /** Present, and true, when the target was the zone's already: this device's key for it changed. */
  readonly keyChanged?: true;
}

export async function addTarget(options: {
  readonly paths: HomePaths;
  readonly name: string;
  readonly url: string;
  readonly identityFile?: string;
  /**
   * The SFTP server's host key the owner accepted, when shown it before (the panel shows
   * it): the server must present exactly that one. Without it, the key presented now is
   * pinned.
   */
  readonly hostKey?: string;
  /** Run and verify the first backup now. */
  readonly backUp: boolean;
  readonly log: Log;
  readonly now: () => number;
  readonly onProgress?: (progress: Readonly<ArchiveProgress>) => void;
  /** Hears how much of the first backup is read back, as the verify goes. */
  readonly onVerifyProgress?: (doneBytes: number, totalBytes: number) => void;
  /** False to answer without waiting for another device to hold the target (`--no-wait`). */
  readonly wait?: boolean;
}): Promise<AddedTarget> {
  const { paths, log } = options;
  // Without a zone or the key nothing can be made: say so before anything else.
  requireZone(paths);
  backupRoot(paths, log);
  const zone = openZone(paths.home, log);
  const self = zone.device.name;
  let existing: ResolvedTarget | undefined;
  let recorded = false;
  try {
    existing = resolveTargets(paths, zone.db, self).find((t) => t.name === options.name);
    recorded = readZoneTargets(zone.db).some((t) => t.name === options.name);
  } finally {
    zone.close();
  }
  if (existing) {
    // The same, reached by this device, with a key: it logs in with that one from now on.
    if (
      existing.route.kind === "direct" &&
      options.identityFile &&
      newTarget(options.name, options.url).url === existing.url
    )
      return await withNewKey(
        paths,
        existing,
        // One only this device's file has (from before the zone recorded targets) stays so:
        // its daemon records it.
        { ...existing.route.connection, ...(recorded ? { shared: true } : {}) },
        options.identityFile,
        log,
      );
    throw new BuckyError(
      "E_EXISTS",
      `the zone already has a target named ${options.name} (${existing.url}, reached by ${existing.via})`,
      existing.via === self
        ? "Choose another name, or remove that one first with `bucky backup target rm`. To give this device another SSH key for it, add it again as it is, with --identity."
        : "Choose another name, or remove that one first with `bucky backup target rm`.",
    );
  }
  let target = {
    ...newTarget(options.name, options.url, options.identityFile),
    ...(options.hostKey && options.url.startsWith("sftp://") ? { hostKey: options.hostKey } : {}),
    shared: true,
  };
  const repository = await withRepository(
    paths,
    {
      name: target.name,
      url: target.url,
      via: self,
      route: { kind: "direct", connection: target },
    },
    log,
    async (repo, backend) => {
      if ("hostKey" in backend && typeof backend.hostKey === "string")
        target = { ...target, hostKey: backend.hostKey };
      return repo.id;
    },
    { create: true, withIndex: false },
  );
  saveTarget(paths, target);
  await writeZoneState(
    paths,
    [
      recordOp({
        name: target.name,
        url: target.url,
        via: self as DeviceName,
        ...(target.hostKey ? { hostKey: target.hostKey } : {}),
        addedAt: new Date(options.now()).toISOString(),
      }),
    ],
    log,
    options.now,
    { wait: options.wait !== false },
  );
  log.info("backup target added", { target: target.name, url: target.url, via: self });
  const added = {
    name: target.name,
    url: target.url,
    via: self,
    repository,
    ...(target.hostKey ? { hostKey: target.hostKey } : {}),
    ...(options.wait === false ? { waited: false as const } : {}),
  };
  if (!options.backUp) return { ...added, firstBackup: null, verified: null };
  const firstBackup = await runBackup({
    paths,
    target: target.name,
    log,
    now: options.now,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const verified = await verifyTarget({
    paths,
    target: target.name,
    readData: { kind: "all" },
    log,
    now: options.now,
    ...(options.onVerifyProgress ? { onProgress: options.onVerifyProgress } : {}),
  });
  return { ...added, firstBackup, verified };
}

/**
 * The zone's target `existing`, which this device reaches, logged in to with the SSH key
 * `identityFile` from now on: its repository is opened with it first (the host key pinned
 * as before), then the key is kept in this device's file. For a box whose key was lost
 * (a home restored, a key changed on the server): removed and added again, every device's
 * record of its backups there went with it.
 */
async function withNewKey(
  paths: HomePaths,
  existing: ResolvedTarget,
  connection: Target,
  identityFile: string,
  log: Log,
): Promise<AddedTarget> {
  const keyed: Target = { ...connection, identityFile: resolve(identityFile) };
  const repository = await withRepository(
    paths,
    { ...existing, route: { kind: "direct", connection: keyed } },
    log,
    async (repo) => repo.id,
    { withIndex: false },
  );
  saveTarget(paths, keyed);
  log.info("backup target's key changed", {
    target: existing.name,
    identityFile: keyed.identityFile,
  });
  return {
    name: existing.name,
    url: existing.url,
    via: existing.via ?? "",
    repository,
    ...(keyed.hostKey ? { hostKey: keyed.hostKey } : {}),
    firstBackup: null,
    verified: null,
    keyChanged: true,
  };
}
