/**
 * Granting AI agents access, and taking it back. A grant is a token signed by this
 * device (protocol/agent-token.ts) and a record in the zone state, `agents/<name>`,
 * which every device checks a token against: revoking rewrites the record, so the token
 * stops working on each device as soon as it syncs. A grant never gives more than the
 * device that signs it can do: only a device holding the backup key may grant backups.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { eq, like } from "drizzle-orm";
import {
  type AgentGrant,
  type AgentScopes,
  checkAgentName,
  checkScopes,
  signAgentToken,
  verifyAgentToken,
} from "../../protocol/agent-token.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { StateQueries } from "../store/db.ts";
import { state } from "../store/schema.ts";
import { standingOf } from "../sync/membership.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";

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
}

const agentKey = (name: string) => `agents/${name}`;

export function grantAgent(
  zone: NodeContext,
  request: { name: string; read?: string[]; write?: string[]; act?: string[]; ttlMs: number },
): { token: string; record: AgentRecord } {
  const scopes = invalid(() => {
    checkAgentName(request.name);
    return checkScopes(request);
  });
  if (!(request.ttlMs > 0 && request.ttlMs <= MAX_AGENT_TTL_MS))
    throw new BuckyError(
      "E_INVALID_INPUT",
      "a grant lasts from a second to a year",
      "For example: --ttl 30d",
    );
  if (scopes.act.includes("backup.run") && !existsSync(zone.zone.paths.backupKey)) {
    throw new BuckyError(
      "E_PERMISSION",
      "this device cannot run backups, so it cannot let an agent run them",
      "Grant backup.run from a device that holds the backup key, or give this one the key with `bucky backup key`.",
    );
  }
  if (scopes.read.length + scopes.write.length + scopes.act.length === 0)
    throw new BuckyError(
      "E_USAGE",
      "a grant with no scope lets the agent do nothing",
      "Give --read, --write or --act.",
    );
  const now = zone.now();
  const grant = {
    zone: zone.zoneId,
    agent: request.name,
    id: randomBytes(12).toString("base64url"),
    issuedAt: Math.floor(now / 1000),
    expiresAt: Math.floor((now + request.ttlMs) / 1000),
    scopes,
  };
  const token = signAgentToken(grant, zone.zone.deviceKey);
  const record: AgentRecord = {
    agent: grant.agent,
    id: grant.id,
    issuer: zone.deviceId,
    scopes,
    issuedAt: new Date(grant.issuedAt * 1000).toISOString(),
    expiresAt: new Date(grant.expiresAt * 1000).toISOString(),
    revokedAt: null,
  };
  zone.write([{ key: agentKey(grant.agent), value: JSON.stringify(record) }]);
  zone.log.info("agent granted", {
    agent: grant.agent,
    read: scopes.read.join(","),
    write: scopes.write.join(","),
    act: scopes.act.join(","),
  });
  return { token, record };
}

export function listAgents(db: StateQueries): AgentRecord[] {
  return db
    .select({ value: state.value })
    .from(state)
    .where(like(state.key, "agents/%"))
    .all()
    .flatMap((row) => (row.value ? [JSON.parse(row.value) as AgentRecord] : []))
    .sort((a, b) => a.agent.localeCompare(b.agent));
}

export function revokeAgent(zone: ZoneWriter, name: string): AgentRecord {
  const record = readRecord(zone.db, name);
  if (!record)
    throw new BuckyError(
      "E_NOT_FOUND",
      `no agent named ${name}`,
      "See them with `bucky agent list`.",
    );
  if (record.revokedAt) return record;
  const revoked = { ...record, revokedAt: new Date(zone.now()).toISOString() };
  zone.write([{ key: agentKey(name), value: JSON.stringify(revoked) }]);
  zone.log.info("agent revoked", { agent: name });
  return revoked;
}

/** The grant a token carries, if it still stands here; otherwise why not (E_PERMISSION). */
export function checkAgentToken(zone: ZoneWriter, token: string): AgentGrant {
  let grant: AgentGrant;
  try {
    grant = verifyAgentToken(token, zone.zoneId, Math.floor(zone.now() / 1000));
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new BuckyError("E_PERMISSION", `the agent token does not work: ${error.message}`);
  }
  const record = readRecord(zone.db, grant.agent);
  if (!record || record.id !== grant.id)
    throw new BuckyError(
      "E_PERMISSION",
      `agent ${grant.agent} has no grant in this zone (any more)`,
      "Ask the owner for a new token.",
    );
  if (record.revokedAt)
    throw new BuckyError("E_PERMISSION", `agent ${grant.agent} was revoked at ${record.revokedAt}`);
  if (standingOf(zone.membership(), grant.issuer) !== "member")
    throw new BuckyError(
      "E_PERMISSION",
      "the device that granted this agent is no longer in the zone",
    );
  return grant;
}

function readRecord(db: StateQueries, name: string): AgentRecord | undefined {
  const row = db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, agentKey(name)))
    .get();
  return row?.value ? (JSON.parse(row.value) as AgentRecord) : undefined;
}

function invalid<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof ProtocolError) throw new BuckyError("E_INVALID_INPUT", error.message);
    throw error;
  }
}
