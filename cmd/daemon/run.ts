/**
 * `bucky daemon`: run the node in the foreground until SIGTERM or SIGINT. It says where
 * it listens on stdout (one JSON document with --json) and logs on stderr.
 */

import { PROBE_USER } from "../../lib/apps/app-user.ts";
import { detectSandbox } from "../../lib/apps/sandbox.ts";
import { forwardLimits } from "../../lib/gateway/forward-budget.ts";
import { followLoadWithJit } from "../../lib/node/jit-policy.ts";
import { DEFAULT_SYNC_INTERVAL_MS, openNode } from "../../lib/node/node.ts";
import { ndnCollectEveryMs, ndnGraceMs } from "../collection-times.ts";
import { defineBuckyCommand } from "../command.ts";
import { compactionTimes, heartbeatMs, msOf, relayPatience, silenceTiming } from "../liveness.ts";
import { olderRulesLevel } from "../older-rules.ts";
import { VERSION } from "../version-info.ts";
import { listenArgs, portArg } from "./command-line.ts";

export default defineBuckyCommand({
  meta: {
    name: "daemon",
    description:
      "Run the node in the foreground: sync with the zone's devices and serve its APIs (`bucky up` runs it in the background)",
    examples: [
      "bucky daemon",
      "bucky daemon --port 0 --listen 127.0.0.1   # a free port, this host only",
    ],
  },
  args: listenArgs,
  defaultLogLevel: "info",
  subCommands: {
    install: () => import("./install.ts").then((m) => m.default),
    uninstall: () => import("./uninstall.ts").then((m) => m.default),
  },
  async run(args, context) {
    // Before the zone is opened: what the start compiles, the JIT's compilers included, an
    // idle daemon would hold for good.
    followLoadWithJit(context.log);
    const port = portArg(args.port);
    const path = context.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";
    const sandbox = detectSandbox({
      path,
      asRoot: process.getuid?.() === 0,
      runtime: process.execPath,
      probeUser: PROBE_USER,
      off: context.env.BUCKY_SANDBOX === "off",
    });
    const node = await openNode({
      home: context.home,
      log: context.log,
      now: context.now,
      listen: { host: args.listen ?? "0.0.0.0", port },
      syncIntervalMs: msOf(context.env, "BUCKY_SYNC_INTERVAL_MS") ?? DEFAULT_SYNC_INTERVAL_MS,
      version: VERSION,
      backup: {
        ...given("everyMs", msOf(context.env, "BUCKY_BACKUP_EVERY_MS")),
        ...given("verifyEveryMs", msOf(context.env, "BUCKY_VERIFY_EVERY_MS")),
      },
      ...given("agentLogIntervalMs", msOf(context.env, "BUCKY_AGENT_LOG_INTERVAL_MS")),
      ...given("trafficFactsEveryMs", msOf(context.env, "BUCKY_TRAFFIC_FACTS_EVERY_MS")),
      ...given("factsEveryMs", msOf(context.env, "BUCKY_FACTS_EVERY_MS")),
      stateCheck: {
        ...given("everyMs", msOf(context.env, "BUCKY_STATE_CHECK_EVERY_MS")),
        ...given("verifyEveryMs", msOf(context.env, "BUCKY_STATE_VERIFY_EVERY_MS")),
      },
      ...given("replicaVerifyEveryMs", msOf(context.env, "BUCKY_REPLICA_VERIFY_EVERY_MS")),
      ...given("heldWaitMs", msOf(context.env, "BUCKY_HELD_WAIT_MS")),
      compaction: compactionTimes(context.env),
      namedData: { graceMs: ndnGraceMs(context.env), everyMs: ndnCollectEveryMs(context.env) },
      ...given("scrubEveryMs", msOf(context.env, "BUCKY_SCRUB_EVERY_MS")),
      gateway: {
        ...given("backendTimeoutMs", msOf(context.env, "BUCKY_GATEWAY_TIMEOUT_MS")),
        // The runtime's limit on fetches at once is read from the environment it started with.
        forwardLimits: forwardLimits(context.env),
        silence: silenceTiming(context.env),
      },
      relay: relayPatience(context.env),
      // Test hook: the write rules of an older bucky, enforced and said (test/versions.test.ts).
      ...given("writeRulesLevel", olderRulesLevel(context.env)),
      // Test hook: a relay hello as an older bucky says it (test/relay.test.ts).
      ...(context.env.BUCKY_TEST_RELAY_HELLO_V1 === "1" ? { relayHelloV1: true } : {}),
      apps: {
        sandbox,
        runtime: process.execPath,
        path,
        heartbeatMs: heartbeatMs(context.env),
        intervalMs: msOf(context.env, "BUCKY_CONVERGE_INTERVAL_MS") ?? 2000,
        // Test hook: a shorter first restart of a failed app (tests that wait out restarts).
        ...given("firstRestartMs", msOf(context.env, "BUCKY_APP_RESTART_MS")),
        // BUCKY_PODMAN: another Podman (a path), or off (a device that runs no images).
        images: {
          podman:
            context.env.BUCKY_PODMAN && context.env.BUCKY_PODMAN !== "off"
              ? context.env.BUCKY_PODMAN
              : "podman",
          off: context.env.BUCKY_PODMAN === "off",
        },
      },
    });
    if (!node.sandboxed)
      context.log.warn(
        "bubblewrap is not usable here: apps run only if installed with --unsandboxed",
        { problem: sandbox.problem },
      );
    else if (!sandbox.slirp4netns)
      context.log.warn(
        "slirp4netns is not installed: apps that ask for outbound network run only if installed with --unsandboxed",
      );
    const ready = {
      zone: node.zone,
      device: node.device,
      addresses: node.addresses,
      socket: node.socket,
      pid: process.pid,
    };
    context.print(
      ready,
      () =>
        `bucky daemon for ${node.device.name} in zone ${node.zone.name}, listening on ${node.addresses.join(", ")}`,
    );
    const signalled = new Promise<void>((resolve) => {
      process.once("SIGTERM", () => resolve());
      process.once("SIGINT", () => resolve());
    });
    // A bug rejects `done`: the error reaches main, which exits non-zero (let it crash).
    // One that escaped every handler (a timer's, a promise nobody awaited) does the same,
    // said as fatal, rather than ending the process without a word.
    const escaped = new Promise<never>((_, reject) => {
      const fail = (error: unknown) => {
        context.log.fatal("unexpected error", {
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
        reject(error);
      };
      process.on("uncaughtException", fail);
      process.on("unhandledRejection", fail);
    });
    await Promise.race([signalled, node.done, escaped]);
    await node.stop();
    return undefined;
  },
  text: () => "",
});

/** `{[field]: value}` when there is a value, else nothing: an option left at its default. */
function given<K extends string>(field: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [field]: value }) as { [P in K]?: number };
}
