/**
 * Which of two revocations of one device name the state keeps, whatever order they
 * arrive in. `devices/<name>/revoked` is one key, and last writer wins would let any
 * member write an older revocation again over the owner's newer one (revoking again,
 * lower, after a fork): every device's cut would go back up and what was dropped be
 * taken again. So for that key:
 * - two revocations of the same device: the one keeping less wins (lower `lastSeq`),
 *   then the earlier signed (a cut only ever goes down);
 * - of two different devices (the name given to a new device since): the later signed
 *   wins (an old one written again does not take the new device's revocation away);
 * - otherwise (equal, or a value that does not parse: the write rules refuse those) the
 *   clock decides, as for every key.
 * Pure, and the same on every device: the state's writes, its verification and the
 * checkpoint's rows all decide by it (rowWins, lib/state/apply.ts, lib/state/verify.ts).
 * A device running an older version still takes the last writer.
 */
import { ProtocolError } from "./errors.ts";
import { decodeJws } from "./jws.ts";

const REVOKED_KEY = /^devices\/[^/]+\/revoked$/;

/** Whether `key` holds a device's revocation. */
export function isRevocationKey(key: string): boolean {
  return REVOKED_KEY.test(key);
}

interface Ranked {
  readonly id: string;
  readonly lastSeq: number;
  readonly issuedAt: number;
}

/**
 * For two values of one revocation key: above 0 when `a` wins, below 0 when `b` wins, 0
 * when neither rule decides (the clock does).
 */
export function revocationPrecedence(a: string | null, b: string | null): number {
  const ra = ranked(a);
  const rb = ranked(b);
  if (!ra || !rb) return 0;
  if (ra.id === rb.id) {
    if (ra.lastSeq !== rb.lastSeq) return rb.lastSeq - ra.lastSeq;
    return rb.issuedAt - ra.issuedAt;
  }
  return ra.issuedAt - rb.issuedAt;
}

/** When a revocation value was signed (its `iat`, seconds), or undefined if it does not parse. */
export function revocationIssuedAt(value: string | null): number | undefined {
  return ranked(value)?.issuedAt;
}

function ranked(value: string | null): Ranked | undefined {
  if (value === null) return undefined;
  try {
    const jws: unknown = JSON.parse(value);
    if (typeof jws !== "string") return undefined;
    const payload = decodeJws(jws).payload as Record<string, unknown> | null;
    const { id, lastSeq, iat } = payload ?? {};
    if (typeof id !== "string" || !Number.isSafeInteger(lastSeq) || !Number.isSafeInteger(iat))
      return undefined;
    return { id, lastSeq: lastSeq as number, issuedAt: iat as number };
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}
