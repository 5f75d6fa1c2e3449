/**
 * Placement is a pure function of the zone state every node sees: the order nodes list
 * the live devices in does not matter, and a device leaving moves only the apps it ran.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Candidate, placeApp } from "./placement.ts";

const appName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
const devices = fc
  .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/), { minLength: 1, maxLength: 8 })
  .map((names) => names.map((name): Candidate => ({ name, id: `d${name}` })));

describe("placement of `any` apps", () => {
  test("picks the same device whatever the order of the live list", () => {
    fc.assert(
      fc.property(
        appName,
        devices.chain((live) =>
          fc.tuple(
            fc.constant(live),
            fc.shuffledSubarray(live, { minLength: live.length, maxLength: live.length }),
          ),
        ),
        (app, [live, shuffled]) => {
          const chosen = placeApp(app, "any", live, live);
          expect(live.map((device) => device.name)).toContain(chosen as string);
          expect(placeApp(app, "any", shuffled, shuffled)).toBe(chosen as string);
        },
      ),
      { numRuns: 500 },
    );
  });

  test("moves only the apps of a device that leaves the live list", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(appName, { minLength: 1, maxLength: 30 }),
        devices,
        fc.nat(),
        (apps, live, index) => {
          const leaving = live[index % live.length] as Candidate;
          const remaining = live.filter((device) => device !== leaving);
          for (const app of apps) {
            const before = placeApp(app, "any", live, live);
            const after = placeApp(app, "any", live, remaining);
            if (before === leaving.name) {
              expect(after).not.toBe(leaving.name);
              if (remaining.length === 0) expect(after).toBeUndefined();
            } else {
              expect(after).toBe(before as string);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("gives a moved app to one of the remaining devices, or none when none is left", () => {
    fc.assert(
      fc.property(appName, devices, fc.nat(), (app, live, index) => {
        const leaving = live[index % live.length] as Candidate;
        const remaining = live.filter((device) => device !== leaving);
        const after = placeApp(app, "any", live, remaining);
        if (remaining.length === 0) expect(after).toBeUndefined();
        else expect(remaining.map((device) => device.name)).toContain(after as string);
      }),
      { numRuns: 300 },
    );
  });
});
