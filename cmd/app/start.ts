/** `bucky app start <app>`: run a stopped app again. */
import type { AppSpec } from "../../lib/apps/spec.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { HeldElsewhere } from "../../lib/node/node-context.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: { name: "start", description: "Start an app that was stopped" },
  args: { app: { type: "positional", required: true, description: "The app's id" } },
  async run(args, context) {
    const spec = await requestDaemon<AppSpec & { heldElsewhere: HeldElsewhere }>(
      context.home,
      "POST",
      `/v1/apps/${encodeURIComponent(args.app)}/start`,
    );
    return { app: spec.app, desired: spec.desired, heldElsewhere: spec.heldElsewhere };
  },
  text: (result) =>
    [
      `Starting ${result.app}; see it with \`bucky app status ${result.app}\`.`,
      ...notHeldYetNote(result.heldElsewhere, "start"),
    ].join("\n"),
});
