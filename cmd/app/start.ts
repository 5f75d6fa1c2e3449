/** `bucky app start <app>`: run a stopped app again. */
import type { AppSpec } from "../../lib/apps/spec.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: { name: "start", description: "Start an app that was stopped" },
  args: { app: { type: "positional", required: true, description: "The app's id" }, ...waitArgs() },
  async run(args, context) {
    const spec = await requestDaemon<AppSpec & HeldAnswer>(
      context.home,
      "POST",
      pathAsked(`/v1/apps/${encodeURIComponent(args.app)}/start`, args),
    );
    const { app, desired, heldElsewhere, waited } = spec;
    return { app, desired, heldElsewhere, ...(waited === false ? { waited } : {}) };
  },
  text: (result) =>
    [
      `Starting ${result.app}; see it with \`bucky app status ${result.app}\`.`,
      ...notHeldYetNote(result, "start"),
    ].join("\n"),
});
