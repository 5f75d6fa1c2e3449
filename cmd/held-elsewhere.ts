/**
 * What a command whose write must outlive this device says when no other device held it
 * within NodeContext.untilHeldElsewhere's bound: the write is safe only while this device
 * runs, so the person must know to keep it running.
 */
import type { HeldElsewhere } from "../lib/node/node-context.ts";

/** The lines to add to the text (none once held); `write` names it ("revocation"). */
export function notHeldYetNote(heldElsewhere: HeldElsewhere, write: string): string[] {
  if (heldElsewhere !== "not yet") return [];
  return [
    `No other device holds the ${write} yet (none said so within 3 s): keep this device running until another has synced it, or the ${write} is lost with it.`,
  ];
}
