/**
 * A daemon's reports of the apps it ran before it started. A daemon that stops on its own
 * says each app it ran stopped; one killed (SIGKILL, a power cut) says nothing, and its
 * last reports stayed in the zone state: "running", at an address where nothing answers
 * any more (the new daemon kills what the old one left: Convergence.killOrphans). Every
 * device took them at their word as soon as the device was heard alive again, before it had
 * started anything: `bucky app status` said the app ran there, and a planned move onto it
 * (`bucky app move`) said it had arrived while the app was not started yet, so the first
 * request to it was refused (ECONNRESET). Until the daemon runs an app again, it says it is
 * stopped, as it is.
 */
import type { NodeContext } from "../node/node-context.ts";
import { type AppReport, appKeys, readReport, readSpecs } from "./spec.ts";

/**
 * Says stopped, in one write, each app this device's reports say it runs (or tries to):
 * called as its daemon starts, before it runs any. Returns the apps it said so of.
 */
export function reportRunsBeforeStopped(
  node: Pick<NodeContext, "db" | "deviceName" | "now" | "write">,
): string[] {
  const since = new Date(node.now()).toISOString();
  const stopped = readSpecs(node.db).flatMap((spec) => {
    const report = readReport(node.db, node.deviceName, spec.app);
    if (!report || report.state === "stopped") return [];
    // The rest as it was: why an upgrade waits, above all, stays said.
    const next: AppReport = { ...report, state: "stopped", url: null, error: null, since };
    return [{ key: appKeys.report(node.deviceName, spec.app), value: JSON.stringify(next) }];
  });
  if (stopped.length > 0) node.write(stopped);
  return stopped.map((op) => op.key.slice(appKeys.report(node.deviceName, "").length));
}
