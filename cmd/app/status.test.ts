import { describe, expect, test } from "bun:test";
import type { AppStatus } from "../../lib/apps/status.ts";
import { takeoverDueStatus } from "../../lib/apps/test-app-status.ts";
import type { AppDataStatus } from "../../lib/replica/data-status.ts";
import { dataLines, statusText, takeoverLines } from "./status.ts";

describe("bucky app status: where an app's data is", () => {
  test("the time its holder says it took the app over is shown as a time only when it is one", () => {
    const data = {
      holder: {
        device: "laptop",
        epoch: 3,
        since: "now; the owner must run: bucky devices revoke nas",
        lostAtMostMs: null,
        lostUnknownReason: null,
        snapshotAt: null,
        restoredCopy: null,
      },
      standbysAsked: 1,
      standbys: [
        {
          device: "nas",
          snapshotAt: null,
          lagMs: 0,
          lagBytes: 0,
          verifiedAt: null,
          damagedBlobs: null,
        },
      ],
      movingTo: null,
      takeover: null,
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

  test("a takeover's loss is said as at most so much, or as not known with the taker's reason", () => {
    const holder = {
      device: "laptop",
      epoch: 2,
      since: "2026-11-29T09:36:00.000Z",
      lostAtMostMs: 4_000,
      lostUnknownReason: null,
      snapshotAt: null,
      restoredCopy: null,
    };
    const data = {
      holder,
      standbysAsked: 1,
      standbys: [],
      movingTo: null,
      takeover: null,
      conflicts: [],
    };
    expect(dataLines(data)[1]).toBe(
      "             taken over from a copy: at most 4.0 s of writes before it could be missing",
    );
    const unknown = { ...holder, lostAtMostMs: null, lostUnknownReason: "it was away" };
    expect(dataLines({ ...data, holder: unknown })[1]).toBe(
      '             taken over from a copy: how much of the writes before it could be missing is not known (laptop says "it was away")',
    );
  });
});

describe("bucky app status: why it has no standby", () => {
  const data = {
    holder: null,
    standbysAsked: 1,
    standbys: [],
    movingTo: null,
    takeover: null,
    conflicts: [],
  };
  test("asked for one, with no other device live; or asked for none, by its manifest", () => {
    expect(dataLines(data)).toContain(
      "  standbys   none: the data is on one device only (no other device is live)",
    );
    expect(dataLines({ ...data, standbysAsked: 0 })).toContain(
      "  standbys   none: its manifest asks for no copy",
    );
  });
});

describe("bucky app status: what went wrong", () => {
  const status: AppStatus = {
    app: "site",
    version: "1.0.0",
    state: "crashed",
    device: "laptop",
    url: "unix:/home/laptop/.bucky/apps/site/door.sock",
    sandboxed: true,
    engine: "bubblewrap",
    image: null,
    restarts: 2,
    error: "exited; the owner must run: bucky devices revoke nas\n\u001b[2K  problem    none",
    reportedBy: "laptop",
    placement: "laptop",
    desired: "running",
    package: `sha256:${"ab".repeat(32)}` as AppStatus["package"],
    exposure: "public",
    shared: null,
    data: null,
    stateBytes: 1536,
    stateMaxBytes: 16 * 1024 * 1024,
  };

  test("the problem and url the running device reported are said as its words, each on one line", () => {
    const lines = statusText(status).split("\n");
    expect(lines.filter((line) => /^ {2}(url|problem) /.test(line))).toEqual([
      '  url        laptop says "unix:/home/laptop/.bucky/apps/site/door.sock"',
      '  problem    laptop says "exited; the owner must run: bucky devices revoke nas\\n\\u001b[2K  problem    none"',
    ]);
    expect(lines).toHaveLength(8);
  });

  test("the zone state it keeps, of what it may", () => {
    expect(statusText(status).split("\n")).toContain(
      "  state      1.5 KiB of 16.0 MiB (zone state it may keep)",
    );
  });

  test("the zone's own words (why no device runs it) are its own", () => {
    const waiting = {
      ...status,
      state: "pending" as const,
      device: null,
      url: null,
      error: "no live device of the zone can run it now",
      reportedBy: null,
    };
    expect(statusText(waiting).split("\n").slice(2, 3)).toEqual(["  url        -"]);
    // Nothing runs it: not said to run unsandboxed for want of bubblewrap.
    expect(statusText({ ...waiting, sandboxed: false }).split("\n")).toContain(
      "  sandboxed  - (no device runs it)",
    );
    expect(statusText(waiting).split("\n").at(-1)).toBe(
      "  problem    no live device of the zone can run it now",
    );
  });
});

describe("bucky app status: a takeover due but not claimed yet", () => {
  const status = takeoverDueStatus(70_000);
  const data = status.data as AppDataStatus;

  test("is said under the device, which is the holder: how long it has been silent, and who takes over", () => {
    expect(statusText(status).split("\n").slice(1, 3)).toEqual([
      "  device     laptop (placed on any device)",
      "             laptop not heard from for 70 s: nas takes the app over unless it still hears from laptop",
    ]);
  });

  test("a holder never heard from is said so, and no takeover says nothing", () => {
    expect(takeoverLines({ ...data, takeover: { by: "nas", holderSilentMs: null } })).toEqual([
      "             laptop never heard from: nas takes the app over unless it still hears from laptop",
    ]);
    expect(takeoverLines({ ...data, takeover: null })).toEqual([]);
  });
});
