import { describe, expect, test } from "bun:test";
import { type MoveResult, moveText } from "./move.ts";

const arrived: MoveResult = {
  app: "notes",
  to: "gamma",
  arrived: true,
  waited: true,
  offline: false,
  state: "running",
  device: "gamma",
  heldElsewhere: "held",
  lostAtMostMs: 0,
  lostUnknownReason: null,
};

describe("bucky app move: what it says once the app runs there", () => {
  test("moved as planned: with all its data", () => {
    expect(moveText(arrived)).toBe("notes runs on gamma now, with all its data.");
  });

  test("taken over from a copy, its device gone as it moved: what could be missing, not all its data", () => {
    expect(moveText({ ...arrived, lostAtMostMs: 4_700 })).toBe(
      "notes runs on gamma now, taken over from a copy: at most 4.7 s of writes before it could be missing.",
    );
    expect(
      moveText({ ...arrived, lostAtMostMs: null, lostUnknownReason: "it was away" }),
    ).toContain("how much of the writes before it could be missing is not known");
  });
});
