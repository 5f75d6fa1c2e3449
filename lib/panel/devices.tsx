/**
 * The zone's devices: each one's standing, inviting a new one (the invitation shown once,
 * as text to copy and as a QR code), the zone's invitations still open, whichever device
 * made them (each can be withdrawn here, and names the device that admits with it), and
 * revoking a device.
 */
import type { Hono } from "hono";
import { renderSVG } from "uqr";
import { mayChangeDevices, panelActor } from "../users/account-rights.ts";
import type { DeviceView, Revoked } from "../zone/devices.ts";
import type { ZoneInvite } from "../zone/invite-records.ts";
import { Action, Cards, CopyButton, shown, Tag, Time } from "./components.tsx";
import { DeviceCards } from "./device-cards.tsx";
import { href } from "./layout.tsx";
import type { Page, PanelContext, PanelEnv } from "./page.tsx";

const HOUR_MS = 3_600_000;

export function devicePages(app: Hono<PanelEnv>, pageOf: (c: PanelContext) => Page): void {
  app.get("/devices", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const [devices, invites] = await Promise.all([
      page.api.get<{ devices: DeviceView[] }>("/v1/devices"),
      page.api.get<{ invites: ZoneInvite[] }>("/v1/invites"),
    ]);
    const open = invites.ok ? invites.data.invites.filter((i) => i.status === "active") : [];
    // The zone's devices are the owner's to add and revoke (lib/users/account-rights.ts).
    const owner = mayChangeDevices(panelActor(page.viewer));
    return page.render(
      "devices",
      t.nav.devices,
      <>
        {shown(devices, (data) => (
          <DeviceCards devices={data.devices} actions={owner} />
        ))}
        {owner ? (
          <>
            <h2 id="invite">{t.devices.addTitle}</h2>
            <p>{t.devices.addText}</p>
            <form class="stack" method="post" action={href("devices/invite")}>
              <label>
                {t.devices.validFor}
                <select name="ttlMs">
                  <option value={String(HOUR_MS)}>{t.devices.oneHour}</option>
                  <option value={String(24 * HOUR_MS)}>{t.devices.oneDay}</option>
                  <option value={String(7 * 24 * HOUR_MS)}>{t.devices.sevenDays}</option>
                </select>
              </label>
              <label class="check">
                <input type="checkbox" name="backupKey" value="1" checked />
                {t.devices.givesBackupKey}
              </label>
              <button type="submit">{t.devices.createInvitation}</button>
            </form>
          </>
        ) : null}
        {open.length > 0 ? (
          <>
            <h2>{t.devices.openInvitations}</h2>
            <Cards
              rows={open}
              columns={[
                {
                  label: t.devices.created,
                  cell: (i) => <Time iso={new Date(i.createdAt).toISOString()} />,
                },
                {
                  label: t.devices.expires,
                  cell: (i) => <Time iso={new Date(i.expiresAt).toISOString()} />,
                },
                { label: t.devices.joinsThrough, cell: (i) => i.inviter },
                { label: t.devices.status, cell: (i) => <Tag value={i.status} /> },
                {
                  label: "",
                  cell: (i) => (
                    <Action
                      action={href(`devices/invitations/${encodeURIComponent(i.id)}/revoke`)}
                      label={t.devices.withdraw}
                      secondary={true}
                    />
                  ),
                },
              ]}
            />
          </>
        ) : null}
      </>,
    );
  });

  app.post("/devices/invite", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const form = await c.req.parseBody();
    const invite = await page.api.post<{ token: string; expiresAt: number }>("/v1/invites", {
      ttlMs: Number(form.ttlMs ?? HOUR_MS),
      uses: 1,
      backupKey: form.backupKey === "1",
    });
    if (!invite.ok) return page.back("devices", invite, "");
    // Shown once, right here: the token is a secret, so it never goes into an address.
    return page.render(
      "devices",
      t.devices.invitationTitle,
      <>
        <p>{t.devices.invitationText}</p>
        <p>
          {t.devices.validUntil} <Time iso={new Date(invite.data.expiresAt).toISOString()} />
        </p>
        <pre id="invitation">{invite.data.token}</pre>
        <div class="actions">
          <CopyButton target="invitation" />
        </div>
        <p>{t.devices.invitationScan}</p>
        <div
          class="qr"
          role="img"
          aria-label={t.devices.invitationQr}
          dangerouslySetInnerHTML={{ __html: renderSVG(invite.data.token) }}
        />
        <p>
          <a href={href("devices")}>{t.devices.back}</a>
        </p>
      </>,
    );
  });

  app.post("/devices/invitations/:id/revoke", async (c) => {
    const page = pageOf(c);
    const result = await page.api.post(
      `/v1/invites/${encodeURIComponent(c.req.param("id"))}/revoke`,
    );
    return page.back("devices", result, page.locale.t.devices.withdrawn);
  });

  // The owner's approval of a gateway for the names it serves (lib/gateway/approval.ts):
  // first the names the zone state says it serves are shown (the message beside the
  // button is the gateway's own), then exactly those are approved.
  app.post("/devices/:name/approve-gateway", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const device = c.req.param("name");
    const form = await c.req.parseBody();
    if (form.confirm === "1") {
      const result = await page.api.post("/v1/gateway/approvals", {
        device,
        hosts: listField(form.hosts),
        addresses: listField(form.addresses),
      });
      return page.back("", result, t.devices.gatewayApproved({ device }));
    }
    const proposed = await page.api.get<{ hosts: string[]; addresses: string[] }>(
      `/v1/gateway/approvals/${encodeURIComponent(device)}`,
    );
    if (!proposed.ok) return page.back("", proposed, "");
    const { hosts, addresses } = proposed.data;
    return page.render(
      "devices",
      t.devices.approveGatewayTitle({ device }),
      <>
        <p>
          {t.devices.approveGatewayNames({
            device,
            names: [...hosts, ...addresses].join(", ") || "—",
          })}
        </p>
        <Action
          action={href(`devices/${encodeURIComponent(device)}/approve-gateway`)}
          label={t.overview.approveGateway}
          fields={{ confirm: "1", hosts: hosts.join(","), addresses: addresses.join(",") }}
        />
      </>,
    );
  });

  app.post("/devices/:name/revoke", async (c) => {
    const page = pageOf(c);
    const name = c.req.param("name");
    const result = await page.api.post<Revoked>(`/v1/devices/${encodeURIComponent(name)}/revoke`);
    const { t } = page.locale;
    const said = [t.devices.revoked({ device: name })];
    if (result.ok && result.data.heldBackupKey)
      said.push(
        t.devices.backupKeyKept({
          device: name,
          places: result.data.backupTargets,
          epoch: result.data.backupKeyEpoch,
        }),
      );
    return page.back("devices", result, said.join(" "));
  });
}

/** A form's comma-separated list: its items, none when empty. */
function listField(value: unknown): string[] {
  return typeof value === "string" ? value.split(",").filter((item) => item !== "") : [];
}
