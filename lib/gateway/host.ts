/**
 * Runs this device's gateway when, and as, the zone state says: started when
 * `nodes/<me>/gateway` appears, restarted when it changes, stopped when it goes.
 */
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { type GatewayConfig, gatewayKey, readGateway } from "./config.ts";
import { type RunningGateway, startGateway } from "./server.ts";

export class GatewayHost {
  private running: { config: string; gateway: RunningGateway } | undefined;
  private unsubscribe: (() => void) | undefined;
  /** What went wrong starting it, for status; null when it runs or is off. */
  problem: string | null = null;

  constructor(
    private readonly node: NodeContext,
    private readonly options: {
      liveWindowMs: number;
      log: Log;
      timeZone?: string;
      backendTimeoutMs?: number;
      panel: (request: Request) => Promise<Response>;
      mcp: (request: Request) => Promise<Response>;
    },
  ) {}

  start(): void {
    this.apply();
    const key = gatewayKey(this.node.deviceName);
    this.unsubscribe = this.node.onChange((changesets) => {
      if (changesets.some((changeset) => changeset.ops.some((op) => op.key === key))) this.apply();
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.running?.gateway.stop();
    this.running = undefined;
  }

  get url(): string | undefined {
    return this.running?.gateway.url;
  }

  flushTraffic(): void {
    this.running?.gateway.flushTraffic();
  }

  private apply(): void {
    const config = readGateway(this.node.db, this.node.deviceName);
    const text = config ? JSON.stringify(config) : undefined;
    if (text === this.running?.config) return;
    this.running?.gateway.stop();
    this.running = undefined;
    this.problem = null;
    if (!config || !text) return;
    try {
      this.running = {
        config: text,
        gateway: startGateway(this.node, { config: config as GatewayConfig, ...this.options }),
      };
    } catch (error) {
      // A gateway that cannot listen is reported, not fatal: the node does everything else.
      this.problem = (error as Error).message;
      this.options.log.error("gateway not started", { error: this.problem });
    }
  }
}
