/** A state key as people and programs give it, checked: the one refusal for a key that is not one. */
import { stateKeyProblem } from "../../protocol/state-key.ts";
import { BuckyError } from "../errors.ts";

export function requireStateKey(key: string): void {
  const problem = stateKeyProblem(key);
  if (problem)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `invalid key "${key}": ${problem}`,
      "Keys look like apps/music/config.",
    );
}

/**
 * The local API's path of state key `key`, checked first: in a URL, a `..` segment, a `?`
 * or a `#` would make another path of it (`../rules/<id>` is a rule's), and the daemon
 * would read, write or delete what that path names.
 */
export function stateKeyPath(key: string): string {
  requireStateKey(key);
  return `/v1/state/${key}`;
}
