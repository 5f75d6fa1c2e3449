/**
 * State keys matched by a pattern as drizzle queries say it: GLOB, which keeps case,
 * never LIKE. Who may write a key goes by its exact spelling: `Nodes/a/relay` is any
 * member's to write, `nodes/a/relay` a's alone, and a read by LIKE (which ignores case)
 * took the first for the second. LIKE's `_` is a wildcard too; GLOB's constant prefix is
 * also a range the key's index answers, where LIKE read the whole state. Raw SQL says
 * `key GLOB '…'` itself (lib/store/reads.ts).
 */
import { type SQL, sql } from "drizzle-orm";
import { state } from "./schema.ts";

/**
 * Keys hold letters, digits and `_.:@-` between slashes (protocol/state-key.ts): none of
 * GLOB's special characters, so a pattern is those and `*` (any run of characters, `/`
 * included) and nothing else: a name put in one that held a `?` or `[` would match more
 * than it says.
 */
const PATTERN = /^[A-Za-z0-9_.:@/*-]+$/;

export function keyGlob(pattern: string): SQL {
  if (!PATTERN.test(pattern)) throw new Error(`not a state key pattern: ${pattern}`);
  return sql`${state.key} GLOB ${pattern}`;
}
