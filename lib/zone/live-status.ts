/**
 * `bucky status` asked of the home's running daemon: it holds the zone open and checked,
 * so it answers at once (a command that opened the database itself would check it, and
 * load the code that reads it, every time). The answer is the same: the daemon builds it
 * with the same describeZone from the same database.
 */
import { isDaemonDown, isDaemonSilent, requestDaemon } from "../node/daemon-client.ts";
import type { ZoneStatus } from "./status.ts";

/** A live daemon answers status in milliseconds; one that takes longer is stuck or gone. */
const STATUS_TIMEOUT_MS = 5_000;
/** Measuring its own disk (--disk) walks every directory the device keeps. */
const DISK_STATUS_TIMEOUT_MS = 60_000;

/**
 * The zone's status from the home's daemon, or undefined when no daemon answers, or one
 * is stuck: the home is read instead, which asking status changes nothing of.
 */
export async function statusFromDaemon(
  home: string,
  options: { disk: boolean },
): Promise<ZoneStatus | undefined> {
  try {
    const answer = await requestDaemon<(ZoneStatus & { addresses?: unknown }) | undefined>(
      home,
      "GET",
      options.disk ? "/v1/status?disk=1" : "/v1/status",
      undefined,
      options.disk ? DISK_STATUS_TIMEOUT_MS : STATUS_TIMEOUT_MS,
    );
    // A daemon that answers but says nothing usable: the home is read instead.
    if (typeof answer !== "object" || answer === null) return undefined;
    const { addresses: _, ...status } = answer;
    return status;
  } catch (error) {
    if (isDaemonDown(error) || isDaemonSilent(error)) return undefined;
    throw error;
  }
}
