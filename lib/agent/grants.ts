/**
 * Granting AI agents access, and taking it back. A grant is a token signed by this
 * device (protocol/agent-token.ts) and a record in the zone state, `agents/<name>`,
 * which every device checks a token against: revoking rewrites the record and leaves a
 * revocation no device may delete (`revoked-agents/<id>`), so the token stops working on
 * each device as soon as it syncs, for good.
 *
 * A grant never reaches further than its device could: a device grants its own data
 * only, `backup.run` only with the backup key (and for its own backups), and starting or
 * stopping apps across the zone only with the owner key, which consents in the token.
 * A person's grant (made in the control panel, for themselves) reaches no further than
 * that person: checked when it is made, and again at every call against what the person
 * is now (a removed person's agents stop; a demoted one's reach less).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { eq } from "drizzle-orm";
import {
  type AgentGrant,
  type AgentScopes,
  checkAgentName,
  checkScopes,
  claimedBy,
  isAgentName,
  OWNER_ACTIONS,
  parseDataScope,
  personReach,
  scopesHere,
  signAgentToken,
  verifyAgentToken,
  withinReach,
} from "../../protocol/agent-token.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { MAX_CLOCK_AHEAD_MS } from "../../protocol/hlc.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import { countedDevices, readZoneFacts } from "../facts/zone-facts.ts";
import type { NodeContext } from "../node/node-context.ts";
import { listInSentence } from "../sentence.ts";
import type { StateQueries } from "../store/db.ts";
import { keyGlob } from "../store/key-glob.ts";
import { node, state } from "../store/schema.ts";
import { standingOf } from "../sync/membership.ts";
import { everyMemberReads } from "../zone/readers.ts";
import { clockAheadNotes } from "../zone/reliability.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { type AuditEntry, recordCall } from "./audit.ts";
import { type AgentRates, type RefusalBudgets, withSkipped } from "./limits.ts";
import { agentStanding, grantedByRemoved, type ListedAgent } from "./standing.ts";

export const MAX_AGENT_TTL_MS = 365 * 24 * 3600_000;

/** What the zone state holds about a grant (never the token itself). */
export interface AgentRecord {
  readonly agent: string;
  readonly id: string;
  readonly issuer: DeviceId;
  readonly scopes: AgentScopes;
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly revokedAt: string | null;
  /** The person who made it for themselves, if one did. */
  readonly user?: string;
  /**
   * The rev of the last removal of `user`'s name the granting device had heard of (0:
   * none): the grant is that person's, not the next one's of the name, whatever the
   * devices' clocks said (grantedByRemoved). Absent from a grant made before.
   */
  readonly userPastRemoval?: number;
}

/** A grant as it applies on this device (see scopesHere). */
export interface GrantHere extends AgentGrant {
  /** The devices whose data the grant covers, which this device cannot serve. */
  readonly dataElsewhere: readonly string[];
}

/** Where an agent reaches this device over the network, and the certificate to pin. */
export interface McpEndpoint {
  readonly urls: readonly string[];
  readonly certificate: string;
}

const agentKey = (name: string) => `agents/${name}`;
/**
 * Every grant's record under its issuer and id too: two devices granting one name at once
 * both say the grant is held, and the later `agents/<name>` wins everywhere; this one is
 * kept, so that every device lists the other as replaced, not nothing (its token is
 * refused). Under the issuer, so no other device may write it (protocol/write-rules.ts).
 */
const grantKey = (record: AgentRecord) => `agent-grants/${record.issuer}/${record.id}`;
/**
 * Where a bucky before grantKey kept it, under its id alone: read still, but any member
 * could write over it with a record naming itself as issuer, so one under grantKey wins.
 */
const grantKeyById = (record: AgentRecord) => `agent-grants/${record.id}`;
/** Set once, never deleted (protocol/write-rules.ts): a member cannot undo a revocation. */
export const revocationKey = (id: string) => `revoked-agents/${id}`;

export function grantAgent(
  zone: NodeContext,
  request: {
    name: string;
    read?: string[];
    write?: string[];
    act?: string[];
    ttlMs: number;
    /** A person granting for themselves (the control panel says who). */
    user?: string;
  },
): { token: string; record: AgentRecord; mcp: McpEndpoint } {
  const scopes = invalid(() => {
    checkAgentName(request.name);
    return checkScopes(request, zone.deviceName);
  });
  const person = request.user === undefined ? undefined : zone.people().people.get(request.user);
  if (request.user !== undefined) {
    if (!person)
      throw new BuckyError("E_PERMISSION", `${request.user} is not a person of this zone`);
    const reach = personReach(person.role);
    const beyond = [
      ...scopes.read.filter((scope) => !reach.read.includes(scope)),
      ...scopes.write.filter((scope) => !reach.write.includes(scope)),
      ...scopes.act.filter((action) => !reach.act.includes(action)),
    ];
    if (beyond.length > 0)
      throw new BuckyError(
        "E_PERMISSION",
        `${person.name} (${person.role}) cannot let an agent do ${beyond.join(", ")}: an agent reaches no further than the person it acts for`,
        `A ${person.role}'s agent may read ${reach.read.join(", ")}${reach.act.length ? ` and do ${reach.act.join(", ")}` : ""}.`,
      );
    const held = readRecord(zone.db, request.name);
    if (held && held.user !== person.name && !held.revokedAt)
      throw new BuckyError(
        "E_EXISTS",
        `an agent named ${request.name} is someone else's`,
        "Choose another name.",
      );
  }
  if (!(request.ttlMs > 0 && request.ttlMs <= MAX_AGENT_TTL_MS))
    throw new BuckyError(
      "E_INVALID_INPUT",
      "a grant lasts from a second to a year",
      "For example: --ttl 30d",
    );
  if (scopes.read.length + scopes.write.length + scopes.act.length === 0)
    throw new BuckyError(
      "E_USAGE",
      "a grant with no scope lets the agent do nothing",
      "Give --read, --write or --act.",
    );
  for (const scope of [...scopes.read, ...scopes.write]) {
    const device = parseDataScope(scope)?.device;
    if (device !== undefined && device !== zone.deviceName)
      throw new BuckyError(
        "E_PERMISSION",
        `only ${device} can grant access to its data (${scope}); this is ${zone.deviceName}`,
        `Run \`bucky agent grant\` on ${device}; the agent then reaches those files through ${device}.`,
      );
  }
  if (scopes.act.includes("backup.run") && !existsSync(zone.zone.paths.backupKey)) {
    throw new BuckyError(
      "E_PERMISSION",
      "this device cannot run backups, so it cannot let an agent run them",
      "Grant backup.run from a device that holds the backup key, or give this one the key with `bucky backup key`.",
    );
  }
  const ownerActs = scopes.act.filter((action) => OWNER_ACTIONS.includes(action));
  if (ownerActs.length > 0 && !zone.zone.holdsOwnerKey)
    throw new BuckyError(
      "E_PERMISSION",
      `${ownerActs.join(" and ")} act on apps on every device of the zone: only a device holding the owner key can grant that`,
      "Grant it on the device where the zone was created (or recovered with `bucky init --recover`).",
    );
  const now = zone.now();
  const grant = {
    zone: zone.zoneId,
    agent: request.name,
    id: randomBytes(12).toString("base64url"),
    issuedAt: Math.floor(now / 1000),
    expiresAt: Math.floor((now + request.ttlMs) / 1000),
    scopes,
    ...(person ? { user: person.name } : {}),
  };
  const token = signAgentToken(
    grant,
    zone.zone.deviceKey,
    ownerActs.length > 0 ? zone.ownerKey() : undefined,
  );
  const record: AgentRecord = {
    agent: grant.agent,
    id: grant.id,
    issuer: zone.deviceId,
    scopes,
    issuedAt: new Date(grant.issuedAt * 1000).toISOString(),
    expiresAt: new Date(grant.expiresAt * 1000).toISOString(),
    revokedAt: null,
    ...(person ? { user: person.name, userPastRemoval: person.removedRev ?? 0 } : {}),
  };
  zone.write([
    { key: agentKey(grant.agent), value: JSON.stringify(record) },
    { key: recordKeyNow(zone, record), value: JSON.stringify(record) },
  ]);
  zone.log.info("agent granted", {
    agent: grant.agent,
    ...(person ? { user: person.name } : {}),
    read: scopes.read.join(","),
    write: scopes.write.join(","),
    act: scopes.act.join(","),
  });
  return {
    token,
    record,
    mcp: {
      urls: zone.addresses.map((address) => `${address}/mcp`),
      certificate: zone.certificatePem,
    },
  };
}

/**
 * Where a grant's record is written now: under its issuer (grantKey), unless a member of an
 * older bucky would refuse that key (lib/zone/readers.ts), and with it every later change
 * of this device: then under its id, as that bucky wrote it, until every member reads the
 * new key (keepGrantRecordsUnderIssuer moves it then).
 */
function recordKeyNow(zone: NodeContext, record: AgentRecord): string {
  const key = grantKey(record);
  return everyMemberReads(zone, { key, value: null }) ? key : grantKeyById(record);
}

/**
 * Keeps this device's grant records under their issuer (grantKey), where no other member
 * can write over them: those kept under their id alone (by a bucky before, or while a
 * member of an older bucky would refuse the new key) are written again there, as the
 * daemon starts and, while that waits for a member to be upgraded, when a member says what
 * it reads (its info) or leaves the zone. A record another member wrote under the id is not
 * this device's and stays as it is. Returns how to stop.
 */
export function keepGrantRecordsUnderIssuer(zone: NodeContext): () => void {
  moveGrantRecords(zone);
  const stops = [
    zone.onChange((changesets) => {
      if (changesets.some((changeset) => changeset.ops.some((op) => op.key.startsWith("devices/"))))
        moveGrantRecords(zone);
    }),
    zone.onRebase(() => moveGrantRecords(zone)),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}

function moveGrantRecords(zone: NodeContext): void {
  if (zone.quarantined()) return;
  const rows = zone.db.$client
    .query<{ key: string; value: string; author: string }, []>(
      "SELECT key, value, author FROM state WHERE key GLOB 'agent-grants/*' AND value IS NOT NULL",
    )
    .all();
  const held = new Set(rows.map((row) => row.key));
  const ops = rows.flatMap((row) => {
    // This device's own write (a grant it made) first: another's value is not parsed.
    if (row.author !== zone.deviceId || row.key.split("/").length !== 2) return [];
    const record = parseRecord(row.value);
    if (record?.issuer !== zone.deviceId || row.key !== grantKeyById(record)) return [];
    if (held.has(grantKey(record))) return [];
    return [{ key: grantKey(record), value: row.value }];
  });
  const [first] = ops;
  // Held back while a member would refuse the key: tried again when the members change.
  if (first && everyMemberReads(zone, first)) zone.write(ops);
}

/**
 * The grant that replaced `record` at its agent's name (granted on another device at the
 * same moment, the later one holding everywhere), or undefined while `record` holds: a
 * grant is answered only once another device holds it, and by then the other is often
 * here too; answering "held" would hand over a token every device refuses.
 */
export function replacingGrant(zone: NodeContext, record: AgentRecord): ListedAgent | undefined {
  const now = readRecord(zone.db, record.agent);
  if (!now || now.id === record.id) return undefined;
  return agentStanding(now, {
    membership: zone.membership(),
    people: zone.people(),
    nowMs: zone.now(),
  });
}

/**
 * The agents granted in the zone, each with whether its token works now; with `user`,
 * only those that person made.
 */
export function listAgents(zone: NodeContext, user?: string): ListedAgent[] {
  const standing = { membership: zone.membership(), people: zone.people(), nowMs: zone.now() };
  // `agents/*` matches `agents/x/y` too (and any member writes there): a record is an
  // agent's only at the key of its own name, which is an agent's name (the panel puts it
  // in a path), as readRecord and the token check read it; a grant's own record only at
  // the key of its id.
  const records = (
    glob: string,
    keyOf: (record: AgentRecord) => string,
    writtenBy: (record: AgentRecord, author: string) => boolean = () => true,
  ) =>
    zone.db
      .select({ key: state.key, value: state.value, author: state.author })
      .from(state)
      .where(keyGlob(glob))
      .all()
      .flatMap((row) => {
        const record = parseRecord(row.value);
        if (!record || (user !== undefined && record.user !== user)) return [];
        return isAgentName(record.agent) &&
          row.key === keyOf(record) &&
          writtenBy(record, row.author)
          ? [record]
          : [];
      });
  const current = new Map(
    records("agents/*", (record) => agentKey(record.agent)).map((r) => [r.agent, r]),
  );
  // Grants a later grant of the same name replaced, while their tokens would still run:
  // the device that made one said it was held, and its token is refused everywhere.
  // Only its issuer writes a grant's record (protocol/write-rules.ts); one another member
  // wrote before that rule, which devices that took it then still hold, is no grant either.
  const byIssuer = records("agent-grants/*", grantKey);
  const ids = new Set(byIssuer.map((record) => record.id));
  const byId = records(
    "agent-grants/*",
    grantKeyById,
    (record, author) => author === record.issuer,
  ).filter((record) => !ids.has(record.id));
  const replaced = [...byIssuer, ...byId].flatMap((record) => {
    const now = current.get(record.agent);
    return now !== undefined &&
      now.id !== record.id &&
      Date.parse(record.expiresAt) > standing.nowMs &&
      revocationOf(zone.db, record.id) === undefined
      ? [{ record, now }]
      : [];
  });
  // Each name's grant that holds first, then those it replaced, by when they were made.
  const held = [...current.values()].map((record) => {
    // Revoked by its record, or by the revocation no member can take back, as
    // checkAgentToken reads it: a member rewriting the record does not bring it back.
    const revokedAt = record.revokedAt ?? revocationOf(zone.db, record.id) ?? null;
    return agentStanding({ ...record, revokedAt }, standing);
  });
  const others = replaced
    .map(({ record, now }) => agentStanding(record, standing, now))
    .sort((a, b) => compareCodeUnits(a.issuedAt, b.issuedAt) || compareCodeUnits(a.id, b.id));
  return held
    .sort((a, b) => compareCodeUnits(a.agent, b.agent))
    .flatMap((agent) => [agent, ...others.filter((other) => other.agent === agent.agent)]);
}

/**
 * Revokes an agent; with `user`, only one that person made. Refused on a device whose
 * clock the others say is ahead of theirs (their facts, `liveWindowMs` saying who is
 * live): they refuse its changes, so the revocation would reach none of them, and the
 * agent would go on working there while this device said it was revoked.
 */
export function revokeAgent(
  zone: ZoneWriter,
  name: string,
  user: string | undefined,
  liveWindowMs: number,
): AgentRecord {
  const record = readRecord(zone.db, name);
  if (!record || (user !== undefined && record.user !== user))
    throw new BuckyError(
      "E_NOT_FOUND",
      `no agent named ${name}${user !== undefined ? ` of ${user}'s` : ""}`,
      "See them with `bucky agent list`.",
    );
  if (record.revokedAt) return record;
  const membership = zone.membership();
  const here = membership.byId.get(zone.deviceId)?.name;
  const ahead = clockAheadNotes(
    countedDevices(readZoneFacts(zone.db, membership, zone.now(), liveWindowMs)),
  ).find((note) => note.device === here);
  if (ahead)
    throw new BuckyError(
      "E_CLOCK",
      `${here}'s clock is ahead of ${listInSentence(ahead.figures.map((f) => `${f.by}'s by ${f.seconds} s`))}: they refuse its changes, so a revocation written here would reach none of them, and agent ${name} would go on working there`,
      `Revoke it from another device of the zone (\`bucky agent revoke ${name}\` there), and set ${here}'s clock right (NTP).`,
    );
  const revoked = { ...record, revokedAt: new Date(zone.now()).toISOString() };
  zone.write([
    { key: agentKey(name), value: JSON.stringify(revoked) },
    {
      key: revocationKey(record.id),
      value: JSON.stringify({ agent: name, at: revoked.revokedAt }),
    },
  ]);
  zone.log.info("agent revoked", { agent: name });
  return revoked;
}

/**
 * The grant a token carries, as it applies on this device, if it still stands here;
 * otherwise why not (E_PERMISSION).
 */
export function checkAgentToken(zone: NodeContext, token: string): GrantHere {
  let grant: AgentGrant;
  try {
    grant = verifyAgentToken(token, zone.zoneId, Math.floor(zone.now() / 1000));
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new BuckyError(
      "E_PERMISSION",
      `the agent token does not work: ${error.message}`,
      "Ask the owner for a new token (`bucky agent grant`).",
    );
  }
  if (standingOf(zone.membership(), grant.issuer) !== "member")
    throw new BuckyError(
      "E_PERMISSION",
      "the device that granted this agent is not (or no longer) in the zone",
    );
  refuseWhileClockSetBack(zone, grant.agent);
  const record = readRecord(zone.db, grant.agent);
  if (!record || record.id !== grant.id)
    throw new BuckyError(
      "E_PERMISSION",
      `agent ${grant.agent} has no grant in this zone (any more)`,
      "Ask the owner for a new token.",
    );
  // Every member reads the record, id included: a token signed by another device under
  // that name and id, or outliving the record, is not this grant (it would work while
  // `bucky agent list` shows the granting device's, narrower, or expired).
  if (record.issuer !== grant.issuer || Date.parse(record.expiresAt) !== grant.expiresAt * 1000)
    throw new BuckyError(
      "E_PERMISSION",
      `the agent token is not the grant of agent ${grant.agent} this zone holds (signed by another device, or ending at another time)`,
      "Ask the owner for a new token.",
    );
  // Nor is one whose scopes or person differ from the record's: the record is what every
  // device lists, so the token works exactly as far as `bucky agent list` says.
  if (!sameScopes(record.scopes, grant.scopes) || record.user !== grant.user)
    throw new BuckyError(
      "E_PERMISSION",
      `the agent token is not the grant of agent ${grant.agent} this zone holds (its scopes or its person differ)`,
      "Ask the owner for a new token.",
    );
  const revokedAt = record.revokedAt ?? revocationOf(zone.db, grant.id);
  if (revokedAt)
    throw new BuckyError("E_PERMISSION", `agent ${grant.agent} was revoked at ${revokedAt}`);
  const here = scopesHere(grant, { id: zone.deviceId, name: zone.deviceName });
  if (grant.user === undefined)
    return { ...grant, scopes: here.scopes, dataElsewhere: here.dataElsewhere };
  const person = zone.people().people.get(grant.user);
  if (!person)
    throw new BuckyError(
      "E_PERMISSION",
      `agent ${grant.agent} acts for ${grant.user}, who is no longer a person of this zone`,
    );
  if (
    grantedByRemoved(
      { issuedAtMs: grant.issuedAt * 1000, pastRemoval: record.userPastRemoval },
      person,
    )
  )
    throw new BuckyError(
      "E_PERMISSION",
      `agent ${grant.agent} acts for the ${grant.user} removed at ${new Date(person.removedAtMs ?? 0).toISOString()}: a removed person's agents stop for good, whoever is named ${grant.user} now`,
      `${grant.user} grants it again in the control panel (Agents), and gives the agent the new token.`,
    );
  // As far as the person reaches now, whatever they could when they granted it.
  return {
    ...grant,
    scopes: withinReach(here.scopes, personReach(person.role)),
    dataElsewhere: here.dataElsewhere,
  };
}

/**
 * A device whose clock was set back (a dead clock battery, a hand-set time) holds changes
 * dated ahead of its clock now, its own among them (its clock in the state, `node.hlc_ms`,
 * is the latest it wrote or took). Past MAX_CLOCK_AHEAD_MS it refuses every change made
 * since at the zone's time, a revocation included, and would judge expiry by its clock:
 * it honours no grant until its clock is right. (Set back two minutes or two hours, one
 * went on answering an agent revoked on another device.)
 */
function refuseWhileClockSetBack(zone: NodeContext, agent: string): void {
  const behindMs =
    (zone.db.select({ hlcMs: node.hlcMs }).from(node).get()?.hlcMs ?? 0) - zone.now();
  if (behindMs <= MAX_CLOCK_AHEAD_MS) return;
  throw new BuckyError(
    "E_CLOCK",
    `${zone.deviceName}'s clock is ${Math.round(behindMs / 1000)} s behind the zone's time (its state holds changes dated that far ahead): it can judge neither whether agent ${agent}'s grant has expired nor whether it was revoked since`,
    `Set ${zone.deviceName}'s clock right (NTP), or call another device of the zone.`,
  );
}

/** A call an agent made, as the MCP server reports it for the audit. */
export type AgentCall = Pick<AuditEntry, "tool" | "arguments" | "dryRun">;

/**
 * checkAgentToken for a call, which takes one of the agent's calls on this device from
 * `limits.rates`: a refusal (the token, or the rate) is recorded in the audit log, under
 * the caller refusedCaller names; within that name's budget in `limits.refusals`, which
 * keeps a flood of bad tokens from filling the log, or from crowding out an agent's own
 * refusals. `recorded` is told when one was, to publish it as promptly as a read.
 */
export function checkAgentCall(
  zone: NodeContext,
  token: string,
  call: AgentCall | undefined,
  limits: { readonly rates: AgentRates; readonly refusals: RefusalBudgets },
  recorded: () => void,
): GrantHere {
  const { refusals } = limits;
  try {
    const grant = checkAgentToken(zone, token);
    const tooFast = call === undefined ? undefined : limits.rates.take(grant.agent);
    if (tooFast) throw new BuckyError("E_UNAVAILABLE", tooFast);
    return grant;
  } catch (error) {
    if (!(error instanceof BuckyError) || call === undefined) throw error;
    const { agent, budget: caller } = refusedCaller(zone, claimedBy(token));
    const budget = refusals.take(caller);
    if (budget.record) {
      recordCall(
        zone,
        {
          ...call,
          agent,
          ok: false,
          outcome: withSkipped(`refused: ${error.message}`, budget.skipped),
        },
        zone.now(),
      );
      recorded();
    }
    throw error;
  }
}

/** Tokens no member signed are recorded as this, under one refusal budget. */
export const UNKNOWN_CALLER = "unknown";

/**
 * Who a refused call is recorded as (`agent`), and whose refusal budget it spends
 * (`budget`): the agent's own when the token's signer is the device its grant's record
 * names as issuer (whatever else is wrong with the token: expired, revoked, too fast).
 * Another member signing under that name (a stolen device can sign any name) is recorded
 * as `forged:<name>`, which no agent can be named, and all such tokens share one budget:
 * before, their refusals sat in that agent's log and spent its budget, keeping the
 * agent's own refusals out of the log. Tokens no member signed are "unknown".
 */
function refusedCaller(
  zone: NodeContext,
  claim: { agent: string; issuer: DeviceId } | undefined,
): { agent: string; budget: string } {
  if (!claim || !zone.membership().byId.has(claim.issuer))
    return { agent: UNKNOWN_CALLER, budget: UNKNOWN_CALLER };
  if (readRecord(zone.db, claim.agent)?.issuer === claim.issuer)
    return { agent: claim.agent, budget: claim.agent };
  return { agent: `forged:${claim.agent}`, budget: "forged:" };
}

function revocationOf(db: StateQueries, id: string): string | undefined {
  const row = db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, revocationKey(id)))
    .get();
  if (!row?.value) return undefined;
  const value: unknown = JSON.parse(row.value);
  const at =
    typeof value === "object" && value !== null ? (value as { at?: unknown }).at : undefined;
  return typeof at === "string" ? at : "some time";
}

function readRecord(db: StateQueries, name: string): AgentRecord | undefined {
  const row = db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, agentKey(name)))
    .get();
  return parseRecord(row?.value ?? null);
}

/** Whether two grants' scopes name the same things, whatever their order. */
function sameScopes(a: AgentScopes, b: AgentScopes): boolean {
  const same = (x: readonly string[], y: readonly string[]) =>
    x.length === y.length && [...x].sort().join("\n") === [...y].sort().join("\n");
  return same(a.read, b.read) && same(a.write, b.write) && same(a.act, b.act);
}

/** A record as any member may have written it: used only when it has a record's shape. */
function parseRecord(value: string | null): AgentRecord | undefined {
  if (value === null) return undefined;
  const record = JSON.parse(value) as Partial<AgentRecord> | null;
  const lists = record?.scopes;
  return typeof record?.agent === "string" &&
    typeof record.id === "string" &&
    typeof record.issuer === "string" &&
    typeof record.expiresAt === "string" &&
    (record.revokedAt === null || typeof record.revokedAt === "string") &&
    (record.user === undefined || typeof record.user === "string") &&
    (record.userPastRemoval === undefined || Number.isSafeInteger(record.userPastRemoval)) &&
    Array.isArray(lists?.read) &&
    Array.isArray(lists.write) &&
    Array.isArray(lists.act)
    ? (record as AgentRecord)
    : undefined;
}

function invalid<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof ProtocolError) throw new BuckyError("E_INVALID_INPUT", error.message);
    throw error;
  }
}
