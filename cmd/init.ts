/** `bucky init`: create a zone on this box, or re-create one from its recovery phrase. */
import { newRecoveryPhrase, readRecoveryPhrase } from "../lib/identity/recovery-phrase.ts";
import { createZone } from "../lib/zone/create.ts";
import { homeHasZone } from "../lib/zone/home-contents.ts";
import type { HomeStep } from "../lib/zone/home-staging.ts";
import { zoneStatus } from "../lib/zone/status.ts";
import { checkDeviceName, checkZoneName } from "../protocol/names.ts";
import { defineBuckyCommand } from "./command.ts";
import type { Context } from "./context.ts";
import { liveWindowMs } from "./liveness.ts";
import { defaultDeviceName, requireName } from "./names.ts";
import { readSecretInput } from "./stdin.ts";

const DEFAULT_ZONE_NAME = "home";

/**
 * Test hook: with BUCKY_TEST_KILL_AFTER=<step>, the process kills itself with SIGKILL
 * right after that step of init, the way a power cut would.
 */
const KILL_AFTER_ENV = "BUCKY_TEST_KILL_AFTER";

export interface InitResult {
  zone: { id: string; name: string };
  device: { id: string; name: string };
  home: string;
  /** False when --if-missing found a zone already there. */
  created: boolean;
  recovered: boolean;
  /** Only for a new zone: shown this once. */
  recoveryPhrase?: string;
}

export default defineBuckyCommand({
  meta: {
    name: "init",
    description: "Create a zone on this box (prints its recovery phrase once)",
    examples: [
      "bucky init --name family --device nas",
      "bucky init --recover < phrase.txt      # the same zone again, from its 24 words",
      "bucky init --if-missing                # for scripts: create only if there is none",
    ],
  },
  args: {
    name: {
      type: "string",
      valueHint: "zone",
      description: `The zone's name (default: ${DEFAULT_ZONE_NAME})`,
    },
    device: {
      type: "string",
      valueHint: "name",
      description: "This device's name (default: from the host name)",
    },
    recover: {
      type: "boolean",
      description: "Re-create a zone from its recovery phrase, read from stdin",
    },
    "if-missing": {
      type: "boolean",
      description: "If the home already has a zone, verify it and change nothing (for scripts)",
    },
  },
  async run(args, context): Promise<InitResult> {
    if (args["if-missing"] && homeHasZone(context.home)) {
      const status = await zoneStatus(context.home, context.log, {
        nowMs: context.now(),
        liveWindowMs: liveWindowMs(context.env),
      });
      const { zone, device, home } = status;
      return {
        zone,
        device: { id: device.id, name: device.name },
        home,
        created: false,
        recovered: false,
      };
    }
    return createNewZone(args, context);
  },
  text(result) {
    if (!result.created) {
      return `Zone ${result.zone.name} (${result.zone.id}) is already in ${result.home}; nothing was changed.`;
    }
    return [...createdLines(result), "", "Next: `bucky up` runs its node in the background."].join(
      "\n",
    );
  },
});

/** Creates a zone in the context's home (new, or recovered from the phrase on stdin). */
export async function createNewZone(
  args: { name?: string; device?: string; recover?: boolean },
  context: Context,
): Promise<InitResult> {
  const zoneName = requireName(checkZoneName(args.name ?? DEFAULT_ZONE_NAME), "zone name");
  const deviceName = requireName(
    checkDeviceName(args.device ?? defaultDeviceName()),
    "device name",
  );
  const phrase = args.recover
    ? readRecoveryPhrase(
        await readSecretInput("Type your 24-word recovery phrase and press Enter:\n"),
      )
    : newRecoveryPhrase();
  const killAfter = context.env[KILL_AFTER_ENV];
  const created = await createZone({
    home: context.home,
    zoneName,
    deviceName,
    entropy: phrase.entropy,
    nowMs: context.now(),
    log: context.log,
    onStep: killAfter
      ? (step: HomeStep) => step === killAfter && process.kill(process.pid, "SIGKILL")
      : undefined,
  });
  return {
    zone: { id: created.zone.id, name: created.zone.name },
    device: { id: created.device.id, name: created.device.name },
    home: context.home,
    created: true,
    recovered: args.recover === true,
    // A recovered zone's phrase is already in the user's hands: do not echo it.
    ...(args.recover ? {} : { recoveryPhrase: phrase.phrase }),
  };
}

/** What a new zone is, with its recovery phrase when it has just been made. */
export function createdLines(
  result: Pick<InitResult, "zone" | "device" | "home" | "recovered" | "recoveryPhrase">,
): string[] {
  const lines = [
    `${result.recovered ? "Recovered" : "Created"} zone ${result.zone.name} (${result.zone.id})`,
    `This device: ${result.device.name} (${result.device.id})`,
    `Home: ${result.home}`,
  ];
  if (result.recoveryPhrase) {
    lines.push(
      "",
      "Your recovery phrase. Write it down now, on paper; it is shown only this once:",
      "",
      ...phraseGrid(result.recoveryPhrase),
      "",
      "These 24 words rebuild your zone and open its backups on a new box.",
      "Anyone who has them owns your zone. Keep them offline and never type them into a website.",
    );
  }
  return lines;
}

/** The 24 words numbered in four columns, read down each column. */
function phraseGrid(phrase: string): string[] {
  const words = phrase.split(" ");
  const rows = Math.ceil(words.length / 4);
  const cell = (i: number) =>
    i < words.length ? `${String(i + 1).padStart(2)}. ${words[i]}`.padEnd(15) : "";
  return Array.from({ length: rows }, (_, row) =>
    `  ${[0, 1, 2, 3].map((col) => cell(col * rows + row)).join(" ")}`.trimEnd(),
  );
}
