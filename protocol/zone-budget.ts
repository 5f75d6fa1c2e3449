/**
 * The zone's budgets, each the owner's to set:
 * - `system/public-budget`: how many bytes of public objects every gateway copies and
 *   serves. A member that could write it set it to 0 (nothing served any more) or to more
 *   than any gateway's disk.
 * - `system/files-budget`: how many bytes of stored files every device keeps a copy of.
 *   A member that could write it set it to 0, and every file stored in the zone lived on
 *   one device again.
 * So a budget's value is a record the owner key signs, for that budget alone, which every
 * device checks on apply (protocol/write-rules.ts), and again where it reads it:
 *
 *   value  = JSON { "bytes": n, "signed": base64url(record) }
 *   record = CBOR [body: bstr, signature: bstr]   (protocol/signed-record.ts)
 *   signature by the owner key over "bucky public budget v1\n" (or "bucky files budget
 *     v1\n") ‖ body
 *   body   = { v: 1, zone, bytes: n, at: ms since the epoch it was signed }
 *
 * A budget is written when it is signed: its changeset's clock may be no earlier than its
 * signing (a moment's slack) and no later than the clock a changeset may be ahead of a
 * device's (hlc.ts MAX_CLOCK_AHEAD_MS: the writer's clock may have been moved on by a
 * peer's) and a moment. A member writing an older budget of the owner's again must give
 * it a clock past the newer one's to win, so it can do so only for a budget replaced
 * within about a minute of its signing (with ten minutes allowed, it could for one
 * replaced ten minutes later, and the owner's new budget was undone).
 */
import type { Op } from "./changeset.ts";
import { type SigningKey, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url, utf8 } from "./encoding.ts";
import { check, ProtocolError } from "./errors.ts";
import { MAX_CLOCK_AHEAD_MS } from "./hlc.ts";
import { publicKeyOfId, type ZoneId } from "./ids.ts";
import { isRecord } from "./shape.ts";
import { openRecord, sealRecord, signatureHolds } from "./signed-record.ts";

export const PUBLIC_BUDGET_KEY = "system/public-budget";
export const FILES_BUDGET_KEY = "system/files-budget";
export type BudgetKey = typeof PUBLIC_BUDGET_KEY | typeof FILES_BUDGET_KEY;

/** What each budget's signature is over, besides its body: one budget's is no other's. */
const CONTEXTS: Record<BudgetKey, Uint8Array> = {
  [PUBLIC_BUDGET_KEY]: utf8("bucky public budget v1\n"),
  [FILES_BUDGET_KEY]: utf8("bucky files budget v1\n"),
};

export function isBudgetKey(key: string): key is BudgetKey {
  return Object.hasOwn(CONTEXTS, key);
}
const MAX_RECORD_BYTES = 512;
/** How long a budget's write may take after its signing, or come before it (clocks read apart). */
const WRITE_SLACK_MS = 5_000;

/** A budget as the state holds it. */
export interface BudgetValue {
  readonly bytes: number;
  readonly signed: string;
}

export function signBudget(options: {
  readonly key: BudgetKey;
  readonly zone: ZoneId;
  readonly bytes: number;
  readonly atMs: number;
  readonly owner: SigningKey;
}): BudgetValue {
  check(
    Number.isSafeInteger(options.bytes) && options.bytes >= 0,
    "a budget is a whole number of bytes",
  );
  const record = sealRecord(
    { v: 1, zone: options.zone, bytes: options.bytes, at: options.atMs },
    options.owner,
    CONTEXTS[options.key],
  );
  return { bytes: options.bytes, signed: toBase64url(record) };
}

/** The budget `value` of `key` holds and when the owner signed it. Throws ProtocolError. */
export function readBudget(
  key: BudgetKey,
  value: unknown,
  zone: ZoneId,
): { bytes: number; atMs: number } {
  check(
    isRecord(value) && typeof value.signed === "string" && Object.keys(value).length === 2,
    'it must be {"bytes": <n>, "signed": "<the owner\'s signature>"}',
  );
  const bytes = fromBase64url(value.signed as string);
  check(bytes !== undefined, "its signed is not base64url");
  const record = openRecord(bytes as Uint8Array, MAX_RECORD_BYTES, "budget");
  const { body } = record;
  check(body.v === 1, `a budget of version ${String(body.v)} is not supported`);
  check(body.zone === zone, "it is another zone's");
  const ownerKey = publicKeyOfId(zone, "zone");
  check(ownerKey !== undefined, "not a zone id");
  check(
    signatureHolds(record, verifyKeyFromPublicKey(ownerKey as Uint8Array), CONTEXTS[key]),
    "its signature is not the zone owner's",
  );
  check(
    Number.isSafeInteger(body.bytes) && (body.bytes as number) >= 0 && body.bytes === value.bytes,
    "its bytes are not the ones the owner signed",
  );
  check(Number.isSafeInteger(body.at), "its time is not a time");
  return { bytes: body.bytes as number, atMs: body.at as number };
}

/** Why `op` may not be written as the zone's budget `key` at `atMs` (its changeset's time). */
export function budgetProblem(
  key: BudgetKey,
  op: Op,
  zone: ZoneId,
  atMs?: number,
): string | undefined {
  if (op.value === null)
    return `${op.key} cannot be deleted: the owner sets another budget instead`;
  try {
    const budget = readBudget(key, JSON.parse(op.value), zone);
    if (
      atMs !== undefined &&
      (atMs < budget.atMs - WRITE_SLACK_MS ||
        atMs > budget.atMs + MAX_CLOCK_AHEAD_MS + WRITE_SLACK_MS)
    )
      return `${op.key} holds a budget the owner signed at ${new Date(budget.atMs).toISOString()}, not when it was written: an old budget cannot be written again`;
    return undefined;
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError)
      return `${op.key} must hold a budget signed by the zone owner: ${error.message}`;
    throw error;
  }
}
