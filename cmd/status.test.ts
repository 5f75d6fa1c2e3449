import { describe, expect, test } from "bun:test";
import { diskWith } from "../lib/facts/test-usage.ts";
import type { DeviceDisk, ZoneCertificate } from "../lib/zone/status.ts";
import type { DeviceId } from "../protocol/ids.ts";
import {
  describeBackup,
  describeCertificate,
  describeGateway,
  describeImages,
  diskLines,
} from "./status.ts";

describe("a certificate in bucky status", () => {
  const failing = (device: string, message: string, hint: string): ZoneCertificate => ({
    device,
    name: "home.lan",
    issuer: "zone",
    notAfter: null,
    lastError: { at: "2026-11-29T00:00:00.000Z", message, hint },
    remedy:
      message === "the owner has not approved laptop as a gateway for home.lan"
        ? { kind: "approve", gateway: device }
        : null,
  });

  test("another device's hint is not advice: what to do is the zone's own words, its message said to be its own", () => {
    // A member writes its certificates' errors in its own facts, so it can suggest anything.
    const lure = "run bucky gateway approve laptop --host router.lan --address 192.168.1.1";
    const text = describeCertificate(
      failing("laptop", "the owner has not approved laptop as a gateway for home.lan", lure),
      "nas",
    );
    expect(text).not.toContain("router.lan");
    expect(text).toBe(
      'home.lan on laptop: none yet (the zone CA); laptop says its last try 2026-11-29T00:00:00.000Z failed: "the owner has not approved laptop as a gateway for home.lan"; to do: the owner approves it: on a device holding the owner key, run `bucky gateway approve laptop` (it shows the names laptop asks for, and approves them once you say yes)',
    );
    // An error of no known kind: its words, and no advice at all.
    const odd = describeCertificate(
      failing("laptop", "please run: bucky devices revoke phone", lure),
      "nas",
    );
    expect(odd).toBe(
      'home.lan on laptop: none yet (the zone CA); laptop says its last try 2026-11-29T00:00:00.000Z failed: "please run: bucky devices revoke phone"',
    );
  });

  test("this device's own hint is shown as it wrote it", () => {
    expect(
      describeCertificate(
        failing(
          "nas",
          "no room on the disk to keep the certificate for home.lan",
          "Free some space.",
        ),
        "nas",
      ),
    ).toBe(
      "home.lan on nas: none yet (the zone CA); last try 2026-11-29T00:00:00.000Z failed: no room on the disk to keep the certificate for home.lan (Free some space.)",
    );
  });
});

describe("a device's own words in bucky status", () => {
  const GiB = 1024 ** 3;
  const disk = (device: string, remove?: string): DeviceDisk =>
    diskWith(device, [
      { what: "apps/old; run: rm -rf /", bytes: GiB, ...(remove ? { remove } : {}) },
    ]);

  test("another device's leftover is its words, and how to remove it the zone's", () => {
    // Its command is not shown (lib/zone/status.ts keeps only this device's): what to do is
    // to ask that device, which measures its own and says how.
    expect(diskLines(disk("laptop")).at(-1)).toBe(
      '               leftover, laptop says: "apps/old; run: rm -rf /", 1.0 GiB (to remove it, run `bucky status --disk` on laptop)',
    );
    expect(diskLines(disk("nas", "bucky app remove old --purge")).at(-1)).toBe(
      "               leftover: apps/old; run: rm -rf /, 1.0 GiB (bucky app remove old --purge)",
    );
  });

  test("a target whose hot changes or prunes fail says so, in the device's words", () => {
    expect(
      describeBackup({
        device: "nas",
        target: "usb",
        lastBackup: { at: "2026-11-29T00:00:00.000Z", snapshot: "0123456789" },
        lastVerify: null,
        lastError: null,
        lastPrune: null,
        hotFailing: { since: "2026-11-28T00:00:00.000Z", message: "hot is a file" },
        pruneError: {
          at: "2026-11-29T00:00:00.000Z",
          since: "2026-11-27T00:00:00.000Z",
          message: "not there",
        },
      }),
    ).toBe(
      'Backup       nas to usb: last 2026-11-29T00:00:00.000Z (snapshot 01234567); never verified; its changes fail to reach it since 2026-11-28T00:00:00.000Z: nas says "hot is a file"; pruning it fails since 2026-11-27T00:00:00.000Z: nas says "not there"',
    );
  });

  test("a time a device gave that is no time is shown as its words, quoted: it could be a sentence", () => {
    const at = "now; the owner must run: bucky app rm";
    expect(
      describeBackup({
        device: "laptop",
        target: "usb",
        lastBackup: { at, snapshot: "0123456789" },
        lastVerify: { at: "2026-11-29T00:00:00.000Z", ok: true },
        lastError: null,
        lastPrune: null,
        hotFailing: null,
        pruneError: null,
      }),
    ).toBe(
      'Backup       laptop to usb: last "now; the owner must run: bucky app rm" (snapshot 01234567); verified 2026-11-29T00:00:00.000Z',
    );
  });

  test("why a device cannot run images is said to be its words", () => {
    expect(
      describeImages([
        { device: "nas", engine: "podman 4.3.1", platform: "linux/amd64", problem: null },
        {
          device: "laptop",
          engine: null,
          platform: null,
          problem: "no podman) - the owner must run: bucky devices revoke nas",
        },
      ]),
    ).toBe(
      'Images       nas runs them (podman 4.3.1, linux/amd64); laptop cannot: laptop says "no podman) - the owner must run: bucky devices revoke nas"',
    );
    // Its engine and platform are its words too: said as they are only when of their shape.
    expect(
      describeImages([
        {
          device: "laptop",
          engine: "podman 4; the owner must run: bucky devices revoke nas",
          platform: "linux/amd64",
          problem: null,
        },
      ]),
    ).toBe(
      'Images       laptop runs them (laptop says "podman 4; the owner must run: bucky devices revoke nas", linux/amd64)',
    );
  });
});

describe("bucky status: a gateway's line", () => {
  const gateway = { device: "gw", url: "https://home.example", https: true };
  test("says its device is offline, where its links and pages then wait", () => {
    const device = { id: "d1" as DeviceId, name: "gw" };
    const online = [{ ...device, status: "online" as const }];
    expect(describeGateway(gateway, online)).toBe("Gateway      gw: https://home.example");
    expect(describeGateway(gateway, [{ ...device, status: "offline" as const }])).toBe(
      "Gateway      gw: https://home.example (offline: its links and pages wait for gw)",
    );
  });
});
