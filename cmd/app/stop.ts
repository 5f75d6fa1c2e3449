/** `bucky app stop <app>`: stop an app (it stays installed, with its data). */
import type { AppSpec } from "../../lib/apps/spec.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: { name: "stop", description: "Stop an app; it stays installed with its data" },
  args: { app: { type: "positional", required: true, description: "The app's id" }, ...waitArgs() },
  async run(args, context) {
    const spec = await requestDaemon<AppSpec & HeldAnswer>(
      context.home,
      "POST",
      pathAsked(`/v1/apps/${encodeURIComponent(args.app)}/stop`, args),
    );
    const { app, desired, heldElsewhere, waited } = spec;
    return { app, desired, heldElsewhere, ...(waited === false ? { waited } : {}) };
  },
  text: (result) =>
    [
      `Stopping ${result.app}; see it with \`bucky app status ${result.app}\`.`,
      ...notHeldYetNote(result, "stop"),
    ].join("\n"),
});
