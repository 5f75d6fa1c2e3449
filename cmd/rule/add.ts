/** `bucky rule add block --app X …`: a rule every gateway of the zone enforces. */

import { systemTimeZone } from "../../lib/gateway/rules.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { Rule } from "../../protocol/rules.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "add",
    description: "Add an access rule (parental control)",
    examples: [
      "bucky rule add block --app games --device kids-tablet --between 21:00-07:00 --days mon-fri",
      "bucky rule add block --app notes --client 192.168.1.23",
      "bucky rule add block --app games --user kid --between 21:00-07:00 --days mon-fri",
      "bucky rule add block --app '*' --role child --between 22:00-06:00",
      "bucky rule add block --app games --between 21:00-07:00 --time-zone Europe/Berlin",
    ],
  },
  args: {
    action: { type: "positional", required: true, description: "What the rule does: block" },
    app: {
      type: "string",
      required: true,
      valueHint: "app",
      description: 'The app it applies to ("*" for every app)',
    },
    client: {
      type: "string",
      valueHint: "addr",
      description: "Only requests from this client address",
    },
    device: {
      type: "string",
      valueHint: "name",
      description: "Only requests signed in through this device",
    },
    user: {
      type: "string",
      valueHint: "name",
      description: "Only this person's sessions",
    },
    role: {
      type: "string",
      valueHint: "role",
      description: "Only the sessions of people of this role (admin, member, child)",
    },
    between: {
      type: "string",
      valueHint: "HH:MM-HH:MM",
      description: "Only in this daily window, in --time-zone",
    },
    days: {
      type: "string",
      valueHint: "days",
      description: "Only on these days, like mon-fri or sat,sun, in --time-zone",
    },
    "time-zone": {
      type: "string",
      valueHint: "zone",
      description:
        "The time zone every gateway reads --between and --days in, like Europe/Berlin (default: this computer's)",
    },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<Rule & HeldAnswer>(context.home, "POST", pathAsked("/v1/rules", args), {
      action: args.action,
      app: args.app,
      ...(args.client ? { client: args.client } : {}),
      ...(args.device ? { device: args.device } : {}),
      ...(args.user ? { user: args.user } : {}),
      ...(args.role ? { role: args.role } : {}),
      ...(args.between ? { between: args.between } : {}),
      ...(args.days ? { days: args.days } : {}),
      // The person's own zone, which the daemon's (a service's environment) may not be.
      ...(args["time-zone"]
        ? { timeZone: args["time-zone"] }
        : args.between || args.days
          ? { timeZone: systemTimeZone() }
          : {}),
    }),
  text: (rule) =>
    [
      `Added rule ${rule.id}. Every gateway of the zone enforces it once it syncs.`,
      ...notHeldYetNote(rule, "rule"),
    ].join("\n"),
});
