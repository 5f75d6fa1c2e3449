/**
 * Capability tokens for AI agents: a compact JWS signed by a device of the zone, naming
 * the agent and exactly what it may do. Scopes only ever narrow:
 *
 *   read   status            the zone's status and devices
 *          apps              the apps and their state
 *          objects           named data, by id
 *          state | state:<prefix>   keys of the zone state
 *          data | data/<dir>        files in the user's data directory
 *   write  data | data/<dir>        files written there
 *   act    app.start, app.stop, backup.run
 *
 * A token is checked against the zone state too (lib/agent): its grant must still be
 * recorded there, not revoked, so a revocation reaches every device as it syncs.
 */
import type { SigningKey } from "./ed25519.ts";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { check } from "./errors.ts";
import {
  type DeviceId,
  deviceIdFromPublicKey,
  parseDeviceId,
  publicKeyOfId,
  type ZoneId,
} from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { isRecord, requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";

export const AGENT_TOKEN_TYPE = "bucky-agent/1";
export const AGENT_ACTIONS = ["app.start", "app.stop", "backup.run"] as const;
export type AgentAction = (typeof AGENT_ACTIONS)[number];

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
}

const AGENT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
const READ_SCOPE = /^(status|apps|objects|state(:[^\s]{1,200})?|data(\/[^\s]{1,200})?)$/;
const WRITE_SCOPE = /^data(\/[^\s]{1,200})?$/;

/** Checks an agent's name: lowercase letters, digits and dashes. */
export function checkAgentName(name: string): void {
  check(
    AGENT_NAME.test(name),
    `${JSON.stringify(name)} is not an agent name (lowercase letters, digits, dashes)`,
  );
}

/** Checks scopes as given (on the command line), normalizing data paths. */
export function checkScopes(scopes: {
  read?: readonly string[];
  write?: readonly string[];
  act?: readonly string[];
}): AgentScopes {
  const read = (scopes.read ?? []).map((scope) => normalizeDataScope(scope.trim()));
  const write = (scopes.write ?? []).map((scope) => normalizeDataScope(scope.trim()));
  for (const scope of read)
    check(
      READ_SCOPE.test(scope),
      `${scope} is not a read scope (status, apps, objects, state, state:<prefix>, data, data/<dir>)`,
    );
  for (const scope of write)
    check(WRITE_SCOPE.test(scope), `${scope} is not a write scope (data, data/<dir>)`);
  const act = (scopes.act ?? []).map((action) => action.trim());
  for (const action of act)
    check(
      (AGENT_ACTIONS as readonly string[]).includes(action),
      `${action} is not an action (${AGENT_ACTIONS.join(", ")})`,
    );
  return { read: unique(read), write: unique(write), act: unique(act) as AgentAction[] };
}

/** `data/a/../b/` → `data/b`: a data scope names a directory, plainly. */
function normalizeDataScope(scope: string): string {
  if (scope !== "data" && !scope.startsWith("data/")) return scope;
  const parts: string[] = [];
  for (const part of scope.slice("data".length).split("/")) {
    if (part === "" || part === ".") continue;
    check(part !== "..", `${scope} climbs out of the data directory`);
    parts.push(part);
  }
  return ["data", ...parts].join("/");
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)].sort();
}

export function signAgentToken(grant: Omit<AgentGrant, "issuer">, device: SigningKey): string {
  checkAgentName(grant.agent);
  return signJws(
    { alg: "EdDSA", typ: AGENT_TOKEN_TYPE, kid: deviceIdFromPublicKey(device.publicKey) },
    {
      zone: grant.zone,
      sub: grant.agent,
      jti: grant.id,
      iat: grant.issuedAt,
      exp: grant.expiresAt,
      scopes: grant.scopes,
    },
    device,
  );
}

/** Checks a token's signature, zone and expiry; whether its grant stands is the caller's. */
export function verifyAgentToken(token: string, zone: ZoneId, nowSeconds: number): AgentGrant {
  const decoded = decodeJws(token.trim());
  check(decoded.header.typ === AGENT_TOKEN_TYPE, "not an agent token");
  const issuer = parseDeviceId(String(decoded.header.kid));
  check(issuer !== undefined, "the token's signer is not a device id");
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(issuer, "device") as Uint8Array));
  const payload = requireRecord(decoded.payload, "agent token");
  requireOnlyFields(payload, ["zone", "sub", "jti", "iat", "exp", "scopes"], "agent token");
  check(payload.zone === zone, "the agent token is for another zone");
  const agent = requireString(payload.sub, "agent name", 32);
  checkAgentName(agent);
  const expiresAt = requireUint(payload.exp, "agent token exp");
  check(expiresAt > nowSeconds, "the agent token has expired");
  check(isRecord(payload.scopes), "the agent token has no scopes");
  const raw = payload.scopes as Record<string, unknown>;
  const list = (value: unknown) => (Array.isArray(value) ? value.map(String) : []);
  return {
    zone,
    issuer,
    agent,
    id: requireString(payload.jti, "agent token id", 64),
    issuedAt: requireUint(payload.iat, "agent token iat"),
    expiresAt,
    scopes: checkScopes({ read: list(raw.read), write: list(raw.write), act: list(raw.act) }),
  };
}

/** Whether `scopes` let an agent read state key `key`. */
export function mayReadState(scopes: AgentScopes, key: string): boolean {
  return scopes.read.some(
    (scope) => scope === "state" || (scope.startsWith("state:") && key.startsWith(scope.slice(6))),
  );
}

/**
 * Whether `scopes` cover the data path `path` (relative to the data directory, already
 * normalized: no `.` or `..`) for reading or writing.
 */
export function mayUseData(scopes: AgentScopes, mode: "read" | "write", path: string): boolean {
  const full = path === "" ? "data" : `data/${path}`;
  return scopes[mode].some(
    (scope) => scope === "data" || full === scope || full.startsWith(`${scope}/`),
  );
}

/** Whether data directory `dir` holds anything `scopes` let an agent read. */
export function mayLookInto(scopes: AgentScopes, dir: string): boolean {
  return (
    mayUseData(scopes, "read", dir) || scopes.read.some((scope) => scope.startsWith(`data/${dir}/`))
  );
}
