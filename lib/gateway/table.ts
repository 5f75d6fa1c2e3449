/**
 * What the gateway knows of the zone's apps, rebuilt from the state whenever it changes
 * (and every second, as heartbeats age), so a request reads memory, not the database:
 * each app's spec, where it runs, its limits, and the rules.
 */
import type { Rule } from "../../protocol/rules.ts";
import { type AppSpec, readSpecs } from "../apps/spec.ts";
import { type AppStatus, appStatuses } from "../apps/status.ts";
import type { NodeContext } from "../node/node-context.ts";
import { type OwnerLimits, readOwnerLimits } from "./owner-limits.ts";
import { readRules } from "./rules.ts";

export interface AppLimits {
  readonly rps?: number;
  readonly bandwidthBytesPerSecond?: number;
}

/** The limits in force: the owner's over the manifest's. */
export function limitsInForce(manifest: AppLimits, owner: OwnerLimits): AppLimits {
  const rps = owner.rps === undefined ? manifest.rps : owner.rps;
  const bandwidth =
    owner.bandwidthBytesPerSecond === undefined
      ? manifest.bandwidthBytesPerSecond
      : owner.bandwidthBytesPerSecond;
  return {
    ...(rps ? { rps } : {}),
    ...(bandwidth ? { bandwidthBytesPerSecond: bandwidth } : {}),
  };
}

export interface AppEntry {
  readonly spec: AppSpec;
  readonly status: AppStatus;
  readonly limits: AppLimits;
}

export class RouteTable {
  private apps = new Map<string, AppEntry>();
  private rulesList: Rule[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly refreshed: (() => void)[] = [];

  constructor(
    private readonly node: NodeContext,
    private readonly liveWindowMs: number,
  ) {}

  start(): void {
    this.refresh();
    this.unsubscribe = this.node.onChange((changesets) => {
      if (
        changesets.some((c) => c.ops.some((op) => /^(users|nodes|system|devices)\//.test(op.key)))
      )
        this.refresh();
    });
    this.timer = setInterval(() => this.refresh(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.unsubscribe?.();
  }

  /** Calls `listener` after each refresh (at every change of the state, and each second). */
  onRefresh(listener: () => void): void {
    this.refreshed.push(listener);
  }

  app(name: string): AppEntry | undefined {
    return this.apps.get(name);
  }

  rules(): readonly Rule[] {
    return this.rulesList;
  }

  allApps(): readonly AppEntry[] {
    return [...this.apps.values()];
  }

  refresh(): void {
    const statuses = new Map(
      appStatuses(this.node, this.liveWindowMs, { sayOffline: false }).map((status) => [
        status.app,
        status,
      ]),
    );
    const apps = new Map<string, AppEntry>();
    for (const spec of readSpecs(this.node.db)) {
      const status = statuses.get(spec.app);
      if (spec.desired === "removed" || !status) continue;
      apps.set(spec.app, {
        spec,
        status,
        limits: limitsInForce(spec.manifest.limits, readOwnerLimits(this.node.db, spec.app)),
      });
    }
    this.apps = apps;
    this.rulesList = readRules(this.node.db);
    for (const listener of this.refreshed) listener();
  }
}
