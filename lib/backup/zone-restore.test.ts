import { describe, expect, test } from "bun:test";
import type { Snapshot } from "../../protocol/backup/formats.ts";
import { newestByDevice } from "./snapshot-trust.ts";
import { appSources, type NamedSnapshot } from "./zone-restore.ts";

function snapshot(name: string, device: string, time: string): NamedSnapshot {
  return { name, snapshot: { device, time } as Snapshot };
}

const laptop = snapshot("l1", "laptop", "2026-01-01T10:00:00.000Z");
const nas = snapshot("n1", "nas", "2026-01-01T12:00:00.000Z");

describe("where a home restore takes each app's data from", () => {
  test("the newest snapshot of each device", () => {
    const older = snapshot("n0", "nas", "2026-01-01T08:00:00.000Z");
    expect([...newestByDevice([older, laptop, nas]).values()].map((s) => s.name)).toEqual([
      "n1",
      "l1",
    ]);
  });

  test("the newest snapshot holding it, when the zone names no holder", () => {
    const sources = appSources(
      [
        { snapshot: laptop, apps: ["notes", "photos"] },
        { snapshot: nas, apps: ["notes"] },
      ],
      new Map(),
    );
    expect(sources.get("notes")?.name).toBe("n1");
    expect(sources.get("photos")?.name).toBe("l1");
  });

  test("the holder's, taken since it held the app, over a newer leftover elsewhere", () => {
    const claims = new Map([["notes", { device: "laptop", since: "2026-01-01T09:00:00.000Z" }]]);
    const sources = appSources(
      [
        { snapshot: nas, apps: ["notes"] },
        { snapshot: laptop, apps: ["notes"] },
      ],
      claims,
    );
    expect(sources.get("notes")?.name).toBe("l1");
  });

  test("not the holder's from before it held the app: then the newest", () => {
    const claims = new Map([["notes", { device: "laptop", since: "2026-01-01T11:00:00.000Z" }]]);
    const sources = appSources(
      [
        { snapshot: laptop, apps: ["notes"] },
        { snapshot: nas, apps: ["notes"] },
      ],
      claims,
    );
    expect(sources.get("notes")?.name).toBe("n1");
  });
});
