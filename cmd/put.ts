/**
 * `bucky put <file>`: store a file as named data and print its id. The zone records it
 * and every other device takes a copy (within the zone's budget for stored files); put
 * answers once another device holds it whole (`copiedBy`), so this device may go as the
 * command ends.
 */
import { basename, resolve } from "node:path";
import type { GatewayCopies } from "../lib/gateway/public-copies.ts";
import { putFile } from "../lib/ndn/files.ts";
import { isDaemonDown, requestDaemon } from "../lib/node/daemon-client.ts";
import { pathAsked } from "../lib/node/held-wait.ts";
import { defineBuckyCommand } from "./command.ts";
import { waitArgs } from "./held-elsewhere.ts";

interface Recorded {
  readonly withinBudget: boolean;
  /** Present, and false, when asked not to wait (`--no-wait`). */
  readonly waited?: false;
  readonly copiedBy: readonly string[];
  readonly notCopiedBy: readonly string[];
}

export default defineBuckyCommand({
  meta: {
    name: "put",
    description:
      "Store a file by its content hash, zone-wide; prints the id any zone device can fetch it by, once another device holds a copy",
    examples: [
      "bucky put photo.jpg",
      "bucky get sha256:… -o copy.jpg   # on any device of the zone",
      "bucky rm sha256:…                # on any device: let it go, zone-wide",
    ],
  },
  args: {
    file: { type: "positional", required: true, description: "The file to store" },
    public: {
      type: "boolean",
      description:
        "Let the zone's gateways serve it to anyone at /ndn/<id>; answers once another gateway holds a copy (needs the daemon)",
    },
    ...waitArgs(),
  },
  async run(args, context) {
    const path = resolve(args.file);
    const stored = putFile(context.home, path, context.log, context.now());
    const request = { id: stored.id, size: stored.size, name: basename(path) };
    let recorded: Recorded | undefined;
    try {
      // Public: the gateways' copies are what put waits for (below), not another device's.
      recorded = await requestDaemon<Recorded>(
        context.home,
        "POST",
        pathAsked("/v1/ndn/files", { wait: args.wait && !args.public }),
        request,
      );
    } catch (error) {
      if (!isDaemonDown(error) || args.public) throw error;
    }
    if (!args.public) {
      // On stderr: stdout is the id alone, which scripts take.
      if (!recorded)
        context.log.warn(
          `${stored.id} is stored on this device alone: its daemon is not running. Start it (\`bucky up\`): it records the file in the zone and the other devices take a copy.`,
        );
      else if (!recorded.withinBudget)
        context.log.warn(
          `${stored.id} is past the zone's budget for stored files: no other device copies it, and it is lost with this device. Remove other files (\`bucky rm <id>\`), or raise the budget (\`bucky state set system/files-budget <bytes>\`).`,
        );
      // (Not waited for, the command says so itself: cmd/command.ts.)
      else if (recorded.copiedBy.length === 0 && recorded.notCopiedBy.length > 0)
        context.log.warn(
          `No other device holds a copy of ${stored.id} yet (${recorded.notCopiedBy.join(", ")} still copying): keep this device running until one has it, or the file is lost with this device.`,
        );
      return {
        ...stored,
        public: false,
        recorded: recorded !== undefined,
        copiedBy: recorded?.copiedBy ?? [],
        notCopiedBy: recorded?.notCopiedBy ?? [],
        ...(recorded?.waited === false ? { waited: false as const } : {}),
      };
    }
    const copies = await requestDaemon<GatewayCopies & { waited?: false; noGateway?: boolean }>(
      context.home,
      "POST",
      pathAsked("/v1/ndn/public", args),
      { id: stored.id, size: stored.size },
    );
    // On stderr: stdout is the id alone, which scripts take. (Not waited for, the command
    // says so itself: cmd/command.ts.)
    if (copies.noGateway)
      context.log.warn(
        `No device of the zone is a gateway: it is served to anyone at /ndn/${stored.id} once one is (\`bucky gateway enable\` on it).`,
      );
    else if (
      copies.copiedBy.length === 0 &&
      copies.notCopiedBy.length > 0 &&
      copies.waited !== false
    )
      context.log.warn(
        `No other gateway holds a copy of ${stored.id} yet (${copies.notCopiedBy.join(", ")} still copying): keep this device running until one has it, or the zone stops serving it while this device is away.`,
      );
    return {
      ...stored,
      public: true,
      recorded: true,
      copiedBy: copies.copiedBy,
      notCopiedBy: copies.notCopiedBy,
      ...(copies.waited === false ? { waited: false as const } : {}),
    };
  },
  text: (stored) => stored.id,
});
