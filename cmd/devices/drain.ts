/** `bucky devices drain <name>`: move everything off a device, so it can be revoked or switched off. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { DrainProgress } from "../../lib/replica/drain.ts";
import { defineBuckyCommand } from "../command.ts";

const DRAIN_TIMEOUT_MS = 10 * 60_000;
const POLL_MS = 500;

export default defineBuckyCommand({
  meta: {
    name: "drain",
    description:
      "Move every app and every copy of app data off a device, so nothing is left only there",
    examples: [
      "bucky devices drain laptop",
      "bucky devices drain laptop --cancel     # it may hold apps again",
    ],
  },
  args: {
    name: { type: "positional", required: true, description: "The device to drain" },
    cancel: { type: "boolean", description: "Stop draining it: it may hold apps and copies again" },
    wait: {
      type: "boolean",
      default: true,
      description: "Wait until it is drained, at most ten minutes (--no-wait: return at once)",
    },
  },
  async run(args, context) {
    const path = `/v1/devices/${encodeURIComponent(args.name)}/drain`;
    let progress = await requestDaemon<DrainProgress>(context.home, "POST", path, {
      cancel: args.cancel === true,
    });
    const startedAt = Date.now();
    let said = "";
    while (
      !args.cancel &&
      args.wait &&
      !progress.done &&
      Date.now() - startedAt < DRAIN_TIMEOUT_MS
    ) {
      const now = left(progress);
      if (now !== said && !context.json) process.stderr.write(`draining ${args.name}: ${now}\n`);
      said = now;
      await Bun.sleep(POLL_MS);
      progress = await requestDaemon<DrainProgress>(context.home, "GET", path);
    }
    return progress;
  },
  text: (p) =>
    !p.draining
      ? `${p.device} is not being drained: it may hold apps and copies of their data again.`
      : p.done
        ? `${p.device} is drained: nothing of the zone is only on it. Revoke it with \`bucky devices revoke ${p.device}\`, or switch it off.`
        : `${p.device} is being drained; still ${left(p)}. See it with \`bucky devices drain ${p.device}\`.`,
  exitCode: (p) => (p.draining && !p.done ? 3 : 0),
});

function left(p: DrainProgress): string {
  const parts = [
    p.holds.length > 0 ? `holds the data of ${p.holds.join(", ")}` : "",
    p.runs.length > 0 ? `runs ${p.runs.join(", ")}` : "",
    p.catchingUp.length > 0 ? `other devices are catching up with ${p.catchingUp.join(", ")}` : "",
    p.pinned.length > 0
      ? `${p.pinned.join(", ")} ${p.pinned.length === 1 ? "is" : "are"} pinned to it (move with \`bucky app move <app> --to <device>\`)`
      : "",
  ].filter(Boolean);
  return parts.length > 0 ? parts.join("; ") : "finishing";
}
