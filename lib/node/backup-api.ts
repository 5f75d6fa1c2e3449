/**
 * Backups in the local API: the targets and what runs for each now, adding (a job that
 * runs `bucky backup target add` as a child, first backup and verify included) and
 * removing targets, backing up and verifying now, the device's SSH key and what an SFTP
 * server presents, looking into a snapshot (a folder, a file read out, a file put back),
 * and giving this device the backup key from the recovery phrase.
 */

import { isAbsolute } from "node:path";
import { Hono } from "hono";
import { appStatus } from "../apps/status.ts";
import { giveBackupKey } from "../backup/backup-key.ts";
import { nodeReach } from "../backup/connect.ts";
import { listTarget } from "../backup/list.ts";
import { progressFileOf, readProgress } from "../backup/progress-file.ts";
import { NO_BACKUP_KEY_HINT } from "../backup/run.ts";
import type { BackupScheduler } from "../backup/scheduler.ts";
import {
  listSnapshotDir,
  readSnapshotFile,
  restoreSnapshotPath,
} from "../backup/snapshot-files.ts";
import { deviceSshKeyFile, deviceSshPublicKey, makeDeviceSshKey } from "../backup/ssh-key.ts";
import { readBackupStatus } from "../backup/status.ts";
import { removeZoneTarget } from "../backup/target-records.ts";
import { checkTargetName } from "../backup/targets.ts";
import { resolveTargets } from "../backup/zone-targets.ts";
import { BuckyError } from "../errors.ts";
import { readRecoveryPhrase } from "../identity/recovery-phrase.ts";
import type { Log } from "../log.ts";
import { runBuckyJson } from "./bucky-child.ts";
import { heldAsAsked } from "./held-wait.ts";
import { jsonObject } from "./http.ts";
import type { Jobs } from "./jobs.ts";
import type { NodeContext } from "./node-context.ts";

export interface BackupServices {
  /** The backup schedule, on a device that holds the backup key. */
  readonly backups: () => BackupScheduler | undefined;
  /** Starts scheduled and hot backups if this device holds the backup key now. */
  readonly startBackups: () => boolean;
  /** The bucky executable, to run backup commands as children. */
  readonly runtime: string;
  readonly liveWindowMs: number;
}

export function backupRoutes(
  node: NodeContext,
  log: Log,
  jobs: Jobs,
  services: BackupServices,
): Hono {
  const app = new Hono();
  const paths = node.zone.paths;
  const reach = () => nodeReach(node);
  const scheduler = () => {
    const schedule = services.backups();
    if (!schedule)
      throw new BuckyError(
        "E_PERMISSION",
        "this device does not hold the backup key",
        NO_BACKUP_KEY_HINT,
      );
    return schedule;
  };

  app.get("/", (c) => {
    const status = readBackupStatus(paths);
    const running = new Map((services.backups()?.runningNow() ?? []).map((r) => [r.target, r]));
    return c.json({
      holdsBackupKey: services.backups() !== undefined,
      sshPublicKey: deviceSshPublicKey(paths),
      targets: resolveTargets(paths, node.db, node.deviceName).map((t) => ({
        name: t.name,
        url: t.url,
        via: t.via,
        reach: t.route.kind,
        ...(t.route.kind === "direct" && t.route.connection.hostKey
          ? { hostKey: t.route.connection.hostKey }
          : {}),
        ...status[t.name],
        running: running.get(t.name) ?? null,
      })),
    });
  });
  app.post("/start", (c) => {
    const before = services.backups() !== undefined;
    const holdsBackupKey = services.startBackups();
    if (holdsBackupKey && !before) log.info("backups started", { device: node.deviceName });
    return c.json({ holdsBackupKey });
  });
  app.post("/run", async (c) => {
    const body = (await jsonObject(c)) as { target?: unknown };
    return c.json(
      scheduler().runNow(typeof body.target === "string" && body.target ? body.target : undefined),
    );
  });
  app.post("/verify", async (c) => {
    const body = (await jsonObject(c)) as { target?: unknown };
    if (typeof body.target !== "string" || body.target === "")
      throw new BuckyError("E_USAGE", 'the body must be {"target": "<name>"}');
    return c.json({ started: scheduler().verifyNow(body.target) });
  });

  // The recovery phrase gives this device the backup key; its backups start at once.
  app.post("/key", async (c) => {
    const body = (await jsonObject(c)) as { phrase?: unknown };
    const phrase = readRecoveryPhrase(String(body.phrase ?? ""));
    const result = giveBackupKey(paths.home, phrase, log);
    services.startBackups();
    return c.json(result);
  });

  // The key this device logs in to SFTP targets with: its public half goes to the server.
  app.get("/ssh-key", (c) => c.json({ publicKey: deviceSshPublicKey(paths) }));
  app.post("/ssh-key", async (c) =>
    c.json({ publicKey: await makeDeviceSshKey(paths, node.deviceName) }),
  );
  // What an SFTP server presents (to be accepted) and whether it lets this device in.
  app.post("/targets/probe", async (c) => {
    const body = (await jsonObject(c)) as { url?: unknown };
    if (typeof body.url !== "string" || !body.url.startsWith("sftp://"))
      throw new BuckyError("E_USAGE", 'the body must be {"url": "sftp://user@host/path"}');
    await makeDeviceSshKey(paths, node.deviceName);
    const { probeSftp } = await import("../backup/sftp-backend.ts");
    return c.json(await probeSftp(body.url, { identityFile: deviceSshKeyFile(paths) }));
  });
  app.post("/targets", async (c) => {
    const body = (await jsonObject(c)) as { name?: unknown; url?: unknown; hostKey?: unknown };
    const name = String(body.name ?? "");
    const url = String(body.url ?? "");
    const sftp = url.startsWith("sftp://");
    if (sftp && typeof body.hostKey !== "string")
      throw new BuckyError("E_USAGE", "an SFTP target needs the host key the owner accepted");
    // The name names the progress file too: checked before it makes a path.
    checkTargetName(name);
    // A relative path would be taken from wherever the daemon happened to start.
    if (!sftp && !isAbsolute(url))
      throw new BuckyError(
        "E_USAGE",
        `${JSON.stringify(url)} is neither an absolute directory path nor an sftp:// address`,
        "Give the full path of the directory, for example /mnt/usb/bucky.",
      );
    const args = [
      "backup",
      "target",
      "add",
      ...(sftp
        ? ["--identity", deviceSshKeyFile(paths), "--host-key", body.hostKey as string]
        : []),
      "--progress-file",
      progressFileOf(paths, name),
      // Whatever the name and address say, they are values, never flags.
      "--",
      name,
      url,
    ];
    return c.json(
      jobs.start(
        "add-target",
        name,
        (report) => {
          report.step("backup");
          return runBuckyJson(services.runtime, paths.home, args);
        },
        () => readProgress(progressFileOf(paths, name)),
      ),
    );
  });
  app.delete("/targets/:name", async (c) => {
    const removed = await removeZoneTarget(paths, c.req.param("name"), log, node.now);
    // Said removed only once another device holds it: lost with this one, every other
    // device would go on backing up there.
    const held = await heldAsAsked(c, node, `removal of target ${removed.name}`);
    return c.json({ removed: removed.name, url: removed.url, ...held });
  });

  // With the devices' last backups it lacks, as `bucky backup list` says them: the panel's
  // list is the zone's, not only what the target chose to keep.
  app.get("/:target/snapshots", async (c) =>
    c.json(await listTarget(paths, c.req.param("target"), log, undefined, reach())),
  );
  const where = (target: string, snapshot: string) => ({
    paths,
    target,
    snapshot,
    log,
    reach: reach(),
  });
  app.get("/:target/snapshots/:snapshot/files", async (c) =>
    c.json(
      await listSnapshotDir(
        where(c.req.param("target"), c.req.param("snapshot")),
        c.req.query("path") ?? "",
      ),
    ),
  );
  // One file of a snapshot, as its bytes (checked blob by blob as they are read).
  app.get("/:target/snapshots/:snapshot/file", async (c) => {
    const file = await readSnapshotFile(
      where(c.req.param("target"), c.req.param("snapshot")),
      c.req.query("path") ?? "",
    );
    log.info("snapshot file read", { path: c.req.query("path"), bytes: file.size });
    return new Response(file.stream, {
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(file.size),
        "x-bucky-name": encodeURIComponent(file.name),
      },
    });
  });
  app.post("/:target/snapshots/:snapshot/restore", async (c) => {
    const body = (await jsonObject(c)) as { path?: unknown };
    const path = String(body.path ?? "");
    const at = where(c.req.param("target"), c.req.param("snapshot"));
    // An app's data is put back only where the app runs: elsewhere it would not count.
    const mayWrite = (parts: readonly string[]) => {
      if (parts[0] !== "apps") return;
      const app = parts[1] as string;
      const runsOn = appStatus(node, app, services.liveWindowMs).device;
      if (runsOn !== node.deviceName)
        throw new BuckyError(
          "E_INVALID_INPUT",
          `${app} runs on ${runsOn ?? "no device now"}, not on ${node.deviceName}: its data can only be put back there`,
          `Open the panel on a gateway that is ${runsOn ?? "its device"}, or download the file.`,
        );
    };
    mayWrite(path.split("/").filter(Boolean));
    return c.json(
      jobs.start("restore", path, (report) =>
        restoreSnapshotPath(at, path, mayWrite, node.now, (p) =>
          report.progress({ done: p.bytes, total: p.totalBytes, unit: "bytes" }),
        ),
      ),
    );
  });
  return app;
}
