/**
 * The audit log of AI agents' calls, as each device publishes it to the zone state: in
 * batches, each one state value under a key only that device may write,
 *
 *   nodes/<device>/agent-log/<ms of its last entry, 13 digits>-<its last entry's local id, 15 digits>
 *
 * holding `{"v": 1, "entries": [{at, agent, tool, arguments, dryRun, ok, outcome}, …]}`
 * (`at` in ms since the epoch), oldest first. Keys sort by time; the highest last id of
 * the device's own keys says how far it has published. An entry is trimmed before it is published (long
 * arguments and outcomes cut), and a batch stays under MAX_AUDIT_BATCH_BYTES, well under
 * a state value's limit.
 */
import { MAX_VALUE_BYTES } from "./changeset.ts";
import { check } from "./errors.ts";
import { checkDeviceName } from "./names.ts";
import { isRecord, requireOnlyFields, requireString, requireUint } from "./shape.ts";

export const AUDIT_BATCH_VERSION = 1;
export const MAX_AUDIT_BATCH_BYTES = 60 * 1024;
const MAX_BATCH_ENTRIES = 1_000;
const MAX_AGENT_LENGTH = 32;
const MAX_TOOL_LENGTH = 64;
/** What a published entry keeps of a call's outcome and of each argument. */
const MAX_OUTCOME_LENGTH = 300;
const MAX_ARGUMENT_LENGTH = 200;
const MAX_ARGUMENTS_LENGTH = 1_000;

export interface AuditRecord {
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly agent: string;
  readonly tool: string;
  readonly arguments: Record<string, unknown>;
  readonly dryRun: boolean;
  readonly ok: boolean;
  readonly outcome: string;
}

/** Where device `device`'s batches are kept. */
export function auditLogPrefix(device: string): string {
  return `nodes/${device}/agent-log/`;
}

export function auditBatchKey(device: string, lastAtMs: number, lastId: number): string {
  return `${auditLogPrefix(device)}${String(lastAtMs).padStart(13, "0")}-${String(lastId).padStart(15, "0")}`;
}

/** The key that sorts before every batch whose last entry is at `ms` or later. */
export function auditKeyBefore(device: string, ms: number): string {
  return `${auditLogPrefix(device)}${String(Math.max(0, ms)).padStart(13, "0")}`;
}

export function parseAuditBatchKey(
  key: string,
): { device: string; lastAtMs: number; lastId: number } | undefined {
  const match = /^nodes\/([^/]+)\/agent-log\/(\d{13})-(\d{15})$/.exec(key);
  if (!match || !checkDeviceName(match[1] as string).ok) return undefined;
  return { device: match[1] as string, lastAtMs: Number(match[2]), lastId: Number(match[3]) };
}

/** An entry as it is published: long arguments and outcome cut short. */
export function trimAuditRecord(record: AuditRecord): AuditRecord {
  const cut = (text: string, length: number) =>
    text.length > length ? `${text.slice(0, length - 1)}…` : text;
  let args: Record<string, unknown> = Object.fromEntries(
    Object.entries(record.arguments).map(([name, value]) => [
      cut(name, MAX_ARGUMENT_LENGTH),
      typeof value === "string" ? cut(value, MAX_ARGUMENT_LENGTH) : value,
    ]),
  );
  const text = JSON.stringify(args);
  if (text.length > MAX_ARGUMENTS_LENGTH) args = { cut: cut(text, MAX_ARGUMENTS_LENGTH) };
  return {
    at: record.at,
    agent: cut(record.agent, MAX_AGENT_LENGTH),
    tool: cut(record.tool, MAX_TOOL_LENGTH),
    arguments: args,
    dryRun: record.dryRun,
    ok: record.ok,
    outcome: cut(record.outcome, MAX_OUTCOME_LENGTH),
  };
}

/**
 * Packs entries (oldest first, each with its local id) into batches of at most
 * MAX_AUDIT_BATCH_BYTES, up to `maxBatches`: each batch's key and value, how many entries it
 * holds and the id of its last. Entries that do
 * not fit wait for the next time.
 */
export function packAuditBatches(
  device: string,
  entries: readonly (AuditRecord & { readonly id: number })[],
  maxBatches: number,
): { key: string; value: string; count: number; lastId: number }[] {
  const batches: { key: string; value: string; count: number; lastId: number }[] = [];
  let current: { texts: string[]; bytes: number; last?: { at: number; id: number } } = {
    texts: [],
    bytes: 0,
  };
  const overhead = Buffer.byteLength(encodeBatch([]));
  const close = () => {
    if (!current.last) return;
    batches.push({
      key: auditBatchKey(device, current.last.at, current.last.id),
      value: `{"v":${AUDIT_BATCH_VERSION},"entries":[${current.texts.join(",")}]}`,
      count: current.texts.length,
      lastId: current.last.id,
    });
    current = { texts: [], bytes: 0 };
  };
  for (const entry of entries) {
    const { id, ...record } = entry;
    const text = JSON.stringify(trimAuditRecord(record));
    const bytes = Buffer.byteLength(text) + 1;
    if (
      current.texts.length >= MAX_BATCH_ENTRIES ||
      overhead + current.bytes + bytes > MAX_AUDIT_BATCH_BYTES
    ) {
      close();
      if (batches.length >= maxBatches) break;
    }
    current.texts.push(text);
    current.bytes += bytes;
    current.last = { at: record.at, id };
  }
  if (batches.length < maxBatches) close();
  return batches;
}

function encodeBatch(entries: readonly AuditRecord[]): string {
  return JSON.stringify({ v: AUDIT_BATCH_VERSION, entries });
}

/** A published batch's entries, each checked; throws ProtocolError on anything else. */
export function decodeAuditBatch(value: string): AuditRecord[] {
  check(value.length <= MAX_VALUE_BYTES, "an audit batch is too large");
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    check(false, "an audit batch is not JSON");
  }
  check(isRecord(parsed), "an audit batch must be an object");
  requireOnlyFields(parsed, ["v", "entries"], "audit batch");
  check(parsed.v === AUDIT_BATCH_VERSION, `audit batch version ${String(parsed.v)} is unknown`);
  check(Array.isArray(parsed.entries), "an audit batch has a list of entries");
  check(parsed.entries.length <= MAX_BATCH_ENTRIES, "an audit batch has too many entries");
  return parsed.entries.map((entry: unknown) => {
    check(isRecord(entry), "an audit entry must be an object");
    requireOnlyFields(
      entry,
      ["at", "agent", "tool", "arguments", "dryRun", "ok", "outcome"],
      "audit entry",
    );
    check(isRecord(entry.arguments), "an audit entry's arguments must be an object");
    check(typeof entry.dryRun === "boolean", "an audit entry's dryRun must be true or false");
    check(typeof entry.ok === "boolean", "an audit entry's ok must be true or false");
    return {
      at: requireUint(entry.at, "audit entry time"),
      agent: requireString(entry.agent, "audit entry agent", MAX_AGENT_LENGTH),
      tool: requireString(entry.tool, "audit entry tool", MAX_TOOL_LENGTH),
      arguments: entry.arguments,
      dryRun: entry.dryRun,
      ok: entry.ok,
      outcome: requireString(entry.outcome, "audit entry outcome", MAX_OUTCOME_LENGTH),
    };
  });
}
