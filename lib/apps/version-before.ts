/**
 * The version before, run by a device that restarted while an upgrade waited for its
 * package. A device running an app goes on running the version before until it holds the
 * new one's package (Convergence.upgradeWaits). One restarted meanwhile (a NAS after a
 * power cut) had nothing running to go on with, and ran neither version until it had the
 * package: the app was down for as long as the device holding it (a closed laptop) was,
 * though the version before's package and data were right there. Now such a device starts
 * the version before, and from then on is like any device running it: it keeps trying to
 * fetch the new one, says why it waits, and upgrades (the data copied first) once it has it.
 *
 * Only the version the upgrade replaced (the spec's previousPackage), when the data here is
 * that version's, as for a rollback (dataOfVersionBefore: it was the last to run healthy
 * here, or on the device whose data this one took over, and no device's report says the
 * new one ran). An image app waits as
 * before: its version before is an image record, not a package with its manifest.
 */
import { join } from "node:path";
import { isImageRun } from "../../protocol/app-manifest.ts";
import type { NodeContext } from "../node/node-context.ts";
import { type AppSpec, specOfVersionBefore } from "./spec.ts";
import { dataOfVersionBefore, heldManifest } from "./upgrade-rollback.ts";

/**
 * The spec of the version before to run here while `spec`'s package is not held, or
 * undefined when `spec`'s version is to run (or wait, as it did).
 */
export function versionBeforeToRun(node: NodeContext, spec: AppSpec): AppSpec | undefined {
  const before = spec.previousPackage;
  if (spec.image || !before || before === spec.package) return undefined;
  if (node.store.holdsWhole(spec.package)) return undefined;
  if (!node.store.holdsWhole(before)) return undefined;
  const where = {
    appDir: join(node.zone.paths.appsDir, spec.app),
    devices: [...node.membership().byName.keys()],
  };
  if (!dataOfVersionBefore(node.db, spec, where)) return undefined;
  const manifest = heldManifest(node, before, spec.app);
  if (!manifest || isImageRun(manifest.run)) return undefined;
  // Not an upgrade of its own: nothing to give up (upgradeFailed) nor data to put back.
  const { failedUpgrade: _, ...rest } = specOfVersionBefore(spec, before, manifest);
  return rest;
}
