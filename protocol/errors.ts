/**
 * The one error protocol/ throws: bytes that do not decode, or a signature or hash that
 * does not verify. Callers in lib/ add context (which file, which peer) and report it as
 * an integrity error; protocol/ cannot know where the bytes came from.
 */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

/** Throws a ProtocolError unless `condition` holds; narrows types like `assert`. */
export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ProtocolError(message);
}
