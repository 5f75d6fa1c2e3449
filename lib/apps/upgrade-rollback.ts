/**
 * Going back to the version that ran when an upgrade will not start. The device running
 * an app is the only one that sees its new version crash; left alone, the app stayed down
 * (every device saying so alike) until a person installed something else. Now, once the
 * new version has crashed ROLLBACK_AFTER_CRASHES times in a row at start (started, and its
 * process ended: a package this device cannot fetch yet is no crash of the version, and
 * the upgrade waits for it), where the
 * version before was the last to run healthy (a note per app, written the first time a
 * package runs healthy there; or, on a device that took the app over, as the holder's
 * report says), and no device's report says the new one ran, and this
 * device holds the package of the version before (every device that may run the app
 * keeps it: the spec's previousPackage), the device says that install is given up for
 * that version, beside the spec (appKeys.rolledBack), and every reader of the spec then
 * reads it as that version's, with `failedUpgrade` saying what failed and why
 * (lib/apps/spec.ts: amended). It is the zone's state, so every device says the same
 * (`upgrade to 3.0.0 failed: beta says "…"; running 2.0.0`), whoever ordered the upgrade is
 * no longer needed, and a device that restarts runs the version the zone names. Whatever a
 * person said of the app meanwhile on a device this one had not heard yet (a stop, a
 * removal) stands; a newer install is another install, which the rollback is not of.
 *
 * Data: a version that never became healthy may still have written to the app's data
 * before it crashed (a migration half done). The data copied before the upgrade, when
 * small, is put back before the version before starts (lib/apps/data-before-upgrade.ts);
 * otherwise the version before runs on the data as the failed starts left it (a version
 * that cannot read it crashes in turn, and its status says so). One that became healthy
 * even once is never rolled back: it may have migrated the data for good, and answered
 * requests. Image apps are not rolled back (their version before is an image record, not
 * a package with its manifest).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AppManifest } from "../../protocol/app-manifest.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { BuckyError } from "../errors.ts";
import { saidBy } from "../facts/said-by.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { StateReader } from "../store/reads.ts";
import { readPackage } from "./package-dir.ts";
import {
  type AppReport,
  type AppSpec,
  appKeys,
  type RolledBack,
  readReport,
  readSpec,
} from "./spec.ts";

/** Crashes in a row at start before a new version is given up for the one before. */
export const ROLLBACK_AFTER_CRASHES = 3;

/** The file in an app's directory naming the last package that ran healthy on this device. */
const HEALTHY_FILE = "healthy-package";

/** Notes that `pkg` ran healthy here (once a package: a file write, not a changeset). */
export function markHealthy(appDir: string, pkg: ObjectId): void {
  if (healthyHere(appDir, pkg)) return;
  writeFileAtomic(join(appDir, HEALTHY_FILE), pkg);
}

/** Whether `pkg` is the last package that ran healthy on this device, as its note says. */
function healthyHere(appDir: string, pkg: ObjectId): boolean {
  const path = join(appDir, HEALTHY_FILE);
  return existsSync(path) && readFileSync(path, "utf8") === pkg;
}

/**
 * Whether a device's report the zone holds (of `devices`) says `spec`'s version runs
 * there, or ran there healthy since (stopped, crashed, or said stopped by a daemon back from
 * a kill): then it may have migrated the app's data, which its version before may not read.
 */
export function ranSomewhere(db: StateReader, spec: AppSpec, devices: readonly string[]): boolean {
  return someReport(
    db,
    spec,
    devices,
    (report) =>
      report.ranHealthy === spec.package ||
      (report.package === spec.package && report.state === "running"),
  );
}

/**
 * Whether a device's report the zone holds (of `devices`) names `spec`'s version at all:
 * started there, whatever became of it (a start that crashed may have touched the data
 * too), or ran there healthy once.
 */
export function startedSomewhere(
  db: StateReader,
  spec: AppSpec,
  devices: readonly string[],
): boolean {
  return someReport(
    db,
    spec,
    devices,
    (report) => report.package === spec.package || report.ranHealthy === spec.package,
  );
}

/** Whether the report of `spec`'s app by one of `devices` says `what`. */
function someReport(
  db: StateReader,
  spec: AppSpec,
  devices: readonly string[],
  what: (report: AppReport) => boolean,
): boolean {
  return devices.some((device) => {
    const report = readReport(db, device, spec.app);
    return report !== undefined && what(report);
  });
}

/**
 * The manifest of package `pkg` when this device holds it whole and it is app `app`'s. One
 * damaged here is not held: said by the daemon, a throw would end it at every pass.
 */
export function heldManifest(
  node: NodeContext,
  pkg: ObjectId,
  app: string,
): AppManifest | undefined {
  try {
    const bytes = node.store.readObject(pkg);
    const manifest = bytes && readPackage(bytes).manifest;
    return manifest?.id === app ? manifest : undefined;
  } catch (error) {
    if (!(error instanceof BuckyError)) throw error;
    return undefined;
  }
}

/**
 * Whether the data here is `spec`'s version before's, as far as anyone can say: that
 * version is the last that ran healthy here (noted in `appDir`), or a device's report
 * (of `devices`) says it runs or ran healthy there, and none says `spec`'s version ran
 * (ranSomewhere). The report counts for a device that took the app over: its data is the
 * holder's, copied, and the holder's note stayed on the holder, dead or away. A version
 * healthy before any device noted such things (an older bucky) is never taken for the
 * data's: nothing says the new one never ran.
 */
export function dataOfVersionBefore(
  db: StateReader,
  spec: AppSpec,
  where: { readonly appDir: string; readonly devices: readonly string[] },
): boolean {
  const before = spec.previousPackage;
  if (!before || before === spec.package) return false;
  // Healthy here once (its report may not have reached the zone), it may have migrated it.
  if (healthyHere(where.appDir, spec.package)) return false;
  const beforeRan =
    healthyHere(where.appDir, before) ||
    someReport(
      db,
      spec,
      where.devices,
      (report) =>
        report.ranHealthy === before || (report.package === before && report.state === "running"),
    );
  return beforeRan && !ranSomewhere(db, spec, where.devices);
}

/**
 * Whether `spec`'s version is to be given up after a crash: `exits` crashes at start
 * in a row, on the data of the version before (dataOfVersionBefore).
 */
export function upgradeFailed(
  db: StateReader,
  spec: AppSpec,
  crash: { readonly exits: number },
  where: { readonly appDir: string; readonly devices: readonly string[] },
): boolean {
  if (spec.image || crash.exits < ROLLBACK_AFTER_CRASHES) return false;
  return dataOfVersionBefore(db, spec, where);
}

/** What `bucky app status` says of an upgrade given up, or undefined when none was. */
export function failedUpgradeSentence(spec: AppSpec): string | undefined {
  const failed = spec.failedUpgrade;
  if (!failed) return undefined;
  // Why is the words of the device that saw it crash (it wrote them): quoted as such.
  return `upgrade to ${failed.version} failed: ${saidBy(failed.device, failed.error)}; running ${spec.version}`;
}

/**
 * Writes the app's spec back to the version before when `spec`'s upgrade crashed at
 * every start (upgradeFailed) and this device holds that version's package; whether it
 * did. Only over the spec this device runs: a newer install (or a stop) written meanwhile
 * stands.
 */
export function rollBackFailedUpgrade(
  node: NodeContext,
  spec: AppSpec,
  crash: { readonly exits: number; readonly error: string | null },
): boolean {
  const appDir = join(node.zone.paths.appsDir, spec.app);
  const devices = [...node.membership().byName.keys()];
  if (!upgradeFailed(node.db, spec, crash, { appDir, devices })) return false;
  const current = readSpec(node.db, spec.app);
  if (current?.package !== spec.package || current.desired !== "running") return false;
  const previous = spec.previousPackage as ObjectId;
  const manifest = heldManifest(node, previous, spec.app);
  if (!manifest) {
    // Said once, as the crash that would have given it up first comes.
    if (crash.exits === ROLLBACK_AFTER_CRASHES)
      node.log.warn(
        "app upgrade fails to start, and the version before is not here to go back to",
        {
          app: spec.app,
          version: spec.version,
          package: previous,
        },
      );
    return false;
  }
  const back: RolledBack = {
    package: current.package,
    installedAt: current.installedAt ?? null,
    backTo: { package: previous, manifest },
    // Its last crash, without when the runner would try again (it will not).
    error: (crash.error ?? "it crashed").replace(/ \(restarting in [^)]*\)$/, ""),
    device: node.deviceName,
    at: new Date(node.now()).toISOString(),
  };
  node.write([{ key: appKeys.rolledBack(spec.app), value: JSON.stringify(back) }]);
  node.log.info("app upgrade rolled back", {
    app: spec.app,
    failed: spec.version,
    running: manifest.version,
    crashes: crash.exits,
  });
  return true;
}
