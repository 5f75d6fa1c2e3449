/**
 * Runs this device's gateway when, and as, the zone state says: started when
 * `nodes/<me>/gateway` appears, restarted when it changes, stopped when it goes.
 * `bucky gateway enable` goes the other way round: the new configuration is started first
 * (`adopt`), and written to the zone state only once it runs, so a gateway that cannot
 * start is an error for the command, and changes nothing.
 */
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { Viewer } from "../users/access.ts";
import {
  type GatewayConfig,
  type GatewayRunner,
  gatewayKey,
  parseListen,
  readGateway,
  readTls,
  type TlsPem,
} from "./config.ts";
import { type RunningGateway, startGateway } from "./server.ts";

interface Running {
  readonly config: GatewayConfig;
  readonly text: string;
  readonly tls: TlsPem | undefined;
  readonly gateway: RunningGateway;
}

export class GatewayHost implements GatewayRunner {
  private running: Running | undefined;
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
      panel: (request: Request, viewer: Viewer) => Promise<Response>;
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

  /**
   * Runs `config` now, in place of what runs, or throws why it cannot and leaves what ran
   * before running. On the same port the old one must let go first; elsewhere it stops
   * only once the new one listens.
   */
  adopt(config: GatewayConfig, tls: TlsPem | undefined): void {
    const previous = this.running;
    const samePort =
      previous !== undefined &&
      parseListen(previous.config.listen).port === parseListen(config.listen).port;
    if (previous && samePort) previous.gateway.stop();
    let gateway: RunningGateway;
    try {
      gateway = this.launch(config, tls);
    } catch (error) {
      if (previous && samePort) this.relaunch(previous);
      throw error;
    }
    if (previous && !samePort) previous.gateway.stop();
    this.running = { config, text: JSON.stringify(config), tls, gateway };
    this.problem = null;
  }

  /** Makes what runs match the zone state (as at start, and after every change of it). */
  apply(): void {
    const config = readGateway(this.node.db, this.node.deviceName);
    const text = config ? JSON.stringify(config) : undefined;
    if (text === this.running?.text) return;
    this.running?.gateway.stop();
    this.running = undefined;
    this.problem = null;
    if (!config || !text) return;
    try {
      const tls = config.https ? readTls(this.node.zone.paths) : undefined;
      this.running = { config, text, tls, gateway: this.launch(config, tls) };
    } catch (error) {
      this.failed(error);
    }
  }

  private launch(config: GatewayConfig, tls: TlsPem | undefined): RunningGateway {
    return startGateway(this.node, { config, ...(tls ? { tls } : {}), ...this.options });
  }

  /** Starts again what ran before a change that could not start; it stopped a moment ago. */
  private relaunch(previous: Running): void {
    this.running = undefined;
    try {
      this.running = { ...previous, gateway: this.launch(previous.config, previous.tls) };
    } catch (error) {
      this.failed(error);
    }
  }

  private failed(error: unknown): void {
    // A gateway that cannot listen is reported, not fatal: the node does everything else.
    this.problem = (error as Error).message;
    this.options.log.error("gateway not started", { error: this.problem });
  }
}
