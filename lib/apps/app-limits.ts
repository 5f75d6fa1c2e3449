/**
 * What one sandboxed app may take of its device, so that a buggy or hostile app harms
 * itself and not the daemon or the other apps:
 * - processes: APP_PROCESSES of its own user (threads count), so a fork bomb stops there
 *   (as root only, where each app has a user of its own; otherwise it would count bucky's);
 * - memory: when the device runs out, the kernel kills an app first (APP_OOM_SCORE_ADJ;
 *   raised by root, the app cannot lower it again), never the daemon;
 * - /tmp: a tmpfs, which is memory, of appTmpBytes();
 * - no core dumps, which would land where the app writes.
 * Set with util-linux's choom and prlimit, which run bubblewrap after setting them: every
 * process of the sandbox inherits them.
 */
import { totalmem } from "node:os";

export const APP_PROCESSES = 1024;
/** Between 0 (the daemon's) and 1000 (always killed first). */
export const APP_OOM_SCORE_ADJ = 500;

/** The size of an app's /tmp: an eighth of the device's memory, 1 GiB at most. */
export function appTmpBytes(memoryBytes = totalmem()): number {
  return Math.min(1024 ** 3, Math.floor(memoryBytes / 8));
}

export interface LimitTools {
  readonly choom: string;
  readonly prlimit: string;
}

/** The command that sets an app's limits and then runs what follows it. */
export function limitsCommand(tools: LimitTools, ownUser: boolean): string[] {
  return [
    ...[tools.choom, "-n", String(APP_OOM_SCORE_ADJ), "--"],
    tools.prlimit,
    ...(ownUser ? [`--nproc=${APP_PROCESSES}`] : []),
    "--core=0",
    "--",
  ];
}
