/**
 * State keys matched by a pattern as drizzle queries say it: GLOB, which keeps case,
 * never LIKE. Who may write a key goes by its exact spelling: `Nodes/a/relay` is any
 * member's to write, `nodes/a/relay` a's alone, and a read by LIKE (which ignores case)
 * took the first for the second. LIKE's `_` is a wildcard too; GLOB's constant prefix is
 * also a range the key's index answers, where LIKE read the whole state. Raw SQL says
 * `key GLOB '…'` itself (lib/store/reads.ts).
 */
import { type SQL, sql } from "drizzle-orm";
import { isKeyGlob } from "../../protocol/state-key.ts";
import { state } from "./schema.ts";

/** `state.key GLOB pattern`, for a pattern protocol/state-key.ts isKeyGlob takes (else a bug: thrown). */
export function keyGlob(pattern: string): SQL {
  if (!isKeyGlob(pattern)) throw new Error(`not a state key pattern: ${pattern}`);
  return sql`${state.key} GLOB ${pattern}`;
}
