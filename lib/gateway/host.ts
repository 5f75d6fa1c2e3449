/**
 * Runs this device's gateway when, and as, the zone state says: started when
 * `nodes/<me>/gateway` appears, restarted when it changes, stopped when it goes.
 * `bucky gateway enable` goes the other way round: the new configuration is started first
 * (`adopt`), and written to the zone state only once it runs, so a gateway that cannot
 * start is an error for the command, and changes nothing.
 */

import type { ServedCertificate } from "../certs/keeper.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { AppPipeClient } from "./app-pipe-client.ts";
import {
  type GatewayConfig,
  type GatewayRunner,
  gatewayKey,
  parseListen,
  readGateway,
  readTls,
  type TlsPem,
} from "./config.ts";
import type { FellowAnswer, FellowStep } from "./fellow-sign-in.ts";
import type { ForwardLimits } from "./forward-budget.ts";
import { type PanelSession, type RunningGateway, startGateway } from "./server.ts";
import type { SilenceTiming } from "./silence-watch.ts";

/**
 * How soon a gateway that could not start (its port taken by another program, say) is
 * started again: what runs is brought back to what the zone state says, as everything
 * else is, not left down until the next change of its configuration.
 */
export const START_AGAIN_MS = 5_000;

interface Running {
  readonly config: GatewayConfig;
  readonly text: string;
  readonly certificates: readonly ServedCertificate[];
  readonly gateway: RunningGateway;
}

export class GatewayHost implements GatewayRunner {
  private running: Running | undefined;
  private unsubscribe: (() => void) | undefined;
  /** What went wrong starting it, for status; null when it runs or is off. */
  problem: string | null = null;
  /** Since when it has not served (ms), while `problem` says why. */
  private downSinceMs = 0;
  /** The problem the log said last: the same one, again at each try, is said once. */
  private problemSaid: string | null = null;
  private startAgain: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly node: NodeContext,
    private readonly options: {
      liveWindowMs: number;
      log: Log;
      timeZone?: string;
      backendTimeoutMs?: number;
      forwardLimits?: ForwardLimits;
      silence?: SilenceTiming;
      panel: (request: Request, session: PanelSession) => Promise<Response>;
      mcp: (request: Request) => Promise<Response>;
      /** The certificates a configuration with automatic ones has now. */
      certificates: (config: GatewayConfig) => ServedCertificate[];
      challengeAnswer: (token: string, host: string) => string | undefined;
      /** The app pipes of the devices running apps (lib/gateway/app-pipe-client.ts). */
      appPipes?: AppPipeClient;
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
    clearTimeout(this.startAgain);
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
    const certificates = this.certificatesOf(config, tls);
    const previous = this.running;
    const samePort =
      previous !== undefined &&
      parseListen(previous.config.listen).port === parseListen(config.listen).port;
    if (previous && samePort) previous.gateway.stop();
    let gateway: RunningGateway;
    try {
      gateway = this.launch(config, certificates);
    } catch (error) {
      if (previous && samePort) this.relaunch(previous);
      throw error;
    }
    if (previous && !samePort) previous.gateway.stop();
    this.running = { config, text: JSON.stringify(config), certificates, gateway };
    this.problem = null;
  }

  /**
   * Serves the certificates the gateway has now, if they changed (one arrived, was
   * renewed, or a name went): its HTTPS listener starts again with them.
   */
  certificatesChanged(): void {
    const running = this.running;
    if (!running?.config.tls) return;
    const certificates = this.options.certificates(running.config);
    if (JSON.stringify(certificates) === JSON.stringify(running.certificates)) return;
    try {
      running.gateway.serveCertificates(certificates);
      this.running = { ...running, certificates };
    } catch (error) {
      // Requests and WebSockets under way finish.
      running.gateway.stop(false);
      this.running = undefined;
      this.failed(error);
    }
  }

  /** A step of signing in another gateway carried here (lib/gateway/fellow-sign-in.ts). */
  answerFellow(step: FellowStep): Promise<FellowAnswer> {
    if (!this.running)
      throw new BuckyError(
        "E_UNAVAILABLE",
        `${this.node.deviceName} runs no gateway now`,
        "Start again from the page.",
      );
    return this.running.gateway.answerFellow(step);
  }

  /** Makes what runs match the zone state (as at start, and after every change of it). */
  apply(): void {
    const config = readGateway(this.node.db, this.node.deviceName);
    const text = config ? JSON.stringify(config) : undefined;
    if (text === this.running?.text) return;
    this.running?.gateway.stop();
    this.running = undefined;
    // Off now, or down until the try below serves: a retry failing again is the same spell.
    if (!config || !text) {
      this.problem = null;
      return;
    }
    try {
      const certificates = this.certificatesOf(
        config,
        config.https && !config.tls ? readTls(this.node.zone.paths) : undefined,
      );
      this.running = { config, text, certificates, gateway: this.launch(config, certificates) };
    } catch (error) {
      this.failed(error);
    }
  }

  private certificatesOf(
    config: GatewayConfig,
    files: TlsPem | undefined,
  ): readonly ServedCertificate[] {
    if (config.tls) return this.options.certificates(config);
    return files ? [{ cert: files.cert, key: files.key }] : [];
  }

  private launch(
    config: GatewayConfig,
    certificates: readonly ServedCertificate[],
  ): RunningGateway {
    const gateway = startGateway(this.node, { ...this.options, config, certificates });
    this.problem = null;
    this.problemSaid = null;
    return gateway;
  }

  /** Starts again what ran before a change that could not start; it stopped a moment ago. */
  private relaunch(previous: Running): void {
    this.running = undefined;
    try {
      this.running = {
        ...previous,
        gateway: this.launch(previous.config, previous.certificates),
      };
    } catch (error) {
      this.failed(error);
    }
  }

  /**
   * Why the gateway this device is to run does not serve, and since when: said in its facts,
   * so every device's `bucky status` says it, this one off too. Undefined when it serves,
   * or this device runs none.
   */
  down(): { readonly message: string; readonly since: string } | undefined {
    if (this.problem === null) return undefined;
    return { message: this.problem, since: new Date(this.downSinceMs).toISOString() };
  }

  private failed(error: unknown): void {
    // A gateway that cannot listen is reported, not fatal: the node does everything else,
    // and tries again in a moment.
    if (this.problem === null) this.downSinceMs = this.node.now();
    this.problem = (error as Error).message;
    if (this.problem !== this.problemSaid)
      this.options.log.error("gateway not started", { error: this.problem });
    this.problemSaid = this.problem;
    clearTimeout(this.startAgain);
    this.startAgain = setTimeout(() => {
      if (!this.running) this.apply();
    }, START_AGAIN_MS);
  }
}
