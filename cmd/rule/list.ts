/** `bucky rule list`: the zone's access rules. */

import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { Rule } from "../../protocol/rules.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List the zone's access rules" },
  args: {},
  run: (_args, context) =>
    requestDaemon<{ rules: (Rule & { description: string })[] }>(context.home, "GET", "/v1/rules"),
  text: ({ rules }) =>
    rules.length === 0
      ? "No rules."
      : rules.map((rule) => `${rule.id}  ${rule.description}`).join("\n"),
});
