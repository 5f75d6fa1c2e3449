/**
 * Adding, resetting and removing people: each is an account record the owner key signs
 * (so it is done on a device holding it, by the CLI or by an admin in the panel there),
 * written at the account's next rev. Adding and resetting also give an enrollment link.
 */
import {
  checkUserName,
  isRole,
  OWNER_USER,
  type Role,
  signAccount,
  type UserName,
  userKeys,
} from "../../protocol/accounts.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { type AccountActor, checkAccountChange } from "./account-rights.ts";
import type { Person } from "./directory.ts";
import { type EnrollmentLink, enrollmentLink, planEnrollment } from "./enrollment.ts";
import { recordSignOutEverywhere } from "./signouts.ts";

/**
 * How many revs past the next a removal is written: another device would have to change
 * the person that many times without hearing of the removal to write over it. (A record
 * naming the rev it follows would close it for good; accounts carry none yet.)
 */
const REMOVAL_REVS_AHEAD = 1_000;

export interface PersonView {
  readonly name: string;
  readonly role: Role;
  /** How they sign in now: passkey, password (none yet: they have not opened their link). */
  readonly signsInWith: readonly ("passkey" | "password")[];
  /**
   * Their link was used at two gateways at once: it made no way in (for them nor for
   * whoever else had it, maybe a thief). Not the same as a link never opened: they need a
   * new one (`bucky user reset`), and may want to know who else had it.
   */
  readonly linkUsedTwice: boolean;
  /** Their password was changed two ways at once: no password of theirs counts (Person). */
  readonly passwordChangedTwoWays: boolean;
  readonly since: string | null;
}

export interface Enrolled {
  readonly user: string;
  readonly role: Role;
  readonly enrollment: EnrollmentLink;
}

export function listPeople(node: NodeContext): PersonView[] {
  return [...node.people().people.values()]
    .sort((a, b) =>
      a.name === OWNER_USER ? -1 : b.name === OWNER_USER ? 1 : compareCodeUnits(a.name, b.name),
    )
    .map(view);
}

export function addPerson(
  node: NodeContext,
  request: { name: string; role?: string; ttlMs: number },
  actor: AccountActor,
): Enrolled {
  const checked = checkUserName(request.name);
  if (!checked.ok)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `"${request.name}" cannot be a person's name: ${checked.reason}`,
      "Names are lowercase letters, digits and hyphens, like ann or kid-2.",
    );
  const role = request.role ?? "member";
  if (!isRole(role) || role === "owner")
    throw new BuckyError(
      "E_INVALID_INPUT",
      `"${role}" is not a role`,
      "A person is an admin, a member or a child: --role admin|member|child",
    );
  checkAccountChange(actor, { kind: "add", role });
  if (node.people().people.has(checked.name))
    throw new BuckyError(
      "E_EXISTS",
      `${checked.name} is already a person of this zone`,
      `To give them a new way in: bucky user reset ${checked.name}`,
    );
  const plan = planEnrollment(node, request.ttlMs);
  const rev = nextRev(node, checked.name);
  write(node, checked.name, rev, role, rev);
  node.log.info("person added", { user: checked.name, role });
  return { user: checked.name, role, enrollment: enrollmentLink(node, plan, checked.name, rev) };
}

/** A new enrollment link: every credential and session the person had stops working. */
export function resetPerson(
  node: NodeContext,
  name: string,
  ttlMs: number,
  actor: AccountActor,
): Enrolled {
  const person = existing(node, name);
  checkAccountChange(actor, { kind: "reset", user: person.name, role: person.role });
  const plan = planEnrollment(node, ttlMs);
  const rev = nextRev(node, person.name);
  write(node, person.name, rev, person.role, rev);
  node.log.info("person reset", { user: person.name });
  return {
    user: person.name,
    role: person.role,
    enrollment: enrollmentLink(node, plan, person.name, rev),
  };
}

/** Removes a person: their sessions end on every gateway as it syncs. */
export function removePerson(
  node: NodeContext,
  name: string,
  actor: AccountActor,
): { user: string; removed: true } {
  const person = existing(node, name);
  if (person.name === OWNER_USER)
    throw new BuckyError("E_PERMISSION", "the owner cannot be removed from their own zone");
  checkAccountChange(actor, { kind: "remove", user: person.name, role: person.role });
  // Far past the next: resets written on another device holding the owner key, before it
  // heard of the removal, take the revs after the one both saw, and one at the removal's
  // would share its key, the later clock keeping one. Kept as a reset, it let the person
  // back in. Any change made after hearing of the removal comes after it.
  const rev = nextRev(node, person.name) + REMOVAL_REVS_AHEAD;
  write(node, person.name, rev, null, person.creds);
  node.log.info("person removed", { user: person.name });
  return { user: person.name, removed: true };
}

/**
 * Ends every session `name` opened until now, on every gateway as it syncs: for a person
 * who lost a phone or a laptop signed in. Their credentials stay: they sign in again.
 */
export function signOutPersonEverywhere(
  node: NodeContext,
  name: string,
  actor: AccountActor,
): { user: string; signedOutUntil: string } {
  const person = existing(node, name);
  checkAccountChange(actor, { kind: "sign-out", user: person.name, role: person.role });
  const until = recordSignOutEverywhere(node, person.name);
  return { user: person.name, signedOutUntil: new Date(until * 1000).toISOString() };
}

/**
 * Who asks, from the person a panel request acts for (none: the CLI, on a device that
 * holds the owner key). Their role is the zone's now, not the session's: one demoted or
 * removed since signing in asks as what they are.
 */
export function accountActor(node: NodeContext, actingFor: string | undefined): AccountActor {
  if (actingFor === undefined) return { kind: "owner-key" };
  const person = node.people().people.get(actingFor);
  if (!person)
    throw new BuckyError("E_PERMISSION", `${actingFor} is no longer a person of this zone`);
  return { kind: "person", user: person.name, role: person.role };
}

function existing(node: NodeContext, name: string): Person {
  const person = node.people().people.get(name);
  if (!person)
    throw new BuckyError(
      "E_NOT_FOUND",
      `this zone has no person named ${name}`,
      "See them with `bucky user list`.",
    );
  return person;
}

function nextRev(node: NodeContext, name: UserName): number {
  return (node.people().revs.get(name) ?? 0) + 1;
}

function write(
  node: NodeContext,
  user: UserName,
  rev: number,
  role: Role | null,
  creds: number,
): void {
  const jws = signAccount(
    {
      zone: node.zoneId,
      user,
      rev,
      role,
      creds,
      issuedAt: Math.floor(node.now() / 1000),
    },
    node.ownerKey(),
  );
  node.write([{ key: userKeys.account(user, rev), value: JSON.stringify(jws) }]);
}

function view(person: Person): PersonView {
  return {
    name: person.name,
    role: person.role,
    signsInWith: [...new Set([...person.credentials.values()].map((c) => c.kind))].sort(),
    linkUsedTwice: person.linkUsedTwice === true,
    passwordChangedTwoWays: person.passwordChangedTwoWays === true,
    since: person.changedAtMs ? new Date(person.changedAtMs).toISOString() : null,
  };
}
