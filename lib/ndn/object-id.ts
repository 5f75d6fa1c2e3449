/** An object id as a request or a command gives it: read, or refused saying what one looks like. */
import { parseObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";

export function requireObjectId(text: string): NonNullable<ReturnType<typeof parseObjectId>> {
  const parsed = parseObjectId(text);
  if (!parsed)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${text} is not an object id`,
      "Ids look like sha256:<64 hex> or clist:<64 hex>.",
    );
  return parsed;
}
