/** `bucky state repair`: rebuild the zone state from its signed changesets, daemon stopped. */
import { repairHome } from "../../lib/zone/repair.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "repair",
    description:
      "Rebuild this device's zone state from its signed changesets (with the daemon stopped)",
    examples: ["bucky state repair && bucky daemon"],
  },
  args: {},
  run: (_args, context) => repairHome(context.home, context.log, context.now),
  text(result) {
    const changesets = count(result.changesets, "signed changeset");
    if (!result.repaired) return `The zone state matches its ${changesets}: nothing to repair.`;
    const dropped = result.dropped.length;
    const restored = result.restored;
    return [
      `Found: ${result.found.join("; ")}`,
      ...(restored.length > 0
        ? [
            `Put back ${count(restored.length, "changeset")} of this device's own from ${restored[0]?.from}'s copy.`,
          ]
        : []),
      `Rebuilt the zone state (${count(result.keys, "key")}) from ${changesets}.`,
      ...(dropped > 0
        ? [
            `Dropped ${count(dropped, "damaged changeset")} of other devices: they come back from them once the daemon syncs.`,
          ]
        : []),
    ].join("\n");
  },
});

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
