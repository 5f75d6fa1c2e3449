import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { type Candidate, placeApp } from "./placement.ts";

const laptop: Candidate = { name: "laptop", id: "d-laptop" };
const desktop: Candidate = { name: "desktop", id: "d-desktop" };
const nas: Candidate = { name: "nas", id: "d-nas" };
const members = [laptop, desktop, nas];

/** The rendezvous score placeApp ranks candidates by, computed independently. */
const score = (app: string, candidate: Candidate) =>
  createHash("sha256").update(`${app}\n${candidate.id}`).digest("hex");

describe("placeApp", () => {
  test("runs a pinned app on its device when that device is a member, live or not", () => {
    expect(placeApp("notes", "desktop", members, members)).toBe("desktop");
    expect(placeApp("notes", "desktop", members, [laptop])).toBe("desktop");
    expect(placeApp("notes", "desktop", members, [])).toBe("desktop");
  });

  test("runs a pinned app nowhere when its device is not a member", () => {
    expect(placeApp("notes", "phone", members, members)).toBeUndefined();
    expect(placeApp("notes", "desktop", [laptop, nas], members)).toBeUndefined();
    expect(placeApp("notes", "desktop", [], [])).toBeUndefined();
  });

  test("runs an `any` app on the live device with the highest hash of (app, device id)", () => {
    for (const app of ["notes", "site", "photos", "a", "b", "c"]) {
      const best = [...members].sort((a, b) => (score(app, a) > score(app, b) ? -1 : 1))[0];
      expect(placeApp(app, "any", members, members)).toBe(best?.name);
    }
  });

  test("hashes the device id, not the name", () => {
    const renamed = members.map((member) => ({ ...member, name: `${member.name}-2` }));
    for (const app of ["notes", "site", "photos"]) {
      expect(placeApp(app, "any", renamed, renamed)).toBe(
        `${placeApp(app, "any", members, members)}-2`,
      );
    }
  });

  test("spreads apps over devices rather than piling them on one", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const device = placeApp(`app-${i}`, "any", members, members) as string;
      counts.set(device, (counts.get(device) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(["desktop", "laptop", "nas"]);
    for (const count of counts.values()) expect(count).toBeGreaterThan(60);
  });

  test("runs an `any` app nowhere when no device is live", () => {
    expect(placeApp("notes", "any", members, [])).toBeUndefined();
  });

  test("runs an `any` app on the only live device", () => {
    expect(placeApp("notes", "any", members, [nas])).toBe("nas");
  });
});
