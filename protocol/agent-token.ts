/**
 * Capability tokens for AI agents: a compact JWS signed by a device of the zone, naming
 * the agent and exactly what it may do. A grant never reaches further than its issuer
 * could, so scopes come in three kinds:
 *
 *   read   status            the zone's status and devices
 *          apps              the apps and their state
 *          objects           named data, by id
 *          state | state:<prefix>   keys of the zone state
 *          data@<device> | data@<device>/<dir>   files in that device's data directory
 *   write  data@<device> | data@<device>/<dir>   files written there
 *   act    backup.run        a backup by the device that granted it
 *          app.start, app.stop   apps anywhere in the zone: owner-level
 *
 * A data scope names its device, and only that device's own grant covers its data; an
 * owner-level action needs the owner key's consent, a second signature inside the token.
 * Version 2 (`bucky-agent/2`); version 1 named no device in its data scopes and let any
 * member sign any action, so it is refused. A grant a person made for themselves (in the
 * control panel) is a `bucky-agent/3`: version 2 and the person's name, and it never
 * reaches further than that person can (personReach), whatever its scopes say.
 *
 * A token is checked against the zone state too (lib/agent): its grant must still be
 * recorded there, not revoked, so a revocation reaches every device as it syncs.
 */

import { checkUserName, type Role, type UserName } from "./accounts.ts";
import type { SigningKey } from "./ed25519.ts";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { check } from "./errors.ts";
import {
  type DeviceId,
  deviceIdFromPublicKey,
  parseDeviceId,
  publicKeyOfId,
  type ZoneId,
  zoneIdFromPublicKey,
} from "./ids.ts";
import { type DecodedJws, decodeJws, signJws, verifyJws } from "./jws.ts";
import { checkDeviceName } from "./names.ts";
import { isRecord, requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";
import { statePrefixProblem } from "./state-key.ts";

export const AGENT_TOKEN_TYPE = "bucky-agent/2";
/** A grant a person made for themselves: version 2 and `user`. */
export const PERSON_AGENT_TOKEN_TYPE = "bucky-agent/3";
/** The first version: refused (see above). */
const AGENT_TOKEN_TYPE_V1 = "bucky-agent/1";
/** The owner key's consent to a grant's owner-level actions. */
export const AGENT_CONSENT_TYPE = "bucky-agent-consent/1";

export const AGENT_ACTIONS = ["app.start", "app.stop", "backup.run"] as const;
export type AgentAction = (typeof AGENT_ACTIONS)[number];
/** Actions on the whole zone: only with the owner key's consent. */
export const OWNER_ACTIONS: readonly AgentAction[] = ["app.start", "app.stop"];

/** The most scopes of one kind a token carries, and the longest one. */
const MAX_SCOPES = 32;
const MAX_SCOPE_LENGTH = 256;
const MAX_ID_LENGTH = 64;

export interface AgentScopes {
  readonly read: readonly string[];
  readonly write: readonly string[];
  readonly act: readonly AgentAction[];
}

export interface AgentGrant {
  readonly zone: ZoneId;
  /** The device that signed it. */
  readonly issuer: DeviceId;
  readonly agent: string;
  /** Unique per grant: revoking a name revokes this id. */
  readonly id: string;
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly scopes: AgentScopes;
  /** The person who made it for themselves (in the control panel), if one did. */
  readonly user?: UserName;
}

/**
 * The furthest a person's agent reaches: what that person sees and does in the panel.
 * Everyone sees their apps; the owner and the admins the zone's status too, and start,
 * stop and back up as they can there.
 */
export function personReach(role: Role): AgentScopes {
  return role === "owner" || role === "admin"
    ? { read: ["apps", "status"], write: [], act: ["app.start", "app.stop", "backup.run"] }
    : { read: ["apps"], write: [], act: [] };
}

/** The scopes of `scopes` that lie within `reach`. */
export function withinReach(scopes: AgentScopes, reach: AgentScopes): AgentScopes {
  return {
    read: scopes.read.filter((scope) => reach.read.includes(scope)),
    write: scopes.write.filter((scope) => reach.write.includes(scope)),
    act: scopes.act.filter((action) => reach.act.includes(action)),
  };
}

const AGENT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** A directory inside a data directory, as a scope names it: plain parts, no dots. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const DATA_DIR_PART = /^(?!\.\.?$)[^/\\%\s\0-\x1f\x7f]{1,255}$/;

/** Whether `name` is an agent's name: lowercase letters, digits and dashes. */
export function isAgentName(name: unknown): name is string {
  return typeof name === "string" && AGENT_NAME.test(name);
}

/** Checks an agent's name: lowercase letters, digits and dashes. */
export function checkAgentName(name: string): void {
  check(
    isAgentName(name),
    `${JSON.stringify(name)} is not an agent name (lowercase letters, digits, dashes)`,
  );
}

/** A data scope's parts: the device whose data it covers, and the directory ("" for all). */
export function parseDataScope(scope: string): { device: string; dir: string } | undefined {
  const match = /^data@([^/]+)(?:\/(.+))?$/.exec(scope);
  if (!match || !checkDeviceName(match[1] as string).ok) return undefined;
  const dir = match[2] ?? "";
  if (dir !== "" && !dir.split("/").every((part) => DATA_DIR_PART.test(part))) return undefined;
  return { device: match[1] as string, dir };
}

/** Why `scope` is not a canonical read scope, or undefined when it is one. */
function readScopeProblem(scope: string): string | undefined {
  if (["status", "apps", "objects", "state"].includes(scope)) return undefined;
  if (scope.startsWith("state:")) {
    const prefix = scope.slice("state:".length);
    const problem = prefix === "" ? "the prefix is empty (say state)" : statePrefixProblem(prefix);
    return problem ? `${scope}: ${problem}` : undefined;
  }
  return parseDataScope(scope)
    ? undefined
    : `${scope} is not a read scope (status, apps, objects, state, state:<prefix>, data, data/<dir>, data@<device>/<dir>)`;
}

function writeScopeProblem(scope: string): string | undefined {
  return parseDataScope(scope)
    ? undefined
    : `${scope} is not a write scope (data, data/<dir>, data@<device>/<dir>)`;
}

/**
 * Checks scopes as given on the command line, on device `here`: `data` and `data/<dir>`
 * name this device's data (`data@here/<dir>`), and a directory is normalized
 * (`data/a/./b/` → `data@here/a/b`).
 */
export function checkScopes(
  scopes: { read?: readonly string[]; write?: readonly string[]; act?: readonly string[] },
  here: string,
): AgentScopes {
  const read = (scopes.read ?? []).map((scope) => normalizeDataScope(scope.trim(), here));
  const write = (scopes.write ?? []).map((scope) => normalizeDataScope(scope.trim(), here));
  for (const scope of read) {
    const problem = readScopeProblem(scope);
    check(problem === undefined, problem as string);
  }
  for (const scope of write) {
    const problem = writeScopeProblem(scope);
    check(problem === undefined, problem as string);
  }
  const act = (scopes.act ?? []).map((action) => action.trim());
  for (const action of act)
    check(
      (AGENT_ACTIONS as readonly string[]).includes(action),
      `${action} is not an action (${AGENT_ACTIONS.join(", ")})`,
    );
  return { read: unique(read), write: unique(write), act: unique(act) as AgentAction[] };
}

/** `data/a/../b/` → refused; `data/a/./b/` → `data@here/a/b`: a data scope names a directory, plainly. */
function normalizeDataScope(scope: string, here: string): string {
  const match = /^data(?:@([^/]*))?(\/.*)?$/.exec(scope);
  if (!match) return scope;
  const parts: string[] = [];
  for (const part of (match[2] ?? "").split("/")) {
    if (part === "" || part === ".") continue;
    check(part !== "..", `${scope} climbs out of the data directory`);
    parts.push(part);
  }
  return [`data@${match[1] ?? here}`, ...parts].join("/");
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)].sort();
}

/**
 * Signs a grant with the issuing device's key. Owner-level actions need `owner`, the
 * owner key, which signs its consent to them into the token.
 */
export function signAgentToken(
  grant: Omit<AgentGrant, "issuer">,
  device: SigningKey,
  owner?: SigningKey,
): string {
  checkAgentName(grant.agent);
  const issuer = deviceIdFromPublicKey(device.publicKey);
  const ownerActs = grant.scopes.act.filter((action) => OWNER_ACTIONS.includes(action));
  let consent: string | undefined;
  if (ownerActs.length > 0) {
    check(owner !== undefined, `${ownerActs.join(", ")} need the owner key's consent`);
    check(zoneIdFromPublicKey(owner.publicKey) === grant.zone, "that is not this zone's owner key");
    consent = signJws(
      { alg: "EdDSA", typ: AGENT_CONSENT_TYPE, kid: grant.zone },
      {
        zone: grant.zone,
        dev: issuer,
        sub: grant.agent,
        jti: grant.id,
        exp: grant.expiresAt,
        act: ownerActs,
      },
      owner,
    );
  }
  return signJws(
    { alg: "EdDSA", typ: grant.user ? PERSON_AGENT_TOKEN_TYPE : AGENT_TOKEN_TYPE, kid: issuer },
    {
      zone: grant.zone,
      sub: grant.agent,
      jti: grant.id,
      iat: grant.issuedAt,
      exp: grant.expiresAt,
      scopes: grant.scopes,
      ...(grant.user ? { user: grant.user } : {}),
      ...(consent ? { consent } : {}),
    },
    device,
  );
}

/**
 * Checks a token's signatures (its device's, and the owner's consent to any owner-level
 * action), zone, expiry and scopes; whether its grant stands is the caller's.
 */
export function verifyAgentToken(token: string, zone: ZoneId, nowSeconds: number): AgentGrant {
  const { decoded, issuer } = verifiedSignature(token);
  const payload = requireRecord(decoded.payload, "agent token");
  const person = decoded.header.typ === PERSON_AGENT_TOKEN_TYPE;
  requireOnlyFields(
    payload,
    ["zone", "sub", "jti", "iat", "exp", "scopes", "consent", ...(person ? ["user"] : [])],
    "agent token",
  );
  let user: UserName | undefined;
  if (person) {
    const named = checkUserName(requireString(payload.user, "agent token user", 64), true);
    check(named.ok, "the agent token's person is not a name");
    user = named.name;
  }
  check(payload.zone === zone, "the agent token is for another zone");
  const agent = requireString(payload.sub, "agent name", 32);
  checkAgentName(agent);
  const id = requireString(payload.jti, "agent token id", MAX_ID_LENGTH);
  const expiresAt = requireUint(payload.exp, "agent token exp");
  check(expiresAt > nowSeconds, "the agent token has expired");
  const scopes = canonicalScopes(payload.scopes);
  const ownerActs = scopes.act.filter((action) => OWNER_ACTIONS.includes(action));
  if (ownerActs.length > 0) {
    check(
      typeof payload.consent === "string",
      `${ownerActs.join(", ")} act on the whole zone, and the owner key did not consent`,
    );
    checkConsent(payload.consent, { zone, issuer, agent, id, expiresAt, acts: ownerActs });
  }
  return {
    zone,
    issuer,
    agent,
    id,
    issuedAt: requireUint(payload.iat, "agent token iat"),
    expiresAt,
    scopes,
    ...(user ? { user } : {}),
  };
}

/**
 * Who a token says it is, when its device's signature holds (however else it fails): the
 * agent and the device that signed. For recording refused calls; undefined when the
 * token does not even carry a good signature.
 */
export function claimedBy(token: string): { agent: string; issuer: DeviceId } | undefined {
  try {
    const { decoded, issuer } = verifiedSignature(token);
    const agent = (decoded.payload as { sub?: unknown } | null)?.sub;
    return typeof agent === "string" && AGENT_NAME.test(agent) ? { agent, issuer } : undefined;
  } catch {
    return undefined;
  }
}

function verifiedSignature(token: string): { decoded: DecodedJws; issuer: DeviceId } {
  const decoded = decodeJws(token.trim());
  check(
    decoded.header.typ !== AGENT_TOKEN_TYPE_V1,
    "the agent token is of a version whose grants did not hold (bucky-agent/1): grant the agent again",
  );
  check(
    decoded.header.typ === AGENT_TOKEN_TYPE || decoded.header.typ === PERSON_AGENT_TOKEN_TYPE,
    "not an agent token",
  );
  const issuer = parseDeviceId(String(decoded.header.kid));
  check(issuer !== undefined, "the token's signer is not a device id");
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(issuer, "device") as Uint8Array));
  return { decoded, issuer };
}

/** The scopes a token carries, which must be exactly in their canonical form. */
function canonicalScopes(value: unknown): AgentScopes {
  check(isRecord(value), "the agent token has no scopes");
  requireOnlyFields(value, ["read", "write", "act"], "agent token scopes");
  const list = (
    field: "read" | "write" | "act",
    problem: (scope: string) => string | undefined,
  ) => {
    const items = value[field] ?? [];
    check(Array.isArray(items), `the token's ${field} scopes must be a list`);
    check(items.length <= MAX_SCOPES, `a token has at most ${MAX_SCOPES} ${field} scopes`);
    const scopes = items.map((item) => requireString(item, `a ${field} scope`, MAX_SCOPE_LENGTH));
    for (const scope of scopes) {
      const why = problem(scope);
      check(why === undefined, why as string);
    }
    check(
      JSON.stringify(scopes) === JSON.stringify(unique(scopes)),
      `the token's ${field} scopes are not in order`,
    );
    return scopes;
  };
  return {
    read: list("read", readScopeProblem),
    write: list("write", writeScopeProblem),
    act: list("act", (action) =>
      (AGENT_ACTIONS as readonly string[]).includes(action)
        ? undefined
        : `${action} is not an action`,
    ) as AgentAction[],
  };
}

/** Throws unless `consent` is the owner key's to exactly this grant's owner-level actions. */
function checkConsent(
  consent: string,
  grant: {
    zone: ZoneId;
    issuer: DeviceId;
    agent: string;
    id: string;
    expiresAt: number;
    acts: readonly AgentAction[];
  },
): void {
  const decoded = decodeJws(consent);
  check(decoded.header.typ === AGENT_CONSENT_TYPE, "the owner's consent is not one");
  check(decoded.header.kid === grant.zone, "the consent is not by this zone's owner");
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(grant.zone, "zone") as Uint8Array));
  const payload = requireRecord(decoded.payload, "owner's consent");
  requireOnlyFields(payload, ["zone", "dev", "sub", "jti", "exp", "act"], "owner's consent");
  check(
    payload.zone === grant.zone &&
      payload.dev === grant.issuer &&
      payload.sub === grant.agent &&
      payload.jti === grant.id &&
      payload.exp === grant.expiresAt,
    "the owner's consent is for another grant",
  );
  const acts = Array.isArray(payload.act) ? payload.act : [];
  check(
    grant.acts.every((action) => acts.includes(action)),
    "the owner did not consent to every owner-level action of the token",
  );
}

/** Where a grant applies: the device whose tools are serving the agent. */
export interface Here {
  readonly id: DeviceId;
  readonly name: string;
}

/**
 * The grant's scopes as they apply on device `here`, in the form the tools check (`data`,
 * `data/<dir>`): its data scopes only when they name `here` and `here` granted them, and
 * `backup.run` only on the device that granted it. `dataElsewhere` names the devices
 * whose data the grant covers instead (for saying where to go).
 */
export function scopesHere(
  grant: AgentGrant,
  here: Here,
): { scopes: AgentScopes; dataElsewhere: string[] } {
  const own = grant.issuer === here.id;
  const elsewhere = new Set<string>();
  const local = (scopes: readonly string[]) =>
    scopes.flatMap((scope) => {
      const data = parseDataScope(scope);
      if (!data) return [scope];
      if (!own || data.device !== here.name) {
        elsewhere.add(data.device);
        return [];
      }
      return [data.dir === "" ? "data" : `data/${data.dir}`];
    });
  return {
    scopes: {
      read: local(grant.scopes.read),
      write: local(grant.scopes.write),
      act: grant.scopes.act.filter((action) => action !== "backup.run" || own),
    },
    dataElsewhere: [...elsewhere].sort(),
  };
}

/** Whether `scopes` (as they apply here) let an agent read state key `key`. */
export function mayReadState(scopes: AgentScopes, key: string): boolean {
  return scopes.read.some(
    (scope) => scope === "state" || (scope.startsWith("state:") && key.startsWith(scope.slice(6))),
  );
}

/**
 * Whether `scopes` (as they apply here) cover the data path `path` (relative to the data
 * directory, canonical: no `.` or `..`) for reading or writing.
 */
export function mayUseData(scopes: AgentScopes, mode: "read" | "write", path: string): boolean {
  const full = path === "" ? "data" : `data/${path}`;
  return scopes[mode].some(
    (scope) => scope === "data" || full === scope || full.startsWith(`${scope}/`),
  );
}

/** Whether data directory `dir` ("" for the data directory) holds anything `scopes` let an agent read. */
export function mayLookInto(scopes: AgentScopes, dir: string): boolean {
  const inside = dir === "" ? "data/" : `data/${dir}/`;
  return mayUseData(scopes, "read", dir) || scopes.read.some((scope) => scope.startsWith(inside));
}
