/** `bucky join <token>`: make this fresh home a new device of an existing zone. */
import { joinZone } from "../lib/zone/join.ts";
import { checkDeviceName } from "../protocol/names.ts";
import { defineBuckyCommand } from "./command.ts";
import { defaultDeviceName, requireName } from "./names.ts";

export default defineBuckyCommand({
  meta: {
    name: "join",
    description: "Join a zone with an invitation from `bucky invite`",
    examples: [
      "bucky join eyJhbGciOi… --device laptop",
      "bucky daemon          # then keep it in sync",
    ],
  },
  args: {
    token: { type: "positional", required: true, description: "The invitation token" },
    device: {
      type: "string",
      valueHint: "name",
      description: "This device's name (default: from the host name)",
    },
  },
  async run(args, context) {
    const deviceName = requireName(
      checkDeviceName(args.device ?? defaultDeviceName()),
      "device name",
    );
    const joined = await joinZone({
      home: context.home,
      token: args.token,
      deviceName,
      now: context.now,
      log: context.log,
    });
    return {
      zone: { id: joined.zone.id, name: joined.zone.name },
      device: { id: joined.device.id, name: joined.device.name },
      home: context.home,
      changesets: joined.changesets,
    };
  },
  text: (result) =>
    [
      `Joined zone ${result.zone.name} (${result.zone.id}) as ${result.device.name}.`,
      "",
      "Next: `bucky daemon` keeps this device in sync (or `bucky daemon install` to run it at boot).",
    ].join("\n"),
});
