import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { DeviceId } from "../../protocol/ids.ts";
import { rankDevices } from "../../protocol/placement.ts";
import type { HolderClaim } from "./claims.ts";
import { type CopyPosition, decideHolding, type HoldingInput } from "./holding.ts";

const members = ["alpha", "beta", "gamma", "delta"].map((name) => ({ name, id: `d${name}` }));
const order = rankDevices("notes", members).map((m) => m.name);

function claim(device: string, epoch: number): HolderClaim {
  return {
    device,
    deviceId: `d${device}` as DeviceId,
    epoch,
    since: "",
    from: null,
    lostAtMostMs: null,
  };
}

function input(overrides: Partial<HoldingInput>): HoldingInput {
  const given: HoldingInput = {
    app: "notes",
    placement: "any",
    moveTo: null,
    standbys: 1,
    members,
    live: new Set(members.map((m) => m.name)),
    draining: new Set(),
    claims: [],
    copies: new Map(),
    ...overrides,
  };
  // A copy made by `copy` is of the device that claimed its epoch (the first, of two).
  const holderAt = (epoch: number) =>
    given.claims.find((claim) => claim.epoch === epoch)?.device ?? "nobody";
  const copies = new Map(
    [...given.copies].map(([device, position]) => [
      device,
      position.holder === "" ? { ...position, holder: holderAt(position.epoch) } : position,
    ]),
  );
  return { ...given, copies };
}

/** A copy at `epoch`, of whoever claimed it (`holder` names another). */
const copy = (epoch: number, seq: number, final = false, holder = ""): CopyPosition => ({
  holder,
  epoch,
  seq,
  final,
});

describe("who holds an app's data", () => {
  test("a new app goes to the first live device in its order, which claims it", () => {
    const holding = decideHolding(input({}));
    expect([holding.runner, holding.claimant]).toEqual([order[0], order[0]]);
    expect(holding.standbys).toEqual([order[1] as string]);
  });

  test("a live holder keeps its app, wherever the order would put it now", () => {
    const last = order[3] as string;
    const holding = decideHolding(input({ claims: [claim(last, 3)] }));
    expect([holding.runner, holding.claimant, holding.holder?.device]).toEqual([
      last,
      undefined,
      last,
    ]);
    expect(holding.standbys).toEqual([order[0] as string]);
  });

  test("a copy of the device that lost a tied epoch is none to take over from", () => {
    // alpha and beta both claimed epoch 2 across a partition; alpha, the lower id, holds it.
    // gamma still keeps beta's copy of that epoch, further along; delta alpha's.
    const holding = decideHolding(
      input({
        claims: [claim("alpha", 2), claim("beta", 2)],
        live: new Set(["beta", "gamma", "delta"]),
        copies: new Map([
          ["gamma", copy(2, 50, false, "beta")],
          ["delta", copy(2, 10, false, "alpha")],
        ]),
      }),
    );
    expect([holding.holder?.device, holding.runner]).toEqual(["alpha", "delta"]);
  });

  test("the highest epoch holds; in a tie, the lower device id", () => {
    expect(
      decideHolding(input({ claims: [claim("beta", 2), claim("alpha", 3)] })).holder?.device,
    ).toBe("alpha");
    expect(
      decideHolding(input({ claims: [claim("gamma", 4), claim("beta", 4)] })).holder?.device,
    ).toBe("beta");
  });

  test("when the holder is gone, the live device with the newest copy of its epoch takes over", () => {
    const holding = decideHolding(
      input({
        claims: [claim("alpha", 2)],
        live: new Set(["beta", "gamma", "delta"]),
        copies: new Map([
          ["beta", copy(2, 7)],
          ["gamma", copy(2, 9)],
          ["delta", copy(1, 40)],
        ]),
      }),
    );
    expect([holding.runner, holding.claimant]).toEqual(["gamma", "gamma"]);
    expect(holding.standbys).not.toContain("alpha");
  });

  test("with no copy of the holder's epoch anywhere, nobody runs it, and it says why", () => {
    const holding = decideHolding(
      input({
        claims: [claim("alpha", 2)],
        live: new Set(["beta"]),
        copies: new Map([["beta", copy(1, 5)]]),
      }),
    );
    expect(holding.runner).toBeUndefined();
    expect(holding.waiting).toBe(
      "its data is on alpha, which is offline, and no other device has a copy of it",
    );
  });

  test("with no holder left, its only copy on a member offline: nobody runs it anew elsewhere", () => {
    // The holder left the zone (revoked: its claim is read no more); the standby that has
    // the copy is asleep.
    const [withCopy, other] = order as [string, string];
    const holding = decideHolding(
      input({
        live: new Set(members.map((m) => m.name).filter((name) => name !== withCopy)),
        copies: new Map([[withCopy, copy(7, 900, false, "old-laptop")]]),
      }),
    );
    expect([holding.runner, holding.waiting]).toEqual([
      undefined,
      `its data's newest copy is on ${withCopy}, which is offline`,
    ]);
    // Back, it takes the app over from that copy; a device live with a copy goes first.
    expect(
      decideHolding(input({ copies: new Map([[withCopy, copy(7, 900, false, "old-laptop")]]) }))
        .runner,
    ).toBe(withCopy);
    expect(
      decideHolding(
        input({
          live: new Set(members.map((m) => m.name).filter((name) => name !== withCopy)),
          copies: new Map([
            [withCopy, copy(7, 900, false, "old-laptop")],
            [other, copy(7, 899, false, "old-laptop")],
          ]),
        }),
      ).runner,
    ).toBe(other);
  });

  test("a planned move stops the app until the new device has the last snapshot, then it takes over", () => {
    const moving = decideHolding(
      input({
        claims: [claim("alpha", 1)],
        moveTo: "delta",
        copies: new Map([["delta", copy(1, 4)]]),
      }),
    );
    expect([moving.runner, moving.movingTo, moving.waiting]).toEqual([
      undefined,
      "delta",
      "moving from alpha to delta",
    ]);
    expect(moving.standbys).toContain("delta");
    const arrived = decideHolding(
      input({
        claims: [claim("alpha", 1)],
        moveTo: "delta",
        copies: new Map([["delta", copy(1, 5, true)]]),
      }),
    );
    expect([arrived.runner, arrived.claimant]).toEqual(["delta", "delta"]);
  });

  test("a move to a device that is not live waits with the app running", () => {
    const holding = decideHolding(
      input({ claims: [claim("alpha", 1)], moveTo: "delta", live: new Set(["alpha", "beta"]) }),
    );
    expect([holding.runner, holding.movingTo]).toEqual(["alpha", "delta"]);
  });

  test("a move made while the holder is offline takes over from the newest copy, then goes on to the device moved to", () => {
    /** alpha offline, the app moved to gamma: with these claims and copies. */
    const movedToGamma = (claims: HolderClaim[], copies: [string, CopyPosition][]) =>
      decideHolding(
        input({
          claims,
          moveTo: "gamma",
          live: new Set(["beta", "gamma", "delta"]),
          copies: new Map(copies),
        }),
      );
    const stale = movedToGamma(
      [claim("alpha", 1)],
      [
        ["beta", copy(1, 100)],
        ["gamma", copy(1, 3)],
      ],
    );
    expect([stale.runner, stale.claimant]).toEqual(["beta", "beta"]);
    // Once beta holds it (a newer epoch, alive), the move to gamma is a planned one.
    const onward = movedToGamma([claim("alpha", 1), claim("beta", 2)], [["gamma", copy(1, 3)]]);
    expect([onward.runner, onward.movingTo]).toEqual([undefined, "gamma"]);
    // As new as any: the device moved to takes it over at once.
    const current = movedToGamma(
      [claim("alpha", 1)],
      [
        ["beta", copy(1, 100)],
        ["gamma", copy(1, 100)],
      ],
    );
    expect([current.runner, current.claimant]).toEqual(["gamma", "gamma"]);
  });

  test("a holder no longer among the members (quarantined) is failed over from a copy, never started anew", () => {
    const others = members.filter((m) => m.name !== "alpha");
    const live = new Set(others.map((m) => m.name));
    const taken = decideHolding(
      input({
        members: others,
        live,
        claims: [claim("alpha", 2)],
        copies: new Map([["gamma", copy(2, 7)]]),
      }),
    );
    expect([taken.runner, taken.claimant]).toEqual(["gamma", "gamma"]);
    const waiting = decideHolding(input({ members: others, live, claims: [claim("alpha", 2)] }));
    expect([waiting.runner, waiting.claimant]).toEqual([undefined, undefined]);
  });

  test("a drained holder gives the app to the device with the newest copy", () => {
    const holding = decideHolding(
      input({
        claims: [claim("alpha", 1)],
        draining: new Set(["alpha"]),
        copies: new Map([["gamma", copy(1, 3, true)]]),
      }),
    );
    expect([holding.movingTo, holding.runner]).toEqual(["gamma", "gamma"]);
    expect(holding.standbys).not.toContain("alpha");
  });

  test("a pinned app runs on its device, and does not fail over", () => {
    const holding = decideHolding(
      input({
        placement: "beta",
        claims: [claim("beta", 1)],
        live: new Set(["alpha"]),
        copies: new Map([["alpha", copy(1, 9)]]),
      }),
    );
    expect([holding.runner, holding.claimant]).toEqual(["beta", undefined]);
  });

  test("whatever the facts: one runner at most, live and runnable, and claimants only take over", () => {
    const names = members.map((m) => m.name);
    const device = fc.constantFrom(...names);
    fc.assert(
      fc.property(
        fc.subarray(names),
        fc.subarray(names),
        fc.array(fc.tuple(device, fc.integer({ min: 1, max: 4 })), { maxLength: 3 }),
        fc.array(fc.tuple(device, fc.integer({ min: 1, max: 4 }), fc.nat(9), fc.boolean()), {
          maxLength: 4,
        }),
        fc.option(device, { nil: null }),
        fc.constantFrom("any", ...names),
        (live, draining, claims, copies, moveTo, placement) => {
          const holding = decideHolding(
            input({
              live: new Set(live),
              draining: new Set(draining),
              claims: claims.map(([d, e]) => claim(d, e)),
              copies: new Map(copies.map(([d, e, s, f]) => [d, copy(e, s, f)])),
              moveTo,
              placement,
            }),
          );
          if (holding.runner !== undefined) {
            expect(names).toContain(holding.runner);
            // Pinned: its device, or the holder until that device is up to take the data.
            if (placement !== "any")
              expect([placement, holding.holder?.device]).toContain(holding.runner);
            if (holding.claimant === undefined)
              expect(holding.runner).toBe(holding.holder?.device as string);
            else {
              // A pinned app is its device's to run whenever it is up; any other, a live device's.
              if (placement === "any") expect(live).toContain(holding.runner);
              expect(holding.claimant).toBe(holding.runner);
            }
          } else expect(holding.waiting).toBeDefined();
          expect(holding.standbys).not.toContain(holding.runner as string);
          expect(new Set(holding.standbys).size).toBe(holding.standbys.length);
        },
      ),
    );
  });
});
