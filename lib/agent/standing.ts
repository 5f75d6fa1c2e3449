/**
 * Whether an agent's grant works, as every device checks its token (lib/agent/grants.ts,
 * checkAgentToken), said where the agents are listed: a grant stops on its own when the
 * device that signed it leaves the zone or the person it acts for does, and the list
 * would otherwise still show it active while every call it makes is refused.
 */

import type { MemberStanding, Membership } from "../sync/membership.ts";
import { standingOf } from "../sync/membership.ts";
import type { Directory, Person } from "../users/directory.ts";
import type { AgentRecord } from "./grants.ts";

/**
 * Why an agent's token no longer works, by code (the panel words each in its language):
 * the device that granted it was revoked, is quarantined, or is not a device of the zone
 * (`granter-gone`).
 */
export type AgentStop =
  | "revoked"
  | "expired"
  | "granter-revoked"
  | "granter-quarantined"
  | "granter-gone"
  | "person-gone"
  | "replaced";

/** An agent as `bucky agent list` and the panel show it. */
export interface ListedAgent extends AgentRecord {
  /** The device that granted it, by name (its id when the zone does not know it). */
  readonly grantedBy: string;
  /** Whether its token works now. */
  readonly working: boolean;
  /** When it does not: why, in words, and what to do. */
  readonly stopped?: { readonly why: AgentStop; readonly message: string; readonly hint: string };
}

/**
 * `record` with whether its token works now, on any device (the same state, the same
 * answer). `current`: the grant the agent's name holds now, when `record` is another one
 * (lib/agent/grants.ts, listAgents).
 */
export function agentStanding(
  record: AgentRecord,
  zone: { membership: Membership; people: Directory; nowMs: number },
  current?: AgentRecord,
): ListedAgent {
  const granter = zone.membership.byId.get(record.issuer);
  const grantedBy = granter?.name ?? record.issuer;
  const again =
    record.user !== undefined
      ? `${record.user} grants it again in the control panel (Agents), and gives the agent the new token.`
      : `Grant it again on a device of the zone (\`bucky agent grant ${record.agent} …\`) and give the agent the new token.`;
  const stopped = (why: AgentStop, message: string, hint: string): ListedAgent => ({
    ...record,
    grantedBy,
    working: false,
    stopped: { why, message, hint },
  });
  if (record.revokedAt)
    return stopped(
      "revoked",
      `revoked at ${record.revokedAt}`,
      "Nothing to do, unless you want it back: then grant it again.",
    );
  if (Date.parse(record.expiresAt) <= zone.nowMs)
    return stopped("expired", `expired at ${record.expiresAt}`, again);
  if (current && current.id !== record.id) {
    const by = zone.membership.byId.get(current.issuer)?.name ?? current.issuer;
    return stopped(
      "replaced",
      `replaced by the grant of ${record.agent} made through ${by} at ${current.issuedAt} (two grants of one name: the later holds), so every call with its token is refused`,
      `Give the agent the token of the grant that holds, or grant it again under another name (\`bucky agent grant <other name> …\`).`,
    );
  }
  const granterStanding = standingOf(zone.membership, record.issuer);
  if (granterStanding !== "member") {
    const [why, which] = GRANTER_GONE[granterStanding];
    return stopped(
      why,
      `granted by ${grantedBy}, which ${which}: every call it makes is refused`,
      again,
    );
  }
  const person = record.user === undefined ? undefined : zone.people.people.get(record.user);
  if (record.user !== undefined && !person)
    return stopped(
      "person-gone",
      `acts for ${record.user}, who is no longer a person of this zone: every call it makes is refused`,
      "Nothing to do: a removed person's agents stop.",
    );
  if (
    person &&
    grantedByRemoved(
      { issuedAtMs: Date.parse(record.issuedAt), pastRemoval: record.userPastRemoval },
      person,
    )
  )
    return stopped(
      "person-gone",
      `acts for the ${person.name} removed at ${new Date(person.removedAtMs ?? 0).toISOString()}, not for the one added since: every call it makes is refused`,
      "Nothing to do: a removed person's agents stop, whoever has the name later.",
    );
  return { ...record, grantedBy, working: true };
}

/** How a granting device that no longer stands is said, by its standing. */
const GRANTER_GONE: Record<Exclude<MemberStanding, "member">, [AgentStop, string]> = {
  revoked: ["granter-revoked", "was revoked from the zone"],
  quarantined: [
    "granter-quarantined",
    "is quarantined (it signed two different changes under one number)",
  ],
  unknown: ["granter-gone", "is not (or no longer) a device of this zone"],
};

/**
 * Whether a grant for `person`'s name was made by (or for) someone of that name removed
 * since: a removal after the last one its granting device had heard of (`pastRemoval`),
 * or, for a grant made before grants said it, a removal at or after its time (both signed
 * to the second). It stays stopped, whoever has the name now.
 */
export function grantedByRemoved(
  grant: { readonly issuedAtMs: number; readonly pastRemoval?: number | undefined },
  person: Person,
): boolean {
  if (grant.pastRemoval !== undefined) return (person.removedRev ?? 0) > grant.pastRemoval;
  return person.removedAtMs !== undefined && grant.issuedAtMs <= person.removedAtMs;
}
