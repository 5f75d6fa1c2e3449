/**
 * Making and reading the recovery phrase. The phrase exists only in memory and in what
 * is shown to the user once; it is never written to disk or to a log.
 */
import { randomBytes } from "node:crypto";
import { checkPhrase, ENTROPY_BYTES, phraseFromEntropy } from "../../protocol/phrase.ts";
import { BuckyError } from "../errors.ts";

export interface RecoveryPhrase {
  readonly phrase: string;
  readonly entropy: Uint8Array;
}

export function newRecoveryPhrase(): RecoveryPhrase {
  const entropy = new Uint8Array(randomBytes(ENTROPY_BYTES));
  return { phrase: phraseFromEntropy(entropy), entropy };
}

/** The entropy a typed phrase encodes; a mistyped phrase is refused with what is wrong. */
export function readRecoveryPhrase(text: string): RecoveryPhrase {
  const checked = checkPhrase(text);
  if (!checked.ok)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `invalid recovery phrase: ${checked.reason}`,
      checked.hint,
    );
  return { phrase: phraseFromEntropy(checked.entropy), entropy: checked.entropy };
}
