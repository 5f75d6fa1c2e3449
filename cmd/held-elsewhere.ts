/**
 * What a command whose write must outlive this device shares: the one `--no-wait` flag that
 * answers at once instead of waiting for another device to hold the write, and what it
 * says when no other device held it within NodeContext.untilHeldElsewhere's bound (the
 * write is safe only while this device runs, so the person must know to keep it running).
 */
import type { HeldAnswer } from "../lib/node/held-wait.ts";

/**
 * The `--no-wait` flag (`wait`, true unless negated), passed on with pathAsked
 * (lib/node/held-wait.ts). `alsoUntil` names what else the command waits for (an app to
 * run), which `--no-wait` skips too.
 */
export function waitArgs(alsoUntil?: string) {
  return {
    wait: {
      type: "boolean",
      default: true,
      description: `Wait ${alsoUntil ? `until ${alsoUntil}, and ` : ""}until another device holds the write, 3 s at most (--no-wait: answer at once; the write is on this device alone until it syncs)`,
    },
  } as const;
}

/** The lines to add to the text (none once held, nor when not waited for); `write` names it. */
export function notHeldYetNote(held: Partial<HeldAnswer>, write: string): string[] {
  if (held.heldElsewhere !== "not yet" || held.waited === false) return [];
  return [
    `No other device holds the ${write} yet (none said so within 3 s): keep this device running until another has synced it, or the ${write} is lost with it.`,
  ];
}

/**
 * What a command answered without waiting says on stderr (its stdout is the result alone):
 * the write may be lost with this device until another syncs it.
 */
export const NOT_WAITED_NOTE =
  "Not waited for another device to hold the write (--no-wait): it is on this device alone until one syncs it.";

/** Whether a command's result says its write was not waited for. */
export function notWaited(result: object): boolean {
  return (result as { waited?: unknown }).waited === false;
}
