/**
 * What the panel adds to an action's notice when the local API says no other device holds
 * the write yet: the API waited for one, as it does for the CLI (NodeContext's
 * untilHeldElsewhere and untilHeldBy), and answered anyway. Said done with nothing more, a
 * revocation, a removal or a stop the person then lost with this device would look made.
 */
import type { Messages } from "../i18n/messages.ts";

/** The note for an answer of the local API, if it says the write is not held yet. */
export function notHeldYetNote(answer: unknown, t: Messages): string | undefined {
  if (typeof answer !== "object" || answer === null) return undefined;
  const said = answer as { heldElsewhere?: unknown; heardByInviter?: unknown; inviter?: unknown };
  if (said.heldElsewhere === "not yet") return t.held.notYet;
  // An invitation's revocation waits for its issuer alone: only it admits with it.
  if (said.heardByInviter === false && typeof said.inviter === "string")
    return t.held.notByIssuer({ device: said.inviter });
  return undefined;
}
