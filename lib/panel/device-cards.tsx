/** The zone's devices: each one's standing, how it is reached, when it was last heard. */
import type { FC } from "hono/jsx";
import type { DeviceView } from "../zone/devices.ts";
import { Cards, Confirm, Tag, Time, useLocale } from "./components.tsx";
import { href } from "./layout.tsx";

export const DeviceCards: FC<{ devices: readonly DeviceView[]; actions: boolean }> = ({
  devices,
  actions,
}) => {
  const { t } = useLocale();
  return (
    <Cards
      rows={devices}
      columns={[
        {
          label: t.devices.device,
          cell: (d) => (
            <>
              <strong>{d.name}</strong>
              {d.self ? <span class="muted"> {t.devices.thisOne}</span> : null}
            </>
          ),
        },
        {
          label: t.devices.status,
          cell: (d) => (
            <>
              <Tag value={d.status} />
              {/* Its last facts say why (the overview's note says it whole). */}
              {d.stopped ? <div class="warn">{t.devices.stopped}</div> : null}
            </>
          ),
        },
        {
          label: t.devices.reached,
          cell: (d) =>
            d.self ? (
              <span class="muted">{t.devices.itself}</span>
            ) : d.route === null ? (
              <span class="muted">{t.devices.notReached}</span>
            ) : (
              <>
                <Tag value={d.route} />
                {d.route === "relayed" && d.via ? ` ${t.devices.via({ relay: d.via })}` : null}
                {d.rttMs !== null ? (
                  <span class="muted"> {t.devices.roundTrip({ ms: d.rttMs })}</span>
                ) : null}
              </>
            ),
        },
        {
          label: t.devices.lastSeen,
          cell: (d) => (d.self ? t.devices.now : <Time iso={d.lastSeenAt} />),
        },
        ...(actions
          ? [
              {
                label: "",
                cell: (d: DeviceView) =>
                  d.self || d.status === "revoked" ? null : (
                    <Confirm
                      summary={t.devices.revokeOpen}
                      text={t.devices.revokeText({ device: d.name })}
                      action={href(`devices/${encodeURIComponent(d.name)}/revoke`)}
                      label={t.devices.revoke({ device: d.name })}
                    />
                  ),
              },
            ]
          : []),
      ]}
    />
  );
};
