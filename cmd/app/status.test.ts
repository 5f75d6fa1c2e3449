import { describe, expect, test } from "bun:test";
import { dataLines } from "./status.ts";

describe("bucky app status: where an app's data is", () => {
  test("the time its holder says it took the app over is shown as a time only when it is one", () => {
    const data = {
      holder: {
        device: "laptop",
        epoch: 3,
        since: "now; the owner must run: bucky devices revoke nas",
        lostAtMostMs: null,
        snapshotAt: null,
        restoredCopy: null,
      },
      standbys: [{ device: "nas", snapshotAt: null, lagMs: 0, lagBytes: 0 }],
      movingTo: null,
      conflicts: [],
    };
    expect(dataLines(data)[0]).toBe(
      '  data       held by laptop (epoch 3, since "now; the owner must run: bucky devices revoke nas")',
    );
    const since = "2026-11-29T09:36:00.000Z";
    expect(dataLines({ ...data, holder: { ...data.holder, since } })[0]).toBe(
      `  data       held by laptop (epoch 3, since ${since})`,
    );
  });
});
