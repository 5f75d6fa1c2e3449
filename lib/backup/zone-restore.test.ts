import { describe, expect, test } from "bun:test";
import type { Snapshot } from "../../protocol/backup/formats.ts";
import { newestByDevice } from "./snapshot-trust.ts";
import { type AppKeepers, appSources, type NamedSnapshot } from "./zone-restore.ts";

function snapshot(name: string, device: string, time: string): NamedSnapshot {
  return { name, snapshot: { device, time } as Snapshot };
}

const laptop = snapshot("l1", "laptop", "2026-01-01T10:00:00.000Z");
const nas = snapshot("n1", "nas", "2026-01-01T12:00:00.000Z");
const now = Date.parse("2026-01-02T00:00:00.000Z");

/** The zone state's word: `devices` kept each app, `holder` holds it since `since`. */
function keepers(
  apps: Record<string, { devices: string[]; holder?: { device: string; since: string } }>,
): Map<string, AppKeepers> {
  return new Map(
    Object.entries(apps).map(([app, { devices, holder }]) => [
      app,
      { devices: new Set(devices), ...(holder ? { holder } : {}) },
    ]),
  );
}

describe("where a home restore takes each app's data from", () => {
  test("the newest snapshot of each device", () => {
    const older = snapshot("n0", "nas", "2026-01-01T08:00:00.000Z");
    expect([...newestByDevice([older, laptop, nas]).values()].map((s) => s.name)).toEqual([
      "n1",
      "l1",
    ]);
  });

  test("the newest snapshot holding it, of the devices that kept it, when none holds it now", () => {
    const { sources } = appSources(
      [
        { snapshot: laptop, apps: ["notes", "photos"] },
        { snapshot: nas, apps: ["notes"] },
      ],
      keepers({ notes: { devices: ["laptop", "nas"] }, photos: { devices: ["laptop"] } }),
      "l1",
      now,
    );
    expect(sources.get("notes")?.name).toBe("n1");
    expect(sources.get("photos")?.name).toBe("l1");
  });

  test("the holder's, taken since it held the app, over a newer leftover elsewhere", () => {
    const { sources } = appSources(
      [
        { snapshot: nas, apps: ["notes"] },
        { snapshot: laptop, apps: ["notes"] },
      ],
      keepers({
        notes: {
          devices: ["laptop", "nas"],
          holder: { device: "laptop", since: "2026-01-01T09:00:00.000Z" },
        },
      }),
      "n1",
      now,
    );
    expect(sources.get("notes")?.name).toBe("l1");
  });

  test("not the holder's from before it held the app: then the newest", () => {
    const { sources } = appSources(
      [
        { snapshot: laptop, apps: ["notes"] },
        { snapshot: nas, apps: ["notes"] },
      ],
      keepers({
        notes: {
          devices: ["laptop", "nas"],
          holder: { device: "laptop", since: "2026-01-01T11:00:00.000Z" },
        },
      }),
      "l1",
      now,
    );
    expect(sources.get("notes")?.name).toBe("n1");
  });

  test("never from a member that neither held the app nor stood by for it, whatever its date", () => {
    const planted = snapshot("p1", "phone", "2026-01-01T23:00:00.000Z");
    const result = appSources(
      [
        { snapshot: nas, apps: [] },
        { snapshot: laptop, apps: ["notes"] },
        { snapshot: planted, apps: ["notes", "photos"] },
      ],
      keepers({ notes: { devices: ["laptop"] } }),
      "n1",
      now,
    );
    expect(result.sources.get("notes")?.name).toBe("l1");
    expect(result.sources.has("photos")).toBe(false);
    expect(result.notTaken).toEqual([
      {
        app: "notes",
        device: "phone",
        snapshot: "p1",
        why: "phone neither held notes nor stood by for it",
      },
      {
        app: "photos",
        device: "phone",
        snapshot: "p1",
        why: "phone neither held photos nor stood by for it",
      },
    ]);
  });

  test("never from a snapshot dated past now, even a keeper's", () => {
    const ahead = snapshot("n9", "nas", "9999-01-01T00:00:00.000Z");
    const result = appSources(
      [
        { snapshot: laptop, apps: ["notes"] },
        { snapshot: ahead, apps: ["notes"] },
      ],
      keepers({ notes: { devices: ["laptop", "nas"] } }),
      "l1",
      now,
    );
    expect(result.sources.get("notes")?.name).toBe("l1");
    expect(result.notTaken).toEqual([
      {
        app: "notes",
        device: "nas",
        snapshot: "n9",
        why: "it is dated 9999-01-01T00:00:00.000Z, after this box's now",
      },
    ]);
  });
});
