/**
 * `bucky join <token>`: make this fresh home a new device of an existing zone. The token
 * can come on stdin (`bucky join -`, or no argument with stdin not a terminal), so it
 * need not stand on the command line, where every local user sees it.
 */
import { BuckyError } from "../lib/errors.ts";
import { startInBackground } from "../lib/node/background.ts";
import type { HomeStep } from "../lib/zone/home-staging.ts";
import { joinZone } from "../lib/zone/join.ts";
import { checkDeviceName, type DeviceName } from "../protocol/names.ts";
import { defineBuckyCommand } from "./command.ts";
import { backgroundOptions, listenArgs } from "./daemon/command-line.ts";
import { defaultDeviceName, requireName } from "./names.ts";
import { olderRulesLevel } from "./older-rules.ts";
import { readSecretInput } from "./stdin.ts";

/**
 * Test hook: with BUCKY_TEST_KILL_AFTER=<step>, the process kills itself with SIGKILL
 * right after that step of the join (`admitted`: the zone lists it, nothing is written
 * here yet), the way a power cut would.
 */
const KILL_AFTER_ENV = "BUCKY_TEST_KILL_AFTER";

export default defineBuckyCommand({
  meta: {
    name: "join",
    description: "Join a zone with an invitation from `bucky invite`",
    examples: [
      "bucky join eyJhbGciOi… --device laptop",
      "bucky join eyJhbGciOi… --no-start   # join only; run `bucky daemon` yourself",
      "bucky join - --device laptop < invitation.txt   # the token off the command line",
    ],
  },
  args: {
    token: {
      type: "positional",
      required: false,
      description:
        "The invitation token; - (or none, with stdin not a terminal) reads it from stdin",
    },
    device: {
      type: "string",
      valueHint: "name",
      description: "This device's name (default: from the host name)",
    },
    start: {
      type: "boolean",
      default: true,
      description: "Run the node in the background once joined (--no-start: do not)",
    },
    ...listenArgs,
  },
  async run(args, context) {
    const deviceName = requireName(
      checkDeviceName(args.device ?? defaultDeviceName()),
      "device name",
    );
    // Checked before anything is asked of the zone: a --port that is none is refused unjoined.
    const background = args.start ? backgroundOptions(context, args) : undefined;
    const token = await invitation(args.token);
    const killAfter = context.env[KILL_AFTER_ENV];
    // Test hook: asks saying an older bucky's write rules (test/versions.test.ts).
    const olderLevel = olderRulesLevel(context.env);
    const joined = await joinZone({
      home: context.home,
      token,
      deviceName,
      // A name taken from the host name may be taken in the zone too (two boxes called
      // raspberrypi): then it gets a number. A name given with --device is kept or refused.
      otherNames: args.device ? [] : numbered(deviceName),
      now: context.now,
      log: context.log,
      ...(olderLevel === undefined ? {} : { writeRulesLevel: olderLevel }),
      ...(killAfter
        ? {
            onStep: (step: HomeStep) => step === killAfter && process.kill(process.pid, "SIGKILL"),
          }
        : {}),
    });
    const node = background ? await startInBackground(background) : null;
    return {
      zone: { id: joined.zone.id, name: joined.zone.name },
      device: { id: joined.device.id, name: joined.device.name },
      home: context.home,
      changesets: joined.changesets,
      backupKey: joined.backupKey,
      checkpoint: joined.checkpoint ?? null,
      node,
    };
  },
  text: (result) =>
    [
      `Joined zone ${result.zone.name} (${result.zone.id}) as ${result.device.name}.`,
      result.backupKey
        ? "It holds the zone's backup key: it backs up its data to the zone's targets on its own."
        : "It does not hold the backup key; to let it back up, type the recovery phrase into `bucky backup key` here.",
      result.node
        ? `Its node runs in the background (pid ${result.node.pid}) and keeps this device in sync; \`bucky stop\` stops it.`
        : "Next: `bucky up` runs its node in the background (or `bucky daemon` in the foreground).",
    ].join("\n"),
});

/** name-2 … name-9, those of them that are valid names. */
function numbered(name: DeviceName): DeviceName[] {
  return [2, 3, 4, 5, 6, 7, 8, 9].flatMap((n) => {
    const check = checkDeviceName(`${name.slice(0, 60)}-${n}`);
    return check.ok ? [check.name] : [];
  });
}

/** The invitation: as given, or read from stdin. */
async function invitation(given: string | undefined): Promise<string> {
  if (given !== undefined && given !== "-") return given;
  if (given === undefined && process.stdin.isTTY)
    throw new BuckyError(
      "E_USAGE",
      "bucky join needs the invitation token from `bucky invite`",
      "Give it as the argument, or on stdin: `bucky join - < invitation.txt`.",
    );
  const token = (
    await readSecretInput("Invitation token: ", "Pipe in only the token `bucky invite` printed.")
  ).trim();
  if (!token)
    throw new BuckyError(
      "E_USAGE",
      "no invitation token on stdin",
      "Pipe in what `bucky invite` printed.",
    );
  return token;
}
