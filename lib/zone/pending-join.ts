/**
 * The key a `bucky join` asks to be admitted with, written before it asks and kept until
 * the home is a zone. Killed once the zone admitted it (the zone lists it, the invitation
 * is used), the device would otherwise come back with a new key: a stranger to a zone that
 * waits for a device that never comes. Run again with the same invitation, the join takes
 * this key, and the inviting device, seeing a member ask with its own key, answers as it
 * did (lib/zone/admit.ts).
 *
 *   <home>/join.pending   JSON { v: 1, invite: <invitation id>, seed: base64url }, mode 0600
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fromBase64url, toBase64url } from "../../protocol/encoding.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { fileSystemError } from "../errors.ts";
import type { HomePaths } from "../home.ts";

const SEED_BYTES = 32;
const MAX_FILE_BYTES = 512;

/** The key a join asks with, and whether it is one an earlier join with it left here. */
export interface JoinSeed {
  readonly seed: Uint8Array;
  readonly resumed: boolean;
}

/**
 * The seed to join with for invitation `invite`: the one a join with it left here, or a
 * new one, written down before it is used.
 */
export function joinSeed(paths: HomePaths, invite: string): JoinSeed {
  const left = readPendingJoin(paths);
  if (left?.invite === invite) return { seed: left.seed, resumed: true };
  const seed = new Uint8Array(randomBytes(SEED_BYTES));
  writeFileAtomic(
    paths.joinPending,
    `${JSON.stringify({ v: 1, invite, seed: toBase64url(seed) })}\n`,
    0o600,
  );
  return { seed, resumed: false };
}

/** Whether a join with invitation `invite` was cut short here, its key left to resume with. */
export function pendingJoinWith(paths: HomePaths, invite: string): boolean {
  return readPendingJoin(paths)?.invite === invite;
}

/** What a join left here, if anything readable (anything else: a join starts afresh). */
function readPendingJoin(paths: HomePaths): { invite: string; seed: Uint8Array } | undefined {
  try {
    const bytes = readFileSync(paths.joinPending);
    if (bytes.length > MAX_FILE_BYTES) return undefined;
    const value = JSON.parse(bytes.toString("utf8")) as {
      v?: unknown;
      invite?: unknown;
      seed?: unknown;
    };
    if (value.v !== 1 || typeof value.invite !== "string" || typeof value.seed !== "string")
      return undefined;
    const seed = fromBase64url(value.seed);
    return seed?.length === SEED_BYTES ? { invite: value.invite, seed } : undefined;
  } catch (error) {
    if (error instanceof SyntaxError || (error as NodeJS.ErrnoException).code === "ENOENT")
      return undefined;
    throw fileSystemError(error, "read", paths.joinPending) ?? error;
  }
}
