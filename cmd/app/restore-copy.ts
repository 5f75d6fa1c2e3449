/** `bucky app restore-copy <app> <copy>`: bring back a conflict copy of an app's data. */
import type { AppStatus } from "../../lib/apps/status.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { HeldAnswer } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";

const RESTORE_TIMEOUT_MS = 120_000;
const POLL_MS = 250;

export default defineBuckyCommand({
  meta: {
    name: "restore-copy",
    description:
      "Bring back a conflict copy of an app's data (`bucky app status` lists them): the device keeping it runs the app with it, and the data it replaces is kept as a copy in turn",
    examples: ["bucky app restore-copy notes 2026-11-28T21-40-03-120Z-laptop-epoch3"],
  },
  args: {
    app: { type: "positional", required: true, description: "The app's id" },
    copy: { type: "positional", required: true, description: "The copy's name" },
  },
  async run(args, context) {
    const path = `/v1/apps/${encodeURIComponent(args.app)}`;
    const { heldElsewhere } = await requestDaemon<HeldAnswer>(
      context.home,
      "POST",
      `${path}/restore-copy`,
      { copy: args.copy },
    );
    const startedAt = Date.now();
    for (;;) {
      const status = await requestDaemon<AppStatus>(context.home, "GET", path);
      const restored =
        status.data?.holder?.restoredCopy === args.copy && status.state === "running";
      if (restored || Date.now() - startedAt > RESTORE_TIMEOUT_MS)
        return {
          app: args.app,
          copy: args.copy,
          restored,
          device: status.data?.holder?.device ?? null,
          // Whether another device held the restore when it was written.
          heldElsewhere,
        };
      await Bun.sleep(POLL_MS);
    }
  },
  text: (r) =>
    r.restored
      ? `${r.app} runs on ${r.device} with the copy ${r.copy}. What it had before is kept as a conflict copy: see \`bucky app status ${r.app}\`.`
      : `${r.app} is not running with ${r.copy} yet; see \`bucky app status ${r.app}\`.`,
  exitCode: (r) => (r.restored ? 0 : 3),
});
