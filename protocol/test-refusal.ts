/** For protocol tests: what a refused input is told. */
import { ProtocolError } from "./errors.ts";

/** The message of the ProtocolError `run` throws; fails on any other outcome. */
export function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof ProtocolError) return error.message;
    throw error;
  }
  throw new Error("expected a ProtocolError, but nothing was thrown");
}
