/**
 * What a wrong limit is told: the panel's form shows the daemon's own error, so it names
 * the value and what it should be like, not a command's flag (it named --rps before).
 */
import { describe, expect, test } from "bun:test";
import { BuckyError } from "../errors.ts";
import { limitsRequest } from "./app-limits.ts";

function refusal(body: Record<string, unknown>): { message: string; hint?: string } {
  try {
    limitsRequest(body);
  } catch (error) {
    if (!(error instanceof BuckyError)) throw error;
    return { message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  }
  throw new Error("taken");
}

describe("an app's limits, asked wrong", () => {
  test("say what the value should be, in words a form and a command both fit", () => {
    expect(refusal({ rps: "ten" })).toEqual({
      message: "the request limit is a whole number of requests a second",
    });
    expect(refusal({ bandwidth: 10 })).toEqual({
      message: "10 is not a bandwidth",
      hint: "A rate like 10MB/s, or none.",
    });
    expect(limitsRequest({ rps: 5, bandwidth: "1MB/s" })).toEqual({ rps: 5, bandwidth: "1MB/s" });
  });
});
