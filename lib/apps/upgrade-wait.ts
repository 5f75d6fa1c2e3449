/**
 * Why an upgrade waits, said zone-wide. The device running an app goes on running the
 * version before until the new one's package (or image) is here (Convergence.upgradeWaits);
 * why it waits (its package held by no device that answers, say) was in that device's log
 * alone, so every other device said only that the version before runs meanwhile. The
 * device now adds why to its report of the version running (`waitingFor`), each time it
 * changes, and `bucky app status` says it, on every device, as that device's words.
 */
import type { ObjectId } from "../../protocol/ndn.ts";
import type { NodeContext } from "../node/node-context.ts";
import { type AppReport, type AppSpec, appKeys, readReport } from "./spec.ts";

/**
 * Adds why `spec`'s upgrade waits to this device's report of the version running here
 * (`running`, its package), when the report says something else; returns whether it wrote.
 */
export function reportUpgradeWait(
  node: NodeContext,
  spec: AppSpec,
  running: ObjectId,
  why: string,
): boolean {
  const report = readReport(node.db, node.deviceName, spec.app);
  // Only the report of the version running here: one of another is no place for it.
  if (!report || report.package !== running) return false;
  const said = report.waitingFor;
  if (said?.package === spec.package && said.why === why) return false;
  const next: AppReport = {
    ...report,
    waitingFor: { version: spec.version, package: spec.package, why },
  };
  node.write([{ key: appKeys.report(node.deviceName, spec.app), value: JSON.stringify(next) }]);
  return true;
}

/**
 * Why the device running the app waits for `spec`'s version, as its report says (its
 * words), or undefined when it says nothing of that version.
 */
export function upgradeWaitOf(report: AppReport | undefined, spec: AppSpec): string | undefined {
  const said = report?.waitingFor;
  return said?.package === spec.package ? said.why : undefined;
}
