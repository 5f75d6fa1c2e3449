/**
 * The zone's control panel, served by every gateway at /_bucky/panel/ to people with a
 * session. Pages are rendered on the server from the local API's answers; every action
 * is a plain form posted here, which calls the same API the CLI calls and comes back to
 * the page with what happened (post, then redirect, so a reload repeats nothing). It
 * needs no script, so it works with the keyboard alone and on any phone.
 *
 * What a session sees and does depends on whose it is (lib/users/access.ts): admins the
 * whole zone; a device's session the whole zone too, acting only as any member device
 * may (no invitation, revocation, person or backup: those use keys of the device serving
 * the panel); everyone else the apps shared with them, and their own agents.
 */
import { type Context, Hono } from "hono";
import type { Child } from "hono/jsx";
import { renderSVG } from "uqr";
import { personReach } from "../../protocol/agent-token.ts";
import type { AgentRecord } from "../agent/grants.ts";
import type { AppStatus } from "../apps/status.ts";
import { MCP_PATH, PANEL_PATH } from "../gateway/routing.ts";
import { type ApiError, type ApiFetch, type ApiResult, LocalApi } from "../node/local-client.ts";
import { formatBytes } from "../units.ts";
import { mayUseApp, panelRights, type Viewer } from "../users/access.ts";
import type { Enrolled, PersonView } from "../users/accounts.ts";
import type { DeviceView } from "../zone/devices.ts";
import type { DeviceDisk, ZoneBackup, ZoneCertificate, ZoneStatus } from "../zone/status.ts";
import { type Bar, BarChart } from "./chart.tsx";
import { Action, href, Layout, type Notice, Tag } from "./layout.tsx";

const HOUR_MS = 3_600_000;

interface BackupTarget {
  readonly name: string;
  readonly url: string;
  /** The device that reaches it, and whether this one does itself or through it. */
  readonly via: string | null;
  readonly reach: "direct" | "through";
  readonly lastBackup?: { at: string; snapshot: string; durationMs: number };
  readonly lastBackupError?: { at: string; message: string };
  readonly lastVerify?: { at: string; ok: boolean; damaged: number };
}

interface Snapshot {
  readonly id: string;
  readonly time: string;
  readonly device: string;
  readonly files: number;
  readonly bytes: number;
  readonly addedBytes: number;
}

type Status = ZoneStatus;

/** Whose session the panel serves a request for: the gateway says. */
export type PanelEnv = { Bindings: { viewer: Viewer } };

/** Which right a section's pages (GET) and actions (POST) need; "" and agents are everyone's. */
const SECTION_RIGHTS: Record<
  string,
  { see: "seeZone" | null; act: "manageApps" | "useDeviceKeys" | null }
> = {
  "": { see: null, act: null },
  agents: { see: null, act: null },
  devices: { see: "seeZone", act: "useDeviceKeys" },
  people: { see: "seeZone", act: "useDeviceKeys" },
  backups: { see: "seeZone", act: "useDeviceKeys" },
  apps: { see: "seeZone", act: "manageApps" },
  rules: { see: "seeZone", act: "manageApps" },
};

export function createPanel(fetch: ApiFetch): Hono<PanelEnv> {
  const api = new LocalApi(fetch);
  const app = new Hono<PanelEnv>({ strict: false }).basePath(PANEL_PATH);

  /** A page: the zone's name in the frame, and the notice the last action left. */
  const render = async (
    c: { req: { query(name: string): string | undefined }; env: PanelEnv["Bindings"] },
    section: string,
    title: string,
    body: Child,
  ) => {
    const status = await api.get<Status>("/v1/status");
    const notice = noticeOf(c.req.query("ok"), c.req.query("error"), c.req.query("hint"));
    return (
      <Layout
        title={title}
        section={section}
        zone={status.ok ? status.data.zone.name : "bucky"}
        viewer={c.env.viewer}
        notice={notice}
      >
        {body}
      </Layout>
    );
  };

  // Never inside another site's frame: its buttons act (remove a person, revoke a device).
  app.use("*", async (c, next) => {
    await next();
    c.header("x-frame-options", "DENY");
    c.header("content-security-policy", "frame-ancestors 'none'");
  });

  // Forms come from the panel's own pages: a post from another site is refused.
  app.use("*", async (c, next) => {
    if (c.req.method === "POST") {
      const origin = c.req.header("origin");
      const host = c.req.header("host");
      if (origin && host && new URL(origin).host !== host)
        return c.text("This form was sent from another site and was not acted on.", 403);
    }
    await next();
  });

  // Each session sees and does what its person (or device) may: nothing more.
  app.use("*", async (c, next) => {
    const section = c.req.path.slice(PANEL_PATH.length + 1).split("/")[0] ?? "";
    const needs = SECTION_RIGHTS[section] ?? { see: "seeZone", act: "useDeviceKeys" };
    const rights = panelRights(c.env.viewer);
    const right = c.req.method === "POST" ? (needs.act ?? needs.see) : needs.see;
    if (right !== null && !rights[right]) {
      const why =
        right === "useDeviceKeys" && c.env.viewer.kind === "device"
          ? "A device's session cannot do that: it needs keys of the device serving this panel. Sign in as an admin."
          : "Only the zone's admins can see or do that.";
      return c.html(await render(c, "", "Not yours to see", <p role="alert">{why}</p>), 403);
    }
    await next();
  });

  app.get("/", async (c) => {
    if (!panelRights(c.env.viewer).seeZone) {
      const apps = await api.get<{ apps: AppStatus[] }>("/v1/apps");
      return c.html(
        await render(
          c,
          "",
          "Your apps",
          shown(apps, (data) => (
            <YourApps apps={data.apps.filter((a) => mayUseApp(c.env.viewer, a))} />
          )),
        ),
      );
    }
    const [status, devices, apps, traffic] = await Promise.all([
      api.get<Status>("/v1/status?disk=1"),
      api.get<{ devices: DeviceView[] }>("/v1/devices"),
      api.get<{ apps: AppStatus[] }>("/v1/apps"),
      api.get<{ series?: { app: string; points: { at: string; requests: number }[] }[] }>(
        "/v1/traffic/zone",
      ),
    ]);
    return c.html(
      await render(
        c,
        "",
        "Overview",
        <>
          {shown(status, (data) => (
            <Reliability status={data} />
          ))}
          <h2>Devices</h2>
          {shown(devices, (data) => (
            <DeviceTable devices={data.devices} actions={false} />
          ))}
          <h2>Apps</h2>
          {shown(apps, (data) => (
            <AppTable apps={data.apps} actions={false} />
          ))}
          <h2>Backups</h2>
          {shown(status, (data) => (
            <ZoneBackups backups={data.backups} />
          ))}
          <h2>Disk</h2>
          {shown(status, (data) => (
            <DiskTable disk={data.disk ?? []} />
          ))}
          <h2>Certificates</h2>
          {shown(status, (data) => (
            <ZoneCertificates certificates={data.certificates} />
          ))}
          <h2>Traffic in the last day, on every gateway</h2>
          {shown(traffic, (data) => (
            <TrafficCharts series={data.series ?? []} />
          ))}
        </>,
      ),
    );
  });

  // The zone CA's root, to trust on phones and laptops (served as a CA certificate, which
  // they offer to install).
  app.get("/zone-ca.crt", async (c) => {
    const root = await api.post<{ pem: string }>("/v1/ca");
    if (!root.ok)
      return c.html(await render(c, "", "The zone's CA", <Failure error={root.error} />));
    return c.body(root.data.pem, 200, {
      "content-type": "application/x-x509-ca-cert",
      "content-disposition": 'attachment; filename="zone-ca.crt"',
    });
  });

  app.get("/devices", async (c) => {
    const devices = await api.get<{ devices: DeviceView[] }>("/v1/devices");
    return c.html(
      await render(
        c,
        "devices",
        "Devices",
        <>
          {shown(devices, (data) => (
            <DeviceTable devices={data.devices} actions={true} />
          ))}
          <h2>Add a device</h2>
          <p>
            An invitation lets one new device join. On it, run{" "}
            <code>bucky join &lt;invitation&gt;</code>.
          </p>
          <form class="stack" method="post" action={href("devices/invite")}>
            <label>
              Valid for
              <select name="ttlMs">
                <option value={String(HOUR_MS)}>1 hour</option>
                <option value={String(24 * HOUR_MS)}>1 day</option>
                <option value={String(7 * 24 * HOUR_MS)}>7 days</option>
              </select>
            </label>
            <button type="submit">Create an invitation</button>
          </form>
        </>,
      ),
    );
  });

  app.post("/devices/invite", async (c) => {
    const form = await c.req.parseBody();
    const invite = await api.post<{ token: string; expiresAt: number }>("/v1/invites", {
      ttlMs: Number(form.ttlMs ?? HOUR_MS),
      uses: 1,
    });
    if (!invite.ok) return c.redirect(backTo("devices", invite), 303);
    // Shown once, right here: the token is a secret, so it never goes into an address.
    return c.html(
      await render(
        c,
        "devices",
        "Invitation",
        <>
          <p>
            On the new device, run this (valid until {new Date(invite.data.expiresAt).toISOString()}
            , for one device):
          </p>
          <pre id="invitation">{`bucky join ${invite.data.token}`}</pre>
          <p>Or scan it with the new device:</p>
          <div
            class="qr"
            role="img"
            aria-label="The invitation as a QR code"
            dangerouslySetInnerHTML={{ __html: renderSVG(invite.data.token) }}
          />
          <p>
            <a href={href("devices")}>Back to the devices</a>
          </p>
        </>,
      ),
    );
  });

  app.post("/devices/:name/revoke", async (c) => {
    const name = c.req.param("name");
    const result = await api.post(`/v1/devices/${encodeURIComponent(name)}/revoke`);
    return c.redirect(
      backTo("devices", result, `${name} is revoked: the zone no longer trusts it.`),
      303,
    );
  });

  app.get("/people", async (c) => {
    const people = await api.get<{ people: PersonView[] }>("/v1/users");
    const acts = panelRights(c.env.viewer).useDeviceKeys;
    return c.html(
      await render(
        c,
        "people",
        "People",
        <>
          {shown(people, (data) => (
            <PeopleTable people={data.people} actions={acts} />
          ))}
          <h2>Add a person</h2>
          <p>
            They get a link that works once: opened on their phone or computer, it lets them make a
            passkey, or choose a password. Then they sign in on any gateway of the zone.
          </p>
          <form class="stack" method="post" action={href("people/add")}>
            <label>
              Their name (lowercase letters, digits, hyphens)
              <input type="text" name="name" required autocomplete="off" />
            </label>
            <label>
              Role
              <select name="role">
                <option value="member">member: sees the apps shared with them</option>
                <option value="child">child: the same, and rules can name children</option>
                <option value="admin">admin: sees and manages the whole zone</option>
              </select>
            </label>
            <button type="submit">Add</button>
          </form>
        </>,
      ),
    );
  });

  /** The page that shows an enrollment link once, as text and as a QR code. */
  const enrolled = async (c: Context<PanelEnv>, result: ApiResult<Enrolled>, back: string) => {
    if (!result.ok) return c.redirect(backTo("people", result), 303);
    const { user, role, enrollment } = result.data;
    return c.html(
      await render(
        c,
        "people",
        `A link for ${user}`,
        <>
          <p>{`${back} Send ${user} (${role}) this link privately: it works once, at the gateway ${enrollment.gateway}, until ${enrollment.expiresAt}.`}</p>
          <pre id="enrollment">{enrollment.url}</pre>
          <p>Or let them scan it:</p>
          <div
            class="qr"
            role="img"
            aria-label="The link as a QR code"
            dangerouslySetInnerHTML={{ __html: renderSVG(enrollment.url) }}
          />
          <p>
            <a href={href("people")}>Back to the people</a>
          </p>
        </>,
      ),
    );
  };

  app.post("/people/add", async (c) => {
    const form = await c.req.parseBody();
    const result = await api.post<Enrolled>("/v1/users", {
      name: typeof form.name === "string" ? form.name.trim() : "",
      role: typeof form.role === "string" ? form.role : "member",
    });
    return enrolled(c, result, "Added.");
  });

  app.post("/people/:name/reset", async (c) => {
    const result = await api.post<Enrolled>(
      `/v1/users/${encodeURIComponent(c.req.param("name"))}/reset`,
      {},
    );
    return enrolled(
      c,
      result,
      "Their old passkey or password, and their sessions, no longer work.",
    );
  });

  app.post("/people/:name/remove", async (c) => {
    const name = c.req.param("name");
    const result = await api.delete(`/v1/users/${encodeURIComponent(name)}`);
    return c.redirect(
      backTo("people", result, `${name} is removed: their sessions end on every gateway.`),
      303,
    );
  });

  app.get("/apps", async (c) => {
    const [apps, devices] = await Promise.all([
      api.get<{ apps: AppStatus[] }>("/v1/apps"),
      api.get<{ devices: DeviceView[] }>("/v1/devices"),
    ]);
    const names = devices.ok
      ? devices.data.devices.filter((d) => d.status !== "revoked").map((d) => d.name)
      : [];
    return c.html(
      await render(
        c,
        "apps",
        "Apps",
        <>
          {shown(apps, (data) => (
            <AppTable apps={data.apps} actions={true} />
          ))}
          <h2>Install an app</h2>
          <form
            class="stack"
            method="post"
            action={href("apps/install")}
            enctype="multipart/form-data"
          >
            <label>
              The app's directory, as a .tar or .tar.gz archive
              <input
                type="file"
                name="archive"
                accept=".tar,.tgz,.tar.gz,application/x-tar,application/gzip"
              />
            </label>
            <label>
              or a package id already in the zone
              <input
                type="text"
                name="package"
                placeholder="clist:… or sha256:…"
                autocomplete="off"
              />
            </label>
            <DeviceSelect names={names} />
            <button type="submit">Install</button>
          </form>
        </>,
      ),
    );
  });

  app.post("/apps/install", async (c) => {
    const form = await c.req.parseBody();
    const device = typeof form.device === "string" && form.device ? form.device : undefined;
    const archive = form.archive;
    let result: ApiResult<{ app: string; version: string }>;
    if (archive instanceof File && archive.size > 0) {
      const query = device ? `?device=${encodeURIComponent(device)}` : "";
      result = await api.upload(
        `/v1/apps/archive${query}`,
        new Uint8Array(await archive.arrayBuffer()),
      );
    } else if (typeof form.package === "string" && form.package.trim()) {
      result = await api.post("/v1/apps", {
        package: form.package.trim(),
        ...(device ? { device } : {}),
      });
    } else {
      return c.redirect(
        `${href("apps")}?error=${encodeURIComponent("Choose an archive, or give a package id.")}`,
        303,
      );
    }
    return c.redirect(
      backTo(
        "apps",
        result,
        result.ok ? `Installed ${result.data.app} ${result.data.version}.` : "",
      ),
      303,
    );
  });

  for (const [verb, done] of [
    ["start", "will start"],
    ["stop", "will stop"],
    ["remove", "is removed (its data is kept)"],
  ] as const) {
    app.post(`/apps/:app/${verb}`, async (c) => {
      const name = c.req.param("app");
      const path = `/v1/apps/${encodeURIComponent(name)}`;
      const result = verb === "remove" ? await api.delete(path) : await api.post(`${path}/${verb}`);
      return c.redirect(backTo("apps", result, `${name} ${done}.`), 303);
    });
  }

  app.get("/apps/:app", async (c) => {
    const name = c.req.param("app");
    const [status, logs] = await Promise.all([
      api.get<AppStatus>(`/v1/apps/${encodeURIComponent(name)}`),
      api.get<{ device: string; lines: string[] }>(
        `/v1/apps/${encodeURIComponent(name)}/logs?lines=50`,
      ),
    ]);
    return c.html(
      await render(
        c,
        "apps",
        name,
        <>
          {shown(status, (data) => (
            <>
              <AppTable apps={[data]} actions={true} />
              {data.exposure === "zone" ? <ShareForm app={data} /> : null}
            </>
          ))}
          <h2>Recent output</h2>
          {shown(logs, ({ lines }) =>
            lines.length > 0 ? <pre>{lines.join("\n")}</pre> : <p class="muted">Nothing yet.</p>,
          )}
        </>,
      ),
    );
  });

  app.post("/apps/:app/share", async (c) => {
    const name = c.req.param("app");
    const form = await c.req.parseBody();
    const names =
      typeof form.with === "string"
        ? form.with
            .split(",")
            .map((n) => n.trim())
            .filter(Boolean)
        : [];
    const everyone = names.length === 0 || (names.length === 1 && names[0] === "everyone");
    const result = await api.put(`/v1/apps/${encodeURIComponent(name)}/share`, {
      with: everyone ? null : names,
    });
    return c.redirect(
      backTo(
        `apps/${encodeURIComponent(name)}`,
        result,
        everyone
          ? `${name} is shared with everyone.`
          : `${name} is shared with ${names.join(", ")}.`,
      ),
      303,
    );
  });

  // A person's own AI agents: granted here, for themselves, reaching no further than them.
  app.get("/agents", async (c) => {
    const viewer = c.env.viewer;
    if (viewer.kind !== "person")
      return c.html(
        await render(
          c,
          "agents",
          "Agents",
          <p>
            A device grants agents with <code>bucky agent grant</code>; here, people sign in to
            grant agents of their own.
          </p>,
        ),
      );
    const agents = await api.get<{ agents: AgentRecord[] }>(
      `/v1/agents?user=${encodeURIComponent(viewer.user)}`,
    );
    const reach = personReach(viewer.role);
    return c.html(
      await render(
        c,
        "agents",
        "Your agents",
        <>
          <p>
            An AI agent you grant here acts for you, and reaches no further than you:{" "}
            {`it may read ${reach.read.join(" and ")}`}
            {reach.act.length > 0 ? ` and do ${reach.act.join(", ")}` : ""}. It connects to{" "}
            <code>{MCP_PATH}</code> on this gateway with its token.
          </p>
          {shown(agents, (data) => (
            <AgentList agents={data.agents} />
          ))}
          <h2>Grant an agent</h2>
          <form class="stack" method="post" action={href("agents/grant")}>
            <label>
              Its name (lowercase letters, digits, hyphens)
              <input type="text" name="name" required autocomplete="off" />
            </label>
            {reach.read.map((scope) => (
              <label>
                <span>
                  <input type="checkbox" name="read" value={scope} checked /> {`read ${scope}`}
                </span>
              </label>
            ))}
            {reach.act.map((action) => (
              <label>
                <span>
                  <input type="checkbox" name="act" value={action} /> {action}
                </span>
              </label>
            ))}
            <label>
              For
              <select name="ttlMs">
                <option value={String(7 * 24 * HOUR_MS)}>7 days</option>
                <option value={String(30 * 24 * HOUR_MS)}>30 days</option>
              </select>
            </label>
            <button type="submit">Grant</button>
          </form>
        </>,
      ),
    );
  });

  app.post("/agents/grant", async (c) => {
    const viewer = c.env.viewer;
    if (viewer.kind !== "person") return c.redirect(href("agents"), 303);
    const form = await c.req.parseBody({ all: true });
    const list = (value: unknown) =>
      (Array.isArray(value) ? value : value === undefined ? [] : [value]).map(String);
    const name = typeof form.name === "string" ? form.name.trim() : "";
    const granted = await api.post<{ token: string; record: AgentRecord }>("/v1/agents", {
      name: `${viewer.user}-${name}`,
      read: list(form.read),
      act: list(form.act),
      ttlMs: Number(form.ttlMs ?? 7 * 24 * HOUR_MS),
      user: viewer.user,
    });
    if (!granted.ok) return c.redirect(backTo("agents", granted), 303);
    // Shown once, right here: the token is a secret, so it never goes into an address.
    return c.html(
      await render(
        c,
        "agents",
        `Agent ${granted.data.record.agent}`,
        <>
          <p>
            {`Give your agent this token (until ${granted.data.record.expiresAt}); it sends it as `}
            <code>Authorization: Bearer …</code> to <code>{MCP_PATH}</code> on this gateway.
          </p>
          <pre id="agent-token">{granted.data.token}</pre>
          <p>
            <a href={href("agents")}>Back to your agents</a>
          </p>
        </>,
      ),
    );
  });

  app.post("/agents/:name/revoke", async (c) => {
    const viewer = c.env.viewer;
    if (viewer.kind !== "person") return c.redirect(href("agents"), 303);
    const name = c.req.param("name");
    const result = await api.post(`/v1/agents/${encodeURIComponent(name)}/revoke`, {
      user: viewer.user,
    });
    return c.redirect(backTo("agents", result, `${name} is revoked.`), 303);
  });

  app.get("/backups", async (c) => {
    const backups = await api.get<{ holdsBackupKey: boolean; targets: BackupTarget[] }>(
      "/v1/backups",
    );
    const charts = backups.ok
      ? await Promise.all(
          backups.data.targets.map(async (t) => ({
            target: t.name,
            snapshots: await api.get<{ snapshots: Snapshot[] }>(
              `/v1/backups/${encodeURIComponent(t.name)}/snapshots`,
            ),
          })),
        )
      : [];
    return c.html(
      await render(
        c,
        "backups",
        "Backups",
        shown(backups, ({ targets, holdsBackupKey }) => (
          <>
            <BackupTable targets={targets} />
            {holdsBackupKey && targets.length > 0 ? (
              <p>
                <Action action={href("backups/run")} label="Back up now" />
              </p>
            ) : targets.length === 0 ? (
              <p>
                No target yet: on this device, run{" "}
                <code>bucky backup target add usb /mnt/usb/bucky</code>.
              </p>
            ) : (
              <p class="muted">
                This device does not hold the backup key: on it, run <code>bucky backup key</code>
                (it asks for the recovery phrase), or back up from the device that created the zone.
              </p>
            )}
            {charts.map(({ target, snapshots }) => (
              <>
                <h2>{`Snapshots in ${target}`}</h2>
                {shown(snapshots, (data) => (
                  <SnapshotList snapshots={data.snapshots} />
                ))}
              </>
            ))}
          </>
        )),
      ),
    );
  });

  app.post("/backups/run", async (c) => {
    const result = await api.post<{ started: string[]; running: string[] }>("/v1/backups/run", {});
    const text = result.ok
      ? `${result.data.started.length > 0 ? `A backup started to ${result.data.started.join(", ")}. ` : ""}${result.data.running.length > 0 ? `Already running: ${result.data.running.join(", ")}.` : ""} Reload in a moment to see it.`
      : "";
    return c.redirect(backTo("backups", result, text), 303);
  });

  app.get("/rules", async (c) => {
    const [rules, apps, devices, people] = await Promise.all([
      api.get<{ rules: { id: string; description: string }[] }>("/v1/rules"),
      api.get<{ apps: AppStatus[] }>("/v1/apps"),
      api.get<{ devices: DeviceView[] }>("/v1/devices"),
      api.get<{ people: PersonView[] }>("/v1/users"),
    ]);
    const appNames = apps.ok ? apps.data.apps.map((a) => a.app) : [];
    const deviceNames = devices.ok ? devices.data.devices.map((d) => d.name) : [];
    const personNames = people.ok ? people.data.people.map((p) => p.name) : [];
    return c.html(
      await render(
        c,
        "rules",
        "Rules",
        <>
          <p>
            Every gateway of the zone enforces these: a blocked request gets a page naming the rule.
          </p>
          {shown(rules, (data) =>
            data.rules.length === 0 ? (
              <p class="muted">No rules.</p>
            ) : (
              <div class="scroll">
                <table>
                  <thead>
                    <tr>
                      <th>Rule</th>
                      <th>What it does</th>
                      <th />
                    </tr>
                  </thead>
                  <tbody>
                    {data.rules.map((rule) => (
                      <tr>
                        <td>
                          <code>{rule.id}</code>
                        </td>
                        <td>{rule.description}</td>
                        <td>
                          <Action
                            action={href(`rules/${rule.id}/remove`)}
                            label="Remove"
                            danger={true}
                          />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ),
          )}
          <h2>Block an app</h2>
          <form class="stack" method="post" action={href("rules/add")}>
            <label>
              App
              <select name="app" required>
                {appNames.map((name) => (
                  <option value={name}>{name}</option>
                ))}
              </select>
            </label>
            <label>
              Only for (optional)
              <select name="whom">
                <option value="">everyone</option>
                <optgroup label="A person">
                  {personNames.map((name) => (
                    <option value={`user:${name}`}>{name}</option>
                  ))}
                </optgroup>
                <optgroup label="Everyone of a role">
                  <option value="role:child">children</option>
                  <option value="role:member">members</option>
                </optgroup>
                <optgroup label="The sessions of a device">
                  {deviceNames.map((name) => (
                    <option value={`device:${name}`}>{name}</option>
                  ))}
                </optgroup>
              </select>
            </label>
            <label>
              Only between (optional, like 21:00-07:00)
              <input
                type="text"
                name="between"
                pattern="\d{1,2}:\d{2}-\d{1,2}:\d{2}"
                placeholder="21:00-07:00"
              />
            </label>
            <label>
              Only on (optional, like mon-fri)
              <input type="text" name="days" placeholder="mon-fri" />
            </label>
            <button type="submit">Add the rule</button>
          </form>
        </>,
      ),
    );
  });

  app.post("/rules/add", async (c) => {
    const form = await c.req.parseBody();
    const field = (name: string) =>
      typeof form[name] === "string" && form[name] ? (form[name] as string) : undefined;
    const [kind, whom] = (field("whom") ?? "").split(":", 2) as [string, string | undefined];
    const result = await api.post<{ id: string }>("/v1/rules", {
      action: "block",
      app: field("app") ?? "",
      ...(whom && ["user", "role", "device"].includes(kind) ? { [kind]: whom } : {}),
      ...(field("device") ? { device: field("device") } : {}),
      ...(field("between") ? { between: field("between") } : {}),
      ...(field("days") ? { days: field("days") } : {}),
    });
    return c.redirect(
      backTo("rules", result, result.ok ? `Rule ${result.data.id} added.` : ""),
      303,
    );
  });

  app.post("/rules/:id/remove", async (c) => {
    const id = c.req.param("id");
    const result = await api.delete(`/v1/rules/${encodeURIComponent(id)}`);
    return c.redirect(backTo("rules", result, `Rule ${id} removed.`), 303);
  });

  app.notFound((c) => c.redirect(href(""), 303));
  return app;
}

/** Where to go after an action: its page, saying how it went. */
function backTo(section: string, result: ApiResult<unknown>, ok = "Done."): string {
  const query = result.ok
    ? `ok=${encodeURIComponent(ok)}`
    : `error=${encodeURIComponent(result.error.message)}${result.error.hint ? `&hint=${encodeURIComponent(result.error.hint)}` : ""}`;
  return `${href(section)}?${query}`;
}

function noticeOf(ok?: string, error?: string, hint?: string): Notice | undefined {
  if (error) return { kind: "error", text: error, ...(hint ? { hint } : {}) };
  if (ok) return { kind: "ok", text: ok };
  return undefined;
}

/** What an answer of the local API shows: `view` of its data, or what went wrong. */
function shown<T>(result: ApiResult<T>, view: (data: T) => Child): Child {
  return result.ok ? view(result.data) : <Failure error={result.error} />;
}

const Failure = ({ error }: { error: ApiError }) => (
  <div class="notice error" role="alert">
    {error.message}
    {error.hint ? <div class="muted">{error.hint}</div> : null}
  </div>
);

const Reliability = ({ status }: { status: Status }) => (
  <section aria-label="How safe the zone's data is">
    <p class="level">
      Reliability level {status.reliability.level}: {status.reliability.summary}
    </p>
    {status.reliability.warnings.length > 0 ? (
      <ul>
        {status.reliability.warnings.map((warning) => (
          <li class="warn">{warning}</li>
        ))}
      </ul>
    ) : (
      <p class="muted">Nothing needs your attention.</p>
    )}
  </section>
);

/** Where each device's space goes, and what nothing uses any more. */
const DiskTable = ({ disk }: { disk: readonly DeviceDisk[] }) => (
  <div class="scroll">
    <table>
      <thead>
        <tr>
          <th>Device</th>
          <th>Free</th>
          <th>Zone state</th>
          <th>Named data</th>
          <th>Apps</th>
          <th>Logs</th>
          <th>Backup caches</th>
        </tr>
      </thead>
      <tbody>
        {disk.map((d) => (
          <tr>
            <td>{d.device}</td>
            <td>
              {d.freeBytes === null || d.totalBytes === null
                ? "—"
                : `${formatBytes(d.freeBytes)} of ${formatBytes(d.totalBytes)}`}
              {d.nearlyFull ? (
                <>
                  {" "}
                  <Tag value="nearly full" />
                </>
              ) : null}
            </td>
            {d.usage ? (
              <>
                <td>
                  {formatBytes(d.usage.state.bytes)}
                  <span class="muted"> {d.usage.state.changesets} changesets</span>
                </td>
                <td>{formatBytes(d.usage.namedData.bytes)}</td>
                <td>
                  {Object.entries(d.usage.apps).map(([app, used]) => (
                    <div>
                      {app}{" "}
                      {formatBytes(
                        used.dataBytes +
                          used.packagesBytes +
                          used.replicaBytes +
                          used.conflictsBytes +
                          used.logsBytes,
                      )}
                    </div>
                  ))}
                </td>
                <td>{formatBytes(d.usage.logsBytes)}</td>
                <td>{formatBytes(d.usage.backupCacheBytes)}</td>
              </>
            ) : (
              <td colspan={5} class="muted">
                not measured yet
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
    {disk.flatMap((d) =>
      (d.usage?.leftovers ?? []).map((leftover) => (
        <p class="muted">
          On {d.device}: {leftover.what}, {formatBytes(leftover.bytes)} ({leftover.remove}).
        </p>
      )),
    )}
  </div>
);

const DeviceTable = ({ devices, actions }: { devices: DeviceView[]; actions: boolean }) => (
  <div class="scroll">
    <table>
      <thead>
        <tr>
          <th>Device</th>
          <th>Status</th>
          <th>Reached</th>
          <th>Last seen</th>
          {actions ? <th /> : null}
        </tr>
      </thead>
      <tbody>
        {devices.map((d) => (
          <tr>
            <td>
              {d.name}
              {d.self ? <span class="muted"> (this one)</span> : null}
            </td>
            <td>
              <Tag value={d.status} />
            </td>
            <td>
              {d.route === "relayed" ? (
                <>
                  <Tag value="relayed" /> via {d.via}
                </>
              ) : d.route === "direct" ? (
                <Tag value="direct" />
              ) : (
                <span class="muted">—</span>
              )}
              {d.rttMs !== null ? <span class="muted"> {d.rttMs} ms</span> : null}
            </td>
            <td>{d.self ? "now" : (d.lastSeenAt ?? "never")}</td>
            {actions ? (
              <td>
                {d.self || d.status === "revoked" ? null : (
                  <details>
                    <summary>Revoke…</summary>
                    <p>{`${d.name} will no longer be trusted by the zone. This cannot be undone.`}</p>
                    <Action
                      action={href(`devices/${encodeURIComponent(d.name)}/revoke`)}
                      label={`Revoke ${d.name}`}
                      danger={true}
                    />
                  </details>
                )}
              </td>
            ) : null}
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

const AppTable = ({ apps, actions }: { apps: AppStatus[]; actions: boolean }) =>
  apps.length === 0 ? (
    <p class="muted">No apps installed.</p>
  ) : (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>App</th>
            <th>State</th>
            <th>Runs on</th>
            <th>Version</th>
            {actions ? <th /> : null}
          </tr>
        </thead>
        <tbody>
          {apps.map((a) => (
            <tr>
              <td>
                <a href={href(`apps/${encodeURIComponent(a.app)}`)}>{a.app}</a>
                {a.exposure === "public" ? <span class="muted"> (public)</span> : null}
                {a.state === "running" ? (
                  <>
                    {" "}
                    <a href={`/apps/${encodeURIComponent(a.app)}/`}>Open</a>
                  </>
                ) : null}
              </td>
              <td>
                <Tag value={a.state} />
                {a.error ? <div class="muted">{a.error}</div> : null}
              </td>
              <td>{a.device ?? "no device"}</td>
              <td>{a.version}</td>
              {actions ? (
                <td>
                  {a.desired === "running" ? (
                    <Action action={href(`apps/${encodeURIComponent(a.app)}/stop`)} label="Stop" />
                  ) : (
                    <Action
                      action={href(`apps/${encodeURIComponent(a.app)}/start`)}
                      label="Start"
                    />
                  )}{" "}
                  <Action
                    action={href(`apps/${encodeURIComponent(a.app)}/remove`)}
                    label="Remove"
                    danger={true}
                  />
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );

/** Every device's backups, as the zone knows them: the same on every device. */
const ZoneCertificates = ({ certificates }: { certificates: readonly ZoneCertificate[] }) => (
  <>
    {certificates.length === 0 ? (
      <p class="muted">
        No gateway has a certificate: they speak plain HTTP. A gateway given a name gets its own (
        <code>bucky gateway enable --host …</code>).
      </p>
    ) : (
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Gateway</th>
              <th>From</th>
              <th>Valid until</th>
            </tr>
          </thead>
          <tbody>
            {certificates.map((cert) => (
              <tr>
                <td>{cert.name}</td>
                <td>{cert.device}</td>
                <td>{{ acme: "ACME", zone: "the zone CA", files: "given files" }[cert.issuer]}</td>
                <td>
                  {cert.notAfter ?? "none yet"}
                  {cert.lastError ? (
                    <div class="warn">
                      {`Last try ${cert.lastError.at} failed: ${cert.lastError.message}`}
                      {cert.lastError.hint ? <div class="muted">{cert.lastError.hint}</div> : null}
                    </div>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )}
    <p>
      Gateways with local names (<code>.lan</code>, <code>.local</code>…) use the zone's own
      certificate authority. <a href={`${PANEL_PATH}/zone-ca.crt`}>Download its root</a> and trust
      it on your phones and laptops once.
    </p>
  </>
);

const ZoneBackups = ({ backups }: { backups: readonly ZoneBackup[] }) =>
  backups.length === 0 ? (
    <p class="warn">No device backs up yet: the zone's data is not backed up outside it.</p>
  ) : (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Device</th>
            <th>Target</th>
            <th>Last backup</th>
            <th>Last verified restore</th>
          </tr>
        </thead>
        <tbody>
          {backups.map((b) => (
            <tr>
              <td>{b.device}</td>
              <td>{b.target}</td>
              <td>
                {b.lastBackup
                  ? `${b.lastBackup.at} (snapshot ${b.lastBackup.snapshot.slice(0, 8)})`
                  : "never"}
                {b.lastError && (!b.lastBackup || b.lastError.at > b.lastBackup.at) ? (
                  <div class="warn">{`Failed ${b.lastError.at}: ${b.lastError.message}`}</div>
                ) : null}
              </td>
              <td>
                {b.lastVerify ? (
                  <>
                    {b.lastVerify.at} <Tag value={b.lastVerify.ok ? "sound" : "damaged"} />
                  </>
                ) : (
                  "never"
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );

const BackupTable = ({ targets }: { targets: BackupTarget[] }) =>
  targets.length === 0 ? (
    <p class="warn">No backup target: the zone's data is not backed up outside it.</p>
  ) : (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Target</th>
            <th>Last backup</th>
            <th>Last verified restore</th>
          </tr>
        </thead>
        <tbody>
          {targets.map((t) => (
            <tr>
              <td>
                {t.name}
                <div class="muted">{t.url}</div>
                <div class="muted">
                  {t.reach === "through" ? `reached through ${t.via}` : "reached by this device"}
                </div>
              </td>
              <td>
                {t.lastBackup
                  ? `${t.lastBackup.at} (snapshot ${t.lastBackup.snapshot.slice(0, 8)})`
                  : "never"}
                {t.lastBackupError && (!t.lastBackup || t.lastBackupError.at > t.lastBackup.at) ? (
                  <div class="warn">{`Failed ${t.lastBackupError.at}: ${t.lastBackupError.message}`}</div>
                ) : null}
              </td>
              <td>
                {t.lastVerify ? (
                  <>
                    {t.lastVerify.at} <Tag value={t.lastVerify.ok ? "sound" : "damaged"} />
                  </>
                ) : (
                  "never"
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );

const SnapshotList = ({ snapshots }: { snapshots: Snapshot[] }) => {
  if (snapshots.length === 0) return <p class="muted">None yet.</p>;
  const bars: Bar[] = snapshots.map((s) => ({
    label: `${s.device} ${s.time.slice(0, 16).replace("T", " ")}`,
    value: s.bytes,
  }));
  return (
    <>
      <BarChart title="Size of each snapshot" bars={bars} format={formatBytes} />
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>Snapshot</th>
              <th>Device</th>
              <th>Taken</th>
              <th>Files</th>
              <th>Size</th>
              <th>New</th>
            </tr>
          </thead>
          <tbody>
            {[...snapshots].reverse().map((s) => (
              <tr>
                <td>
                  <code>{s.id.slice(0, 8)}</code>
                </td>
                <td>{s.device}</td>
                <td>{s.time}</td>
                <td>{s.files}</td>
                <td>{formatBytes(s.bytes)}</td>
                <td>{formatBytes(s.addedBytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
};

const TrafficCharts = ({
  series,
}: {
  series: { app: string; points: { at: string; requests: number }[] }[];
}) => {
  if (series.length === 0)
    return <p class="muted">No requests through this gateway in the last day.</p>;
  const now = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  return (
    <>
      {series.map(({ app, points }) => {
        const byHour = new Map(points.map((p) => [Date.parse(p.at), p.requests]));
        const bars: Bar[] = Array.from({ length: 24 }, (_, i) => {
          const at = now - (23 - i) * HOUR_MS;
          return { label: new Date(at).toISOString().slice(11, 16), value: byHour.get(at) ?? 0 };
        });
        return (
          <>
            <h3>{app}</h3>
            <BarChart
              title={`Requests to ${app} per hour, last 24 hours`}
              bars={bars}
              format={(n) => String(Math.round(n))}
            />
          </>
        );
      })}
    </>
  );
};

/** A person's own apps: the ones they may open, and a way to each. */
const YourApps = ({ apps }: { apps: AppStatus[] }) =>
  apps.length === 0 ? (
    <p class="muted">No apps are shared with you yet: ask an admin of the zone.</p>
  ) : (
    <ul>
      {apps.map((a) => (
        <li>
          {a.state === "running" ? (
            <a href={`/apps/${encodeURIComponent(a.app)}/`}>{a.app}</a>
          ) : (
            <>
              {a.app} <Tag value={a.state} />
            </>
          )}
        </li>
      ))}
    </ul>
  );

const PeopleTable = ({ people, actions }: { people: PersonView[]; actions: boolean }) => (
  <div class="scroll">
    <table>
      <thead>
        <tr>
          <th>Person</th>
          <th>Role</th>
          <th>Signs in with</th>
          {actions ? <th /> : null}
        </tr>
      </thead>
      <tbody>
        {people.map((p) => (
          <tr>
            <td>{p.name}</td>
            <td>
              <Tag value={p.role} />
            </td>
            <td>
              {p.signsInWith.length > 0
                ? p.signsInWith.join(" or ")
                : p.role === "owner"
                  ? "a login link from a device holding the owner key"
                  : "not yet: their link was not opened"}
            </td>
            {actions ? (
              <td>
                <Action
                  action={href(`people/${encodeURIComponent(p.name)}/reset`)}
                  label="New link"
                />{" "}
                {p.role === "owner" ? null : (
                  <details>
                    <summary>Remove…</summary>
                    <p>{`${p.name} will no longer sign in, and their sessions end on every gateway.`}</p>
                    <Action
                      action={href(`people/${encodeURIComponent(p.name)}/remove`)}
                      label={`Remove ${p.name}`}
                      danger={true}
                    />
                  </details>
                )}
              </td>
            ) : null}
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

/** Whom a zone-only app is shared with, and a form to change it. */
const ShareForm = ({ app }: { app: AppStatus }) => (
  <>
    <h2>Who sees it</h2>
    <p>
      {app.shared
        ? `Shared with ${app.shared.join(", ")}, and the admins.`
        : "Everyone of the zone."}
    </p>
    <form class="stack" method="post" action={href(`apps/${encodeURIComponent(app.app)}/share`)}>
      <label>
        People and roles (admin, member, child), comma-separated; empty for everyone
        <input type="text" name="with" value={app.shared?.join(", ") ?? ""} autocomplete="off" />
      </label>
      <button type="submit">Share</button>
    </form>
  </>
);

const AgentList = ({ agents }: { agents: AgentRecord[] }) =>
  agents.length === 0 ? (
    <p class="muted">No agents yet.</p>
  ) : (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Agent</th>
            <th>May</th>
            <th>Until</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {agents.map((a) => (
            <tr>
              <td>{a.agent}</td>
              <td>
                {[...a.scopes.read.map((scope) => `read ${scope}`), ...a.scopes.act].join(", ")}
              </td>
              <td>{a.revokedAt ? `revoked ${a.revokedAt}` : a.expiresAt}</td>
              <td>
                {a.revokedAt ? null : (
                  <Action
                    action={href(`agents/${encodeURIComponent(a.agent)}/revoke`)}
                    label="Revoke"
                    danger={true}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );

const DeviceSelect = ({ names }: { names: string[] }) => (
  <label>
    Run it on
    <select name="device">
      <option value="">the device its manifest names, or any</option>
      {names.map((name) => (
        <option value={name}>{name}</option>
      ))}
    </select>
  </label>
);
