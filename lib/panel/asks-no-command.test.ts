/**
 * The panel asks no one to type a command, in any state: not only in the states the
 * end-to-end test reaches (test/panel.test.ts), where a note about another device's
 * backups once slipped through under load. Every kind of note the overview can show is
 * rendered here, in both languages, and every text the panel's words hold is said with
 * sample values. The kinds come from records keyed by the kinds, so a kind added without a
 * sample fails the build; a text reading a value with no sample fails the test.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import type { UserName } from "../../protocol/accounts.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import type { UserSession } from "../../protocol/user-session.ts";
import type { AppSpec } from "../apps/spec.ts";
import type { CertificateRemedy } from "../certs/remedy.ts";
import { diskWith } from "../facts/test-usage.ts";
import { en } from "../i18n/en.ts";
import type { Messages } from "../i18n/messages.ts";
import { zhCN } from "../i18n/zh-CN.ts";
import { createLog } from "../log.ts";
import { holdingOf } from "../replica/zone-holding.ts";
import type { Viewer } from "../users/access.ts";
import type { ZoneAttention } from "../zone/attention.ts";
import type { ReliabilityNote } from "../zone/reliability.ts";
import type { ZoneCertificate } from "../zone/status.ts";
import { asksForCommand } from "./components.tsx";
import { createPanel } from "./panel.tsx";

/** What the gateway would give the panel: the device's key for notices, the session's id. */
const NOTICE_KEY = new Uint8Array(32).fill(7);
const SESSION_ID = "session-1";

/**
 * Whether `text` asks to type a command: what the panel hides in a hint (asksForCommand),
 * and more strictly anything in backquotes, a package manager, or a bucky command named
 * unquoted ("run bucky status"). Its first words are the CLI's (cmd/commands.ts).
 */
function asksToType(text: string): boolean {
  return (
    asksForCommand(text) ||
    text.includes("`") ||
    /\b(?:apt-get|apt|sudo|systemctl|dnf)\b/.test(text) ||
    /\bbucky (?:up|stop|init|join|daemon|status|devices|invite|app|store|gateway|ca|backup|zone|state|user|rule|agent|relay|put|get|rm|traffic|panel|login-link|mcp|sandbox-init|version)\b/.test(
      text,
    )
  );
}

describe("the check itself", () => {
  test("finds a command however it is asked for, and not in plain words about bucky", () => {
    expect(
      [
        "On beta, run `bucky backup verify`.",
        "Give it with --acme-directory URL.",
        "Install Podman (apt-get install podman runc).",
        "If it happens again, run bucky status on this device.",
        "在此设备上运行 bucky status。",
        "A newer bucky installed it: update bucky on this device.",
        "Its log is logs/bucky.log in its bucky home.",
        "It may run backups.",
      ].map(asksToType),
    ).toEqual([true, true, true, true, true, false, false, false]);
  });
});

// Every kind of reliability note, each for the device serving the panel (nas) and for
// another (laptop), where it names one: a kind without an entry here does not compile.
type NotesByKind = {
  readonly [K in ReliabilityNote["kind"]]: (
    device: string,
  ) => readonly Extract<ReliabilityNote, { kind: K }>[];
};
const NOTES: NotesByKind = {
  "no-backup": (device) =>
    (["not-reported", "no-key", "no-target", "first-running"] as const).map((why) => ({
      kind: "no-backup",
      device,
      why,
    })),
  "backup-failed": (device) => [
    { kind: "backup-failed", device, target: "usb", message: "the disk is gone" },
  ],
  "cannot-keep-up": (device) => [{ kind: "cannot-keep-up", device, target: "usb" }],
  outpaced: (device) => [
    { kind: "outpaced", device, target: "usb", changedPerHour: 2e9, shippedPerHour: 1e9 },
  ],
  "stale-backup": (device) => [{ kind: "stale-backup", device, hours: 30 }],
  "backup-changing": (device) => [
    { kind: "backup-changing", device, target: "usb", count: 1 },
    { kind: "backup-changing", device, target: "usb", count: 3 },
  ],
  "backup-left-out": (device) => [
    { kind: "backup-left-out", device, target: "usb", count: 1 },
    { kind: "backup-left-out", device, target: "usb", count: 2 },
  ],
  "prune-failing": (device) => [
    { kind: "prune-failing", device, target: "usb", days: 1, message: "the disk is gone" },
  ],
  "hot-failing": (device) => [
    {
      kind: "hot-failing",
      device,
      target: "usb",
      since: "2026-12-03T10:00:00.000Z",
      message: "the disk is gone",
    },
  ],
  "never-verified": (device) => [{ kind: "never-verified", device }],
  damaged: (device) => [{ kind: "damaged", device, target: "usb" }],
  "damage-to-store": (device) => [
    { kind: "damage-to-store", device, target: "usb", blobs: 1, foundBy: "nas" },
    { kind: "damage-to-store", device, target: "usb", blobs: 3, foundBy: "nas" },
  ],
  "forged-snapshots": (device) => [
    { kind: "forged-snapshots", device, target: "usb", count: 1 },
    { kind: "forged-snapshots", device, target: "usb", count: 3 },
  ],
  "forged-index": (device) => [
    { kind: "forged-index", device, target: "usb", count: 1 },
    { kind: "forged-index", device, target: "usb", count: 3 },
  ],
  "stale-verify": (device) => [{ kind: "stale-verify", device }],
  "no-copy-yet": (device) => [{ kind: "no-copy-yet", device, app: "notes" }],
  "copy-behind": (device) => [{ kind: "copy-behind", device, app: "notes", seconds: 90 }],
  "single-copy": (device) => [
    { kind: "single-copy", device, app: "notes", wanted: true },
    { kind: "single-copy", device, app: "notes", wanted: false },
  ],
  absent: (device) => [
    { kind: "absent", device, days: 9 },
    { kind: "absent", device, days: 9, aheadBy: ["phone"] },
  ],
  "clock-ahead": (device) => [
    {
      kind: "clock-ahead",
      device,
      by: ["phone"],
      figures: [{ by: "phone", seconds: 400, since: "2026-11-29T00:00:00.000Z" }],
    },
  ],
  "certificate-missing": (device) => [
    { kind: "certificate-missing", device, name: "photos.example" },
    { kind: "certificate-missing", device, name: "photos.example", error: "no answer" },
  ],
  "certificate-expired": (device) => [
    { kind: "certificate-expired", device, name: "photos.example", error: "no answer" },
  ],
  "certificate-expiring": (device) => [
    { kind: "certificate-expiring", device, name: "photos.example", days: 0 },
    { kind: "certificate-expiring", device, name: "photos.example", days: 5, error: "no" },
  ],
  "gateways-offline": (device) => [{ kind: "gateways-offline", devices: [device] }],
  "gateway-down": (device) => [
    {
      kind: "gateway-down",
      device,
      message: "127.0.0.1:8080 is in use",
      since: "2026-11-29T00:00:00.000Z",
    },
  ],
  stopped: (device) => [
    {
      kind: "stopped",
      device,
      reason: "state-altered",
      message: "the zone state was altered: row apps/x does not match its seal",
      at: "2026-12-03T00:00:00.000Z",
    },
  ],
  "certificates-left-out": (device) => [
    { kind: "certificates-left-out", device, count: 2, names: ["a.example", "b.example"] },
  ],
  "sync-refused": (device) =>
    ["E_PERMISSION", "E_CLOCK", "E_VERSION"].map((code) => ({
      kind: "sync-refused",
      device,
      peer: "phone",
      code,
      message: "refused",
      since: "2026-11-29T00:00:00.000Z",
    })),
  "disk-nearly-full": (device) => [
    {
      kind: "disk-nearly-full",
      device,
      freeBytes: 2 ** 30,
      totalBytes: 2 ** 36,
      largest: [{ what: "apps", bytes: 2 ** 35 }],
      leftovers: [],
    },
  ],
};

// Every kind of attention note, at least one of each (a tuple type: none is no sample).
type AttentionSamples = {
  readonly [K in keyof ZoneAttention]: readonly [
    ZoneAttention[K][number],
    ...ZoneAttention[K][number][],
  ];
};
const ATTENTION: AttentionSamples = {
  sandbox: [
    { kind: "device-unsandboxed", device: "laptop", problem: "no user namespaces" },
    { kind: "app-unsandboxed", app: "notes", device: "laptop" },
  ],
  imageNotes: [{ app: "photos", platforms: ["linux/amd64", "linux/arm64"] }],
  unreadableApps: [
    { app: "notes", problem: "spec version 9" },
    { app: "photos", problem: "spec version 9", newer: true },
  ],
  ungrantedPurges: [{ app: "notes", writtenBy: "laptop" }],
  quarantined: [{ device: "laptop", seq: 12 }],
  revokedForks: [
    { device: "laptop", keptSeq: 20, seq: 12, recutSeq: 11, admitted: [] },
    { device: "laptop", keptSeq: 20, seq: 12, recutSeq: 11, admitted: ["tablet"] },
    { device: "laptop", keptSeq: 20, seq: 1, recutSeq: 0, admitted: [] },
  ],
  brokenChains: [{ device: "laptop", peer: "phone", seq: 12, seenBy: "nas" }],
  nameClashes: [
    {
      name: "laptop",
      id: "dlost" as DeviceId,
      keptId: "dkept" as DeviceId,
      admittedBy: "nas",
      admittedAt: "2026-11-30T22:00:00.000Z",
    },
  ],
  publicPastBudget: [{ files: 2, bytes: 3 * 2 ** 30, budgetBytes: 8 * 2 ** 30 }],
  storedFilesAtRisk: [
    { files: 1, pastBudget: 0, budgetBytes: 32 * 2 ** 30 },
    { files: 3, pastBudget: 2, budgetBytes: 32 * 2 ** 30 },
  ],
  unsignedBudgets: [{ key: "system/files-budget", defaultBytes: 32 * 2 ** 30 }],
  writesRefused: [
    {
      device: "phone",
      author: "laptop",
      fromSeq: 57,
      reason: "agent-grants/x/y is reserved",
      since: "2026-12-01T00:00:00.000Z",
      deviceVersion: "0.1.0",
      authorVersion: "0.2.0",
      upgrade: "phone",
    },
    {
      device: "phone",
      author: "laptop",
      fromSeq: 57,
      reason: "refused",
      since: "2026-12-01T00:00:00.000Z",
      deviceVersion: null,
      authorVersion: null,
      upgrade: null,
    },
  ],
};

// Every remedy of a certificate's error (and none), for a gateway here and another.
type RemedySamples = {
  readonly [K in CertificateRemedy["kind"]]: (gateway: string) => CertificateRemedy & { kind: K };
};
const REMEDIES: RemedySamples = {
  approve: (gateway) => ({ kind: "approve", gateway }),
  "start-owner-device": (gateway) => ({ kind: "start-owner-device", gateway }),
  "external-account": (gateway) => ({ kind: "external-account", gateway }),
  "point-dns": (gateway) => ({ kind: "point-dns", gateway }),
  "open-port-80": (gateway) => ({ kind: "open-port-80", gateway }),
  "other-ca": (gateway) => ({ kind: "other-ca", gateway }),
  "check-internet": (gateway) => ({ kind: "check-internet", gateway }),
  "free-disk": (gateway) => ({ kind: "free-disk", gateway }),
  wait: (gateway) => ({ kind: "wait", gateway }),
};

function certificate(gateway: string, remedy: CertificateRemedy | null): ZoneCertificate {
  return {
    device: gateway,
    name: "photos.example",
    issuer: "acme",
    notAfter: null,
    // Plain words: the gateway's own (a member may write anything there, which the panel
    // says as its words and never as advice: panel.test.ts looks at that).
    lastError: { at: "2026-11-29T00:00:00.000Z", message: "it did not work" },
    remedy,
  };
}

/** The zone's status with every note of every kind, as the local API answers it. */
function statusWithEveryNote() {
  const devices = ["nas", "laptop"];
  return {
    device: { id: "dnas", name: "nas", holdsOwnerKey: true },
    zone: { id: "ztest", name: "home" },
    devices: [],
    backups: [],
    gateways: [],
    images: [],
    certificates: [
      ...devices.flatMap((gateway) =>
        Object.values(REMEDIES).map((remedy) => certificate(gateway, remedy(gateway))),
      ),
      certificate("laptop", null),
    ],
    reliability: {
      level: 1,
      meaning: "no-backup",
      unprotected: 0,
      notes: devices.flatMap((device) =>
        Object.values(NOTES).flatMap((notes): readonly ReliabilityNote[] => notes(device)),
      ),
    },
    warnings: [],
    ...ATTENTION,
    disk: [diskWith("laptop", [])],
  };
}

const OWNER: Viewer = {
  kind: "person",
  user: "owner" as UserName,
  role: "owner",
  session: {} as UserSession,
};
const DEVICE: Viewer = { kind: "device", device: "dtest" as never, deviceName: "phone" };

/** What a person reads of a page: its text, without its markup, style or script. */
function readable(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>.*?<\/\1>/gs, "")
    .replace(/<[^>]*>/g, " ")
    .replaceAll("&#39;", "'")
    .replaceAll("&quot;", '"')
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&");
}

/** The sentences of `text` (of either language) that ask to type a command. */
function commandsIn(text: string): string[] {
  return text
    .split(/(?<=[.。])\s+|\n/)
    .map((sentence) => sentence.trim())
    .filter(asksToType);
}

describe("the overview, with every note of every kind", () => {
  const status = statusWithEveryNote();
  const overview = async (viewer: Viewer, language: string) => {
    const panel = createPanel(
      async (request) => {
        const path = new URL(request.url).pathname;
        return path === "/v1/status"
          ? Response.json(status)
          : Response.json({ error: { code: "E_NOT_FOUND", message: "-" } }, { status: 404 });
      },
      createLog({ level: "silent" }),
    );
    const answer = await panel.request(
      "http://gw.test/_bucky/panel/",
      { headers: { "accept-language": language } },
      { viewer, sessionId: SESSION_ID, noticeKey: NOTICE_KEY },
    );
    expect(answer.status).toBe(200);
    return readable(await answer.text());
  };

  for (const language of ["en", "zh-CN"]) {
    for (const [who, viewer] of [
      ["an owner", OWNER],
      ["a device's session", DEVICE],
    ] as const) {
      test(`asks ${who} to type no command (${language})`, async () => {
        const page = await overview(viewer, language);
        // The notes are there to be looked at: a page that showed none would pass anyway.
        const t = language === "en" ? en : zhCN;
        expect(page).toContain(t.notes.deviceQuarantined({ device: "laptop", seq: 12 }));
        expect(page).toContain(
          t.overview.certificateRemedies["external-account"]({ gateway: "laptop" }),
        );
        expect(commandsIn(page)).toEqual([]);
      });
    }
  }
});

describe("an app's problem in the zone's own words", () => {
  // An image app no device of the zone runs images for: why it waits, as the zone says it
  // (lib/replica/zone-holding.ts), not a sample that could drift from it.
  const waiting = holdingOf(
    {
      app: "photos",
      manifest: { data: [], placement: "any", standbys: 0 },
      image: { platforms: ["linux/amd64"] },
      placement: "any",
      desired: "running",
    } as unknown as AppSpec,
    { members: [{ name: "nas", id: "dnas" }], live: [{ name: "nas", id: "dnas" }] },
    { claims: new Map(), draining: new Set(), copies: new Map(), engines: new Map() },
  ).waiting;
  const photos = {
    app: "photos",
    version: "1.0.0",
    state: "pending",
    device: null,
    url: null,
    sandboxed: false,
    engine: null,
    image: `sha256:${"ab".repeat(32)}`,
    restarts: 0,
    error: waiting,
    reportedBy: null,
    placement: "any",
    desired: "running",
    package: `sha256:${"cd".repeat(32)}`,
    exposure: "zone",
    shared: null,
    data: null,
  };

  for (const language of ["en", "zh-CN"])
    for (const path of ["", "apps", "apps/photos"])
      test(`asks to type no command on the page /${path} (${language})`, async () => {
        const panel = createPanel(
          async (request) => {
            const asked = new URL(request.url).pathname;
            if (asked === "/v1/apps") return Response.json({ apps: [photos] });
            if (asked === "/v1/apps/photos") return Response.json(photos);
            return Response.json({ error: { code: "E_NOT_FOUND", message: "-" } }, { status: 404 });
          },
          createLog({ level: "silent" }),
        );
        const answer = await panel.request(
          `http://gw.test/_bucky/panel/${path}`,
          { headers: { "accept-language": language } },
          { viewer: OWNER, sessionId: SESSION_ID, noticeKey: NOTICE_KEY },
        );
        expect(answer.status).toBe(200);
        const page = readable(await answer.text());
        expect(waiting).toBeString();
        expect(page).toContain(waiting as string);
        expect(commandsIn(page)).toEqual([]);
      });
});

/**
 * Values to say a text with, by the name of the value: each text is said with the first of
 * each, then again with each other one in turn, so both sides of its choices are read.
 */
const SAMPLES: Record<string, readonly unknown[]> = {
  device: ["laptop"],
  gateway: ["laptop"],
  peer: ["phone"],
  seenBy: ["nas"],
  relay: ["phone"],
  by: ["phone"],
  writtenBy: ["laptop"],
  author: ["laptop"],
  fromSeq: [57],
  reason: ["agent-grants/x/y is reserved"],
  deviceVersion: ["0.1.0", null],
  authorVersion: ["0.2.0", null],
  upgrade: ["phone", null],
  foundBy: ["nas"],
  keptId: ["dkept"],
  admittedBy: ["nas"],
  id: ["dlost"],
  app: ["notes"],
  agent: ["helper"],
  person: ["ada"],
  user: ["ada"],
  client: ["192.0.2.7"],
  role: ["member"],
  whom: ["ada"],
  catalog: ["family"],
  title: ["Family apps"],
  publisher: ["ed25519:abcd"],
  target: ["usb"],
  targets: ["usb, nas-share"],
  budget: ["8.0 GiB"],
  key: ["system/files-budget"],
  subject: ["notes"],
  snapshot: ["0123abcd"],
  server: ["sftp://ada@backup.example/bucky"],
  fingerprint: ["SHA256:abcd"],
  name: ["photos.jpg"],
  names: ["a.example, b.example"],
  path: ["photos/cat (restored).jpg"],
  zone: ["home"],
  page: ["Devices"],
  version: ["1.2.0", 2],
  from: ["1.1.0", "08:00"],
  to: ["17:00"],
  days: [3, 0, 1],
  hours: [30, 0, 1],
  blobs: [3, 1],
  epoch: [2, null],
  seconds: [90, 1],
  silentSeconds: [70, null],
  holder: ["laptop"],
  count: [3, 1, 0],
  apps: [3, 1],
  files: [3, 1],
  pastBudget: [0, 1, 2],
  seq: [12, 1],
  keptSeq: [20],
  recutSeq: [11, 0],
  admitted: [[], ["tablet"]],
  platforms: [["linux/amd64", "linux/arm64"]],
  devices: [["laptop"], ["laptop", "phone"]],
  figures: [[{ by: "phone", seconds: 400 }]],
  level: [2],
  ms: [12],
  free: ["1.0 GiB"],
  total: ["100.0 GiB"],
  size: ["1.0 GiB"],
  done: ["12.0 MiB"],
  time: ["yesterday"],
  value: ["12"],
  label: ["this hour"],
  query: ["photos"],
  permission: ["camera"],
  what: ["scopes"],
  address: ["https://notes.home.example"],
  out: ["./catalog"],
  state: ["stopped"],
  code: ["E_PERMISSION", "E_CLOCK", "E_VERSION"],
  // A device's own words, which the panel says as its words (panel.test.ts looks at those).
  message: ["the disk is gone"],
  problem: ["no user namespaces"],
  error: [undefined, "no answer"],
  rule: ["0a1b2c3d"],
  places: [["usb", "nas-share"], []],
  rps: [10],
  retryS: ["3"],
  bytes: [67108864],
  method: ["PUT"],
  host: ["home.example"],
  why: [
    { code: "not-signed-in" },
    { code: "signed-out" },
    { code: "gateway-gone" },
    { code: "link-device-gone" },
    { code: "forwarder-gone" },
    { code: "person-gone", user: "ada" },
    { code: "credential-gone", user: "ada", credential: "passkey" },
    { code: "credential-gone", user: "ada", credential: "password" },
    { code: "invalid", detail: "it expired" },
  ],
};

/**
 * The texts that name a command, each where nothing else will do: the owner's way in from
 * a device (`bucky login-link`), on the gateway's sign-in pages. Signing in is what leads
 * to the panel, so the panel cannot be where it is done.
 */
const OWNER_AT_A_DEVICE = new Set([
  "gatewayPages.signInHow",
  "gatewayPages.loginLinkNew",
  "accountPages.noWayIn",
]);

/**
 * Each text `say` gives, with values from SAMPLES by the names it reads: a name it reads
 * that has no sample fails, so a new text is never passed over.
 */
function saidWithSamples(say: (values: unknown) => unknown, where: string): string[] {
  const read = new Set<string>();
  const values = (choice: Record<string, number>) =>
    new Proxy(
      {},
      {
        get(_, name) {
          if (typeof name !== "string") return undefined;
          const samples = SAMPLES[name];
          if (!samples) throw new Error(`${where} reads "${name}": give it a sample in SAMPLES`);
          read.add(name);
          return samples[choice[name] ?? 0];
        },
        has: (_, name) => typeof name === "string" && name in SAMPLES,
      },
    );
  const said = [String(say(values({})))];
  for (const name of [...read])
    for (let choice = 1; choice < (SAMPLES[name]?.length ?? 0); choice++)
      said.push(String(say(values({ [name]: choice }))));
  return said;
}

/** Every text of `words` with where it is, functions said with samples; the CLI's left out. */
function everyText(words: object, where: string): { where: string; text: string }[] {
  return Object.entries(words).flatMap(([key, value]) => {
    const at = where ? `${where}.${key}` : key;
    if (at === "cli") return []; // the commands' own text: a terminal, where commands belong
    if (typeof value === "string") return [{ where: at, text: value }];
    if (typeof value === "function")
      return saidWithSamples(value as (values: unknown) => unknown, at).map((text) => ({
        where: at,
        text,
      }));
    if (value && typeof value === "object") return everyText(value, at);
    return [];
  });
}

describe("every text the panel can say", () => {
  for (const [language, words] of [
    ["en", en],
    ["zh-CN", zhCN],
  ] as [string, Messages][]) {
    test(`asks to type no command (${language})`, () => {
      const texts = everyText(words, "");
      expect(texts.length).toBeGreaterThan(300);
      const asking = texts.filter(({ text }) => asksToType(text));
      expect(asking.filter(({ where }) => !OWNER_AT_A_DEVICE.has(where))).toEqual([]);
      // Each is still one that asks (kept in step with the catalogs).
      expect(new Set(asking.map(({ where }) => where))).toEqual(OWNER_AT_A_DEVICE);
    });
  }

  test("the commands' own text (which may name commands) is never the panel's", () => {
    const panelFiles = readdirSync(import.meta.dir).filter((file) => /\.tsx?$/.test(file));
    const readsCli = panelFiles.filter(
      (file) =>
        !file.endsWith(".test.ts") &&
        /\.cli\b/.test(readFileSync(`${import.meta.dir}/${file}`, "utf8")),
    );
    expect(panelFiles.length).toBeGreaterThan(10);
    expect(readsCli).toEqual([]);
  });
});
