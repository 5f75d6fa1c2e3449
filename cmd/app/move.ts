/** `bucky app move <app> --to <device>`: move an app and its data to another device, losing nothing. */
import type { AppStatus } from "../../lib/apps/status.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { DeviceView } from "../../lib/zone/devices.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

const MOVE_TIMEOUT_MS = 120_000;

export interface MoveResult {
  readonly app: string;
  readonly to: string;
  readonly arrived: boolean;
  readonly waited: boolean;
  /** The device moved to is offline: it moves there once it is back. */
  readonly offline: boolean;
  readonly state: AppStatus["state"];
  readonly device: string | null;
  readonly heldElsewhere: HeldAnswer["heldElsewhere"];
  /** Arrived by a takeover from a copy: at most how much could be missing, or why not known. */
  readonly lostAtMostMs: number | null;
  readonly lostUnknownReason: string | null;
}
const POLL_MS = 250;

export default defineBuckyCommand({
  meta: {
    name: "move",
    description:
      "Move an app and its data to another device: it stops, its last changes are shipped, and it starts there",
    examples: ["bucky app move notes --to nas", "bucky app move notes --to nas --no-wait"],
  },
  args: {
    app: { type: "positional", required: true, description: "The app's id" },
    to: {
      type: "string",
      valueHint: "device",
      required: true,
      description: "The device to move it to",
    },
    ...waitArgs("it runs there (at most two minutes)"),
  },
  async run(args, context): Promise<MoveResult> {
    const path = `/v1/apps/${encodeURIComponent(args.app)}`;
    const { heldElsewhere } = await requestDaemon<HeldAnswer>(
      context.home,
      "POST",
      pathAsked(`${path}/move`, args),
      { to: args.to },
    );
    // A device the zone knows is offline takes nothing over until it is back: not waited
    // for (two minutes of silence, then "moving"), said at once.
    const { devices } = await requestDaemon<{ devices: DeviceView[] }>(
      context.home,
      "GET",
      "/v1/devices",
    );
    const offline = devices.find((d) => d.name === args.to)?.status === "offline";
    const startedAt = Date.now();
    for (;;) {
      const status = await requestDaemon<AppStatus>(context.home, "GET", path);
      const arrived = status.device === args.to && status.state === "running";
      if (arrived || !args.wait || offline || Date.now() - startedAt > MOVE_TIMEOUT_MS)
        return {
          app: args.app,
          to: args.to,
          arrived,
          waited: args.wait,
          offline,
          state: status.state,
          device: status.device,
          heldElsewhere,
          // Taken over from a copy (its device gone as it moved), not from the move's last
          // snapshot: what could be missing, as `bucky app status` says it.
          lostAtMostMs: status.data?.holder?.lostAtMostMs ?? null,
          lostUnknownReason: status.data?.holder?.lostUnknownReason ?? null,
        };
      await Bun.sleep(POLL_MS);
    }
  },
  text: moveText,
  exitCode: (r) => (r.arrived || !r.waited ? 0 : 3),
});

/** What `bucky app move` answers: arrived (with all its data, or what could be missing), or where it is. */
export function moveText(r: MoveResult): string {
  return r.arrived
    ? r.lostUnknownReason !== null
      ? `${r.app} runs on ${r.to} now, taken over from a copy: how much of the writes before it could be missing is not known; see \`bucky app status ${r.app}\`.`
      : r.lostAtMostMs
        ? `${r.app} runs on ${r.to} now, taken over from a copy: at most ${(r.lostAtMostMs / 1000).toFixed(1)} s of writes before it could be missing.`
        : `${r.app} runs on ${r.to} now, with all its data.`
    : [
        r.offline
          ? `${r.to} is offline: ${r.app} moves there once it is back (now ${r.state}${r.device ? ` on ${r.device}` : ""}).`
          : `${r.app} is moving to ${r.to} (now ${r.state}${r.device ? ` on ${r.device}` : ""}); see \`bucky app status ${r.app}\`.`,
        ...(r.waited ? notHeldYetNote({ heldElsewhere: r.heldElsewhere }, "move") : []),
      ].join("\n");
}
