/**
 * The daemon's part in giving key epochs on (epoch-grants.ts): every few seconds it looks
 * whether a member whose facts say it holds the backup key is left out of an epoch this
 * device opens, and gives it, once. Cheap when no one is left out: no key is opened.
 */
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { epochGrantOps } from "./epoch-grants.ts";

/** How often it looks: a device that comes back backs up within seconds of its facts. */
const LOOK_EVERY_MS = 5_000;

export class EpochGiver {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly node: NodeContext,
    private readonly log: Log,
    private readonly everyMs = LOOK_EVERY_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.look(), this.everyMs);
    this.timer.unref?.();
    this.look();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private look(): void {
    const { node } = this;
    try {
      const phraseRoot = node.backupRoot();
      if (!phraseRoot) return;
      const ops = epochGrantOps({
        phraseRoot,
        db: node.db,
        zone: node.zoneId,
        giver: { id: node.deviceId, name: node.deviceName },
        membership: node.membership(),
        roots: () => node.backupEpochRoots(),
      });
      if (ops.length === 0) return;
      node.write(ops);
      this.log.info("backup key epochs given to devices left out of them", {
        grants: ops.length,
        keys: ops.map((op) => op.key.split("/").slice(3).join("/")).join(","),
      });
    } catch (error) {
      // Tried again at the next look; the device left out says what it lacks meanwhile.
      this.log.warn("could not give backup key epochs on", { why: (error as Error).message });
    }
  }
}
