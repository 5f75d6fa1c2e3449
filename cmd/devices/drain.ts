/** `bucky devices drain <name>`: move everything off a device, so it can be revoked or switched off. */

import { FILES_BUDGET_KEY } from "../../lib/ndn/stored-files.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { DrainProgress } from "../../lib/replica/drain.ts";
import { anythingStillOn } from "../../lib/replica/still-on.ts";
import { formatBytes } from "../../lib/units.ts";
import { defineBuckyCommand } from "../command.ts";
import { plural } from "../text.ts";

const DRAIN_TIMEOUT_MS = 10 * 60_000;
const POLL_MS = 500;

export default defineBuckyCommand({
  meta: {
    name: "drain",
    description:
      "Move every app and every copy of app data off a device, so nothing is left only there",
    examples: [
      "bucky devices drain laptop",
      "bucky devices drain laptop --cancel     # it may hold apps again",
    ],
  },
  args: {
    name: { type: "positional", required: true, description: "The device to drain" },
    cancel: { type: "boolean", description: "Stop draining it: it may hold apps and copies again" },
    wait: {
      type: "boolean",
      default: true,
      description: "Wait until it is drained, at most ten minutes (--no-wait: return at once)",
    },
  },
  async run(args, context) {
    const path = `/v1/devices/${encodeURIComponent(args.name)}/drain`;
    let progress = await requestDaemon<DrainProgress>(context.home, "POST", path, {
      cancel: args.cancel === true,
    });
    const startedAt = Date.now();
    let said = "";
    // Apps and their data move by themselves; what else is still on it waits on the owner.
    while (
      !args.cancel &&
      args.wait &&
      !progress.done &&
      moving(progress) &&
      Date.now() - startedAt < DRAIN_TIMEOUT_MS
    ) {
      const now = left(progress);
      if (now !== said && !context.json) process.stderr.write(`draining ${args.name}: ${now}\n`);
      said = now;
      await Bun.sleep(POLL_MS);
      progress = await requestDaemon<DrainProgress>(context.home, "GET", path);
    }
    return progress;
  },
  text: (p) =>
    !p.draining
      ? `${p.device} is not being drained: it may hold apps and copies of their data again.`
      : p.done
        ? `${p.device} is drained: nothing of the zone is only on it. Revoke it with \`bucky devices revoke ${p.device}\`, or switch it off.`
        : stillOnIt(p),
  exitCode: (p) => (p.draining && !p.done ? 3 : 0),
});

/** Stored files listed one by one at most; the rest are counted. */
const FILES_LISTED = 10;

function moving(p: DrainProgress): boolean {
  return (
    p.holds.length > 0 ||
    p.runs.length > 0 ||
    p.catchingUp.length > 0 ||
    p.files.some((file) => file.withinBudget)
  );
}

/** What is still on it, a line each with what to do; the apps' moves first. */
function stillOnIt(p: DrainProgress): string {
  const moving = left(p);
  const lines = [
    moving === "finishing" && anythingStillOn(p) ? "" : `still ${moving}`,
    ...p.conflicts.map(
      (copy) =>
        `the conflict copy ${copy.name} of ${copy.app} (${copy.bytes} bytes, kept ${copy.at}) is only on it: bring it back with \`bucky app restore-copy ${copy.app} ${copy.name}\` (it moves off with the app), or delete it on purpose with \`bucky app delete-copy ${copy.app} ${copy.name}\` on ${p.device}`,
    ),
    ...p.conflictsNotListed.map(
      ({ app, count }) =>
        `and ${plural(count, "older conflict copy", "older conflict copies")} of ${app}, only on it: listed here once those above are restored or deleted`,
    ),
    ...onlyFilesLines(p),
    ...p.backupVia.map(
      (target) =>
        `the backup target ${target} is reached through it (the others back up through ${p.device}): remove it (\`bucky backup target rm ${target}\`) and add it again on a device that stays (\`bucky backup target add ${target} <url>\` there)`,
    ),
    p.onlyOwnerKey
      ? `no other device holds the owner key (it admits and revokes devices, approves gateways, renews the zone CA, and only another device holding it can revoke ${p.device}): give it to one that stays with \`bucky zone owner-key < phrase.txt\` there`
      : "",
    p.onlyBackupKey
      ? "no other device holds the backup key (no other device could back up): give it to one that stays with `bucky backup key < phrase.txt` there"
      : "",
    p.onlyGateway
      ? `it is the zone's only gateway (people reach the apps through it${p.onlyRelay ? ", devices behind NAT the others" : ""}): make another device one with \`bucky gateway enable\` there`
      : p.onlyRelay
        ? "it is the only relay of the zone (devices behind NAT are reached through it): make another device a gateway (`bucky gateway enable --relay-only` there), or add a relay outside the zone (`bucky relay add <ticket>`)"
        : "",
  ].filter(Boolean);
  return [
    `${p.device} is being drained; it is not done, do not revoke it yet. Still on it:`,
    ...lines.map((line) => `  - ${line}`),
    `See it again with \`bucky devices drain ${p.device}\`.`,
  ].join("\n");
}

/** Its stored files past the budget that no other device holds: those wait on the owner. */
function onlyFilesLines(p: DrainProgress): string[] {
  const past = p.files.filter((file) => !file.withinBudget);
  const lines = past.slice(0, FILES_LISTED).map((file) => {
    const what = `${file.name ? `${file.name} (${file.id})` : file.id}${file.apps.length > 0 ? `, stored by ${file.apps.join(", ")}` : ""}, ${file.bytes === null ? "of no size said" : formatBytes(file.bytes)}`;
    return `the stored file ${what}, is only on it, past the zone's budget for stored files, which no other device copies: raise the budget (\`bucky state set ${FILES_BUDGET_KEY} <bytes>\` on a device holding the owner key), or let it go (\`bucky rm ${file.id}\`; an app's, by the app)`;
  });
  if (past.length > FILES_LISTED)
    lines.push(`and ${past.length - FILES_LISTED} more stored files past the budget, only on it`);
  return lines;
}

function left(p: DrainProgress): string {
  const copying = p.files.filter((file) => file.withinBudget).length;
  const parts = [
    p.holds.length > 0 ? `holds the data of ${p.holds.join(", ")}` : "",
    p.runs.length > 0 ? `runs ${p.runs.join(", ")}` : "",
    p.catchingUp.length > 0 ? `other devices are catching up with ${p.catchingUp.join(", ")}` : "",
    copying > 0
      ? `other devices are copying ${copying} of its stored files (a nearly full one takes none)`
      : "",
    p.pinned.length > 0
      ? `${p.pinned.join(", ")} ${p.pinned.length === 1 ? "is" : "are"} pinned to it (move with \`bucky app move <app> --to <device>\`)`
      : "",
  ].filter(Boolean);
  return parts.length > 0 ? parts.join("; ") : "finishing";
}
