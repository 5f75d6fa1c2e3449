/**
 * The write rules that depend on what the state holds (protocol/write-rules.ts has those
 * that depend on the op alone): checked on every device's apply (lib/sync/ingest.ts) and
 * before this device signs a write (lib/state/feed.ts).
 */
import type { Database } from "bun:sqlite";
import { credentialRewriteProblem, isCredentialKey } from "../../protocol/accounts.ts";
import type { Op } from "../../protocol/changeset.ts";

/** Whether a rule on what the state holds now may apply to `op` (cheap: its key alone). */
export function dependsOnHeld(op: Op): boolean {
  return isCredentialKey(op.key);
}

/** Why `op` may not be written over what the state holds now, or undefined when it may. */
export function heldStateProblem(sqlite: Database, op: Op): string | undefined {
  if (!isCredentialKey(op.key)) return undefined;
  const held = sqlite
    .query<{ value: string | null }, [string]>("SELECT value FROM state WHERE key = ?1")
    .get(op.key)?.value;
  return credentialRewriteProblem(op.key, op.value, held);
}
