/** What `bucky app stop|remove|share` add when no other device holds the change yet. */
import type { HeldElsewhere } from "../../lib/node/node-context.ts";

export function notHeldYet(heldElsewhere: HeldElsewhere, what: string): string[] {
  return heldElsewhere === "not yet"
    ? [
        `No other device holds the ${what} yet (none said so within 3 s): keep this device running until another has synced it, or the ${what} is lost with it.`,
      ]
    : [];
}
