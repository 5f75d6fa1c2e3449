/**
 * Adding a backup target: its repository is made (or checked against this zone's phrase)
 * at once, so a wrong address or key shows up now rather than at the first scheduled
 * backup; then the first backup runs and is read back, so the owner leaves knowing the
 * backups restore.
 */
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { ArchiveProgress } from "./archiver.ts";
import { type BackupRunResult, backupRoot, runBackup, withRepository } from "./run.ts";
import { SftpBackend } from "./sftp-backend.ts";
import { newTarget, readTargets, saveTarget } from "./targets.ts";
import { type VerifyResult, verifyTarget } from "./verify.ts";

export interface AddedTarget {
  readonly name: string;
  readonly url: string;
  readonly repository: string;
  readonly hostKey?: string;
  /** The first backup and its verify (every blob read back), unless asked not to. */
  readonly firstBackup: BackupRunResult | null;
  readonly verified: VerifyResult | null;
}

export async function addTarget(options: {
  readonly paths: HomePaths;
  readonly name: string;
  readonly url: string;
  readonly identityFile?: string;
  /** Run and verify the first backup now. */
  readonly backUp: boolean;
  readonly log: Log;
  readonly now: () => number;
  readonly onProgress?: (progress: Readonly<ArchiveProgress>) => void;
}): Promise<AddedTarget> {
  const { paths, log } = options;
  // Without the key nothing can be made: say so before anything else.
  backupRoot(paths, log);
  if (readTargets(paths).some((t) => t.name === options.name)) {
    throw new BuckyError(
      "E_EXISTS",
      `there is already a target named ${options.name}`,
      "Remove it first with `bucky backup target rm`.",
    );
  }
  let target = newTarget(options.name, options.url, options.identityFile);
  const repository = await withRepository(
    paths,
    target,
    log,
    async (repo, backend) => {
      if (backend instanceof SftpBackend) target = { ...target, hostKey: backend.hostKey };
      return repo.id;
    },
    { create: true, withIndex: false },
  );
  saveTarget(paths, target);
  log.info("backup target added", { target: target.name, url: target.url });
  const added = {
    name: target.name,
    url: target.url,
    repository,
    ...(target.hostKey ? { hostKey: target.hostKey } : {}),
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
    target,
    readData: { kind: "all" },
    log,
    now: options.now,
  });
  return { ...added, firstBackup, verified };
}
