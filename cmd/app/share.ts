/** `bucky app share <app> --with ann,child`: whom a zone-only app is shared with. */
import type { AppSpec } from "../../lib/apps/spec.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "share",
    description: "Choose who of the zone sees a zone-only app: people and roles, or everyone",
    examples: [
      "bucky app share notes --with ann,kid",
      "bucky app share games --with child",
      "bucky app share notes --with everyone",
    ],
  },
  args: {
    app: { type: "positional", required: true, description: "The app's id" },
    with: {
      type: "string",
      required: true,
      valueHint: "names",
      description: "People and roles (admin, member, child), comma-separated, or everyone",
    },
    ...waitArgs(),
  },
  async run(args, context) {
    const names = args.with
      .split(",")
      .map((name) => name.trim())
      .filter(Boolean);
    const spec = await requestDaemon<AppSpec & HeldAnswer>(
      context.home,
      "PUT",
      pathAsked(`/v1/apps/${encodeURIComponent(args.app)}/share`, args),
      { with: names.length === 1 && names[0] === "everyone" ? null : names },
    );
    const { app, shared, heldElsewhere, waited } = spec;
    return { app, shared: shared ?? null, heldElsewhere, ...(waited === false ? { waited } : {}) };
  },
  text: (result) =>
    [
      result.shared
        ? `${result.app} is shared with ${result.shared.join(", ")} (and the admins).`
        : `${result.app} is shared with everyone of the zone.`,
      ...notHeldYetNote(result, "change"),
    ].join("\n"),
});
