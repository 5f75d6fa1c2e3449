/**
 * `bucky up`: the one command to have a working node. It creates a zone in the home if
 * there is none (this first device then serves as the zone's gateway), and runs the node
 * in the background; run again, it only makes sure the node runs, and runs this bucky (one
 * started from the file a rebuild or an upgrade replaced is restarted).
 */
import { BuckyError, type ErrorCode, toBuckyError } from "../lib/errors.ts";
import { DEFAULT_GATEWAY_LISTEN, type GatewayConfig } from "../lib/gateway/config.ts";
import { type BackgroundNode, startInBackground } from "../lib/node/background.ts";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import { homeHasZone } from "../lib/zone/home-contents.ts";
import { defineBuckyCommand } from "./command.ts";
import { backgroundOptions, listenArgs } from "./daemon/command-line.ts";
import { createdLines, createNewZone, type InitResult } from "./init.ts";

interface UpResult {
  readonly zone: InitResult["zone"];
  readonly device: InitResult["device"];
  readonly home: string;
  /** Whether this run created the zone. */
  readonly created: boolean;
  /** Only when the zone was just created: shown this once. */
  readonly recoveryPhrase?: string;
  /** The node running; null when it could not start (nodeProblem says why). */
  readonly node: BackgroundNode | null;
  /**
   * Why the node of a zone this run created could not start: the zone stays, and the
   * result (its recovery phrase, shown this once) is printed all the same, exit code non-zero.
   */
  readonly nodeProblem?: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly hint?: string;
  };
  /** The gateway this run set up (for a new zone), or why it could not. */
  readonly gateway: { readonly url: string | null; readonly problem: string | null } | null;
}

export default defineBuckyCommand({
  meta: {
    name: "up",
    description:
      "Create a zone here if there is none, and run its node in the background (`bucky stop` ends it)",
    examples: [
      "bucky up",
      "bucky up --name family --device nas",
      "bucky up --gateway off            # a new zone whose first device is no gateway",
    ],
  },
  args: {
    name: { type: "string", valueHint: "zone", description: "A new zone's name (default: home)" },
    device: {
      type: "string",
      valueHint: "name",
      description: "This device's name in a new zone (default: from the host name)",
    },
    gateway: {
      type: "string",
      valueHint: "addr:port|off",
      description: `Where a new zone's first device serves its apps and panel (default: ${DEFAULT_GATEWAY_LISTEN})`,
    },
    ...listenArgs,
  },
  async run(args, context): Promise<UpResult> {
    // Checked before a zone is made: a --port that is none is refused with nothing made.
    const background = backgroundOptions(context, args);
    const created = homeHasZone(context.home) ? undefined : await createNewZone(args, context);
    let node: BackgroundNode;
    try {
      node = await startInBackground(background);
    } catch (error) {
      if (!created) throw error;
      // The zone is made, and its recovery phrase is shown this once: said with why its node
      // did not start (a port taken), not lost with an error.
      const problem = toBuckyError(error);
      return {
        zone: created.zone,
        device: created.device,
        home: context.home,
        created: true,
        ...(created.recoveryPhrase ? { recoveryPhrase: created.recoveryPhrase } : {}),
        node: null,
        nodeProblem: {
          code: problem.code,
          message: problem.message,
          ...(problem.hint ? { hint: problem.hint } : {}),
        },
        gateway: null,
      };
    }
    const gateway =
      created && args.gateway !== "off" ? await enableGateway(context.home, args.gateway) : null;
    const status = await requestDaemon<Pick<InitResult, "zone" | "device">>(
      context.home,
      "GET",
      "/v1/status",
    );
    return {
      zone: { id: status.zone.id, name: status.zone.name },
      device: { id: status.device.id, name: status.device.name },
      home: context.home,
      created: created !== undefined,
      ...(created?.recoveryPhrase ? { recoveryPhrase: created.recoveryPhrase } : {}),
      node,
      gateway,
    };
  },
  text(result) {
    const lines = result.created
      ? [...createdLines({ ...result, recovered: false }), ""]
      : [`Zone ${result.zone.name} (${result.zone.id}), device ${result.device.name}.`];
    if (!result.node) {
      const problem = result.nodeProblem;
      lines.push(
        `Its node did not start: ${problem?.message ?? "no reason given"}.`,
        ...(problem?.hint ? [problem.hint] : []),
        "Then `bucky up` starts it (the zone is made: nothing more is created), and `bucky gateway enable` makes this device the zone's gateway.",
      );
      return lines.join("\n");
    }
    if (result.node.restarted)
      lines.push(
        "Its node ran another bucky (the build this one replaced): restarted on this one.",
      );
    lines.push(
      result.node.started
        ? `Its node runs in the background (pid ${result.node.pid}${result.node.unit ? `, systemd unit ${result.node.unit}` : ""}); \`bucky stop\` stops it. Log: ${result.node.log}`
        : `Its node was already running (pid ${result.node.pid}).`,
    );
    if (result.gateway?.url)
      lines.push(`Its gateway serves apps and the panel at ${result.gateway.url}`);
    if (result.gateway?.problem)
      lines.push(
        `Its gateway could not start: ${result.gateway.problem}. Choose another address with \`bucky gateway enable --listen ADDR:PORT\`.`,
      );
    lines.push(
      "",
      "Next: `bucky invite` adds another device; `bucky app install <dir>` installs an app; `bucky panel` opens the control panel.",
    );
    return lines.join("\n");
  },
  exitCode: (result) =>
    result.nodeProblem ? new BuckyError(result.nodeProblem.code, "").exitCode : 0,
});

/** Makes this first device the zone's gateway; a failure is reported, the node runs on. */
async function enableGateway(
  home: string,
  listen: string | undefined,
): Promise<NonNullable<UpResult["gateway"]>> {
  try {
    await requestDaemon<GatewayConfig>(home, "POST", "/v1/gateway", {
      listen: listen ?? DEFAULT_GATEWAY_LISTEN,
    });
    const running = await requestDaemon<{ url: string | null; problem: string | null }>(
      home,
      "GET",
      "/v1/gateway",
    );
    return { url: running.url, problem: running.problem };
  } catch (error) {
    return { url: null, problem: (error as Error).message };
  }
}
