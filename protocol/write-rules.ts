/**
 * Who may write which key of the zone state. Every device applies these rules to every
 * changeset, its own included, so no device can write what the others would refuse.
 *
 * - `boot/config` holds the zone document; `devices/<n>/doc` a device document and
 *   `devices/<n>/revoked` a revocation: each only as a value the owner key signed, for
 *   that zone and that name. These membership keys are never deleted.
 * - `devices/<n>/info` and `nodes/<n>/…` belong to device n alone.
 * - `revoked-agents/<grant id>` revokes an AI agent's grant: any member may write one, no
 *   one may delete it, so a revocation cannot be undone behind the owner's back.
 * - `agent-grants/<issuer id>/<grant id>` keeps a grant's record under its issuer and id
 *   (lib/agent/grants.ts): only that device writes it, the record naming it as issuer, and
 *   no one deletes it. Written by another member, it listed a grant "replaced" that no
 *   device made; and under the id alone (`agent-grants/<grant id>`, as a bucky before this
 *   one wrote, still taken from it under the same rule) another member could write over
 *   the genuine record with one naming itself as issuer.
 * - `users/<u>/account/<rev>` holds an account signed by the owner, and
 *   `users/<u>/credentials/<nonce>` a credential only the gateway named by its
 *   owner-signed enrollment may record, while it works (protocol/accounts.ts), and
 *   `users/<u>/password-changes/<id>` a change signed by the password it replaces
 *   (protocol/password-change.ts); none is ever deleted.
 *   Other keys under `users/` (the apps' specs) stay open to any member.
 * - `system/backup/key-epochs/<name>` holds a key epoch of the zone's backups, only as a
 *   record the owner key signed for that zone, whose name it is (protocol/backup/key-epoch.ts);
 *   never deleted. `system/public-budget` and `system/files-budget` hold the zone's
 *   budgets for public and stored files only as a record the owner key signed for that
 *   budget when it was written (protocol/zone-budget.ts); never deleted. Other keys under
 *   `system/` stay open to any member.
 * - Other keys under `devices/` are reserved; every other key is open to any member.
 *
 * Two rules read more than the op, and are checked beside these: a changeset dated at or
 * before its author's previous one is refused (lib/sync/ingest.ts), since rules above read
 * its date; and a credential, recorded once, is not written again with another value
 * (lib/state/held-rules.ts).
 *
 * A bucky before some of these rules refuses keys they admit (WRITE_RULES_LEVEL,
 * levelNeededFor): a device publishes the level it reads in its `devices/<n>/info`, and
 * nothing of a kind a member in good standing would refuse is written (lib/zone/readers.ts).
 */

import { userWriteProblem } from "./accounts.ts";
import { epochOfKeyEpochName, keyEpochName, readKeyEpoch } from "./backup/key-epoch.ts";
import type { Op } from "./changeset.ts";
import { verifyDeviceDocument, verifyRevocation, verifyZoneDocument } from "./documents.ts";
import { fromBase64url } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import type { DeviceId, ZoneId } from "./ids.ts";
import { passwordChangeWriteProblem } from "./password-change.ts";
import { isRecord } from "./shape.ts";
import { stateKeys } from "./state-key.ts";
import { budgetProblem, isBudgetKey } from "./zone-budget.ts";

/** The device writing: its name and its id. */
export interface Writer {
  readonly name: string;
  readonly id: DeviceId;
}

/**
 * The level of write rules this bucky reads: each level admits keys a bucky of the level
 * before refused (levelNeededFor). A device's `devices/<n>/info` says its level; one whose
 * info says none is of level 0, from before levels were said. A rule that comes to take a
 * key this level refuses raises it, and names the key in levelNeededFor.
 */
export const WRITE_RULES_LEVEL = 1;

/**
 * The lowest level of write rules that takes `op`: a device of a lower level refuses it as
 * reserved, and every later changeset of its author waits at that device behind it. Only
 * keys an older bucky REFUSES are here; a rule that only narrowed what is taken (a
 * credential's link, a budget's or a key epoch's signature) needs no level, since older
 * devices take all the newer ones do. Level 1, said from the same commit on:
 * - `agent-grants/<issuer id>/<grant id>`: a bucky from "agent-grants/<id>: only the
 *   grant's issuer writes its record" until "a grant's record is kept under its issuer"
 *   took only `agent-grants/<grant id>` (one before either took both, the key unruled).
 * - `users/<u>/credentials/<nonce>/<gateway>` (an enrollment for several gateways): a
 *   bucky before "enrollment links at any gateway" took only `credentials/<nonce>`.
 * (Key epochs named by number and root came to main with the epochs themselves, and
 * password changes and budgets fall where an older bucky took any key.)
 */
export function levelNeededFor(op: Op): number {
  const { key } = op;
  if (key.startsWith("agent-grants/")) return key.split("/").length === 3 ? 1 : 0;
  if (key.startsWith("users/")) {
    const [, , field, , gateway, ...rest] = key.split("/");
    return field === "credentials" && gateway !== undefined && rest.length === 0 ? 1 : 0;
  }
  return 0;
}

/**
 * Where every key levelNeededFor gives a level lies, as SQLite GLOB patterns (`*` any run
 * of characters, `/` included): what a zone's state is searched for when a device asks to
 * join saying a lower level (lib/zone/readers.ts). A key that comes to need a level adds
 * its pattern here.
 */
export const LEVELED_KEY_PATTERNS: readonly string[] = [
  "agent-grants/*/*",
  "users/*/credentials/*/*",
];

/** The top segments any rule above names; every key under another is open to any member. */
const RULED_TOPS = new Set([
  "boot",
  "nodes",
  "users",
  "revoked-agents",
  "agent-grants",
  "devices",
  "system",
]);
const RULED_INITIALS = new Set([...RULED_TOPS].map((top) => top.charCodeAt(0)));

/**
 * Why the device `author` may not write `op`, or undefined when it may; `atMs` is the
 * time its changeset is dated (a credential counts only written while its link worked).
 * `level`, below this bucky's, refuses as reserved what a bucky of that level did (a
 * test's stand-in for an older bucky).
 */
export function writeProblem(
  op: Op,
  author: Writer,
  zone: ZoneId,
  atMs?: number,
  level = WRITE_RULES_LEVEL,
): string | undefined {
  // Most keys written (apps' own) fall under no rule: known from the top segment alone,
  // and for most of them from its first letter.
  if (!RULED_INITIALS.has(op.key.charCodeAt(0))) return undefined;
  const slash = op.key.indexOf("/");
  if (!RULED_TOPS.has(slash < 0 ? op.key : op.key.slice(0, slash))) return undefined;
  if (level < WRITE_RULES_LEVEL && levelNeededFor(op) > level) return `${op.key} is reserved`;
  const [top, name, field, ...rest] = op.key.split("/");
  if (op.key === stateKeys.zoneDocument) {
    return signedValueProblem(op, "the zone document", (jws) => verifyZoneDocument(jws, zone));
  }
  if (top === "nodes") {
    if (name === undefined) return `${op.key} is reserved`;
    return name === author.name ? undefined : `${op.key} belongs to device ${name}`;
  }
  if (top === "users" && field === "password-changes")
    return passwordChangeWriteProblem(op.key, op.value, zone);
  if (top === "users" && (field === "account" || field === "credentials"))
    return userWriteProblem(op.key, op.value, author.id, zone, atMs);
  if (top === "system") {
    if (isBudgetKey(op.key)) return budgetProblem(op.key, op, zone, atMs);
    return name === "backup" && field === "key-epochs"
      ? keyEpochProblem(op, rest, zone)
      : undefined;
  }
  if (top === "revoked-agents") {
    if (name === undefined || field !== undefined) return `${op.key} is reserved`;
    return op.value === null ? `${op.key} cannot be deleted: a revocation stands` : undefined;
  }
  if (top === "agent-grants") {
    if (name === undefined || rest.length > 0) return `${op.key} is reserved`;
    if (field === undefined) return agentGrantProblem(op, name, author);
    return name === author.id
      ? agentGrantProblem(op, field, author)
      : `${op.key} belongs to device ${name}, which granted it`;
  }
  if (top !== "devices") return undefined;
  if (name === undefined || field === undefined || rest.length > 0) return `${op.key} is reserved`;
  switch (field) {
    case "doc":
      return signedValueProblem(op, "a device document", (jws) => {
        if (verifyDeviceDocument(jws, zone).name !== name)
          throw new ProtocolError(`it is not the document of ${name}`);
      });
    case "revoked":
      return signedValueProblem(op, "a revocation", (jws) => {
        if (verifyRevocation(jws, zone).name !== name)
          throw new ProtocolError(`it does not revoke ${name}`);
      });
    case "info":
      return name === author.name ? undefined : `${op.key} belongs to device ${name}`;
    default:
      return `${op.key} is reserved`;
  }
}

/** A grant's own record: its id the key's, its issuer the device writing it. */
function agentGrantProblem(op: Op, id: string, author: Writer): string | undefined {
  if (op.value === null) return `${op.key} cannot be deleted: a grant's record stands`;
  let record: unknown;
  try {
    record = JSON.parse(op.value);
  } catch (error) {
    if (error instanceof SyntaxError) return `${op.key} must hold a grant's record`;
    throw error;
  }
  if (!isRecord(record) || record.id !== id) return `${op.key} must hold the record of grant ${id}`;
  return record.issuer === author.id
    ? undefined
    : `${op.key} belongs to the device that granted it, which its record names as issuer`;
}

function keyEpochProblem(op: Op, rest: readonly string[], zone: ZoneId): string | undefined {
  const [name, ...more] = rest;
  if (name === undefined || more.length > 0 || epochOfKeyEpochName(name) === undefined)
    return `${op.key} is reserved`;
  if (op.value === null) return `${op.key} cannot be deleted: a key epoch stands`;
  try {
    const text: unknown = JSON.parse(op.value);
    const bytes = typeof text === "string" ? fromBase64url(text) : undefined;
    if (!bytes) return `${op.key} must hold a key epoch record in base64url`;
    if (keyEpochName(readKeyEpoch(bytes, zone)) !== name)
      return `${op.key} holds another epoch's record`;
    return undefined;
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError)
      return `${op.key} must hold a key epoch signed by the zone owner: ${error.message}`;
    throw error;
  }
}

function signedValueProblem(
  op: Op,
  what: string,
  verify: (jws: string) => unknown,
): string | undefined {
  if (op.value === null) return `${op.key} cannot be deleted`;
  try {
    const jws: unknown = JSON.parse(op.value);
    if (typeof jws !== "string") return `${op.key} must hold ${what} as a JWS string`;
    verify(jws);
    return undefined;
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) {
      return `${op.key} must hold ${what} signed by the zone owner: ${error.message}`;
    }
    throw error;
  }
}
