/** `bucky status`: the zone at a glance. */
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import type { Log } from "../log.ts";
import { openZone } from "./open.ts";
import { assessReliability, type Reliability } from "./reliability.ts";

export interface ZoneStatus {
  readonly home: string;
  readonly zone: { readonly id: ZoneId; readonly name: string };
  readonly device: {
    readonly id: DeviceId;
    readonly name: string;
    readonly holdsOwnerKey: boolean;
  };
  readonly devices: readonly {
    readonly id: DeviceId;
    readonly name: string;
    readonly self: boolean;
  }[];
  readonly reliability: Reliability;
}

export function zoneStatus(home: string, log: Log): ZoneStatus {
  const zone = openZone(home, log);
  try {
    return {
      home: zone.paths.home,
      zone: { id: zone.zone.id, name: zone.zone.name },
      device: { id: zone.device.id, name: zone.device.name, holdsOwnerKey: zone.holdsOwnerKey },
      devices: zone.devices.map((doc) => ({
        id: doc.id,
        name: doc.name,
        self: doc.id === zone.device.id,
      })),
      reliability: assessReliability({ deviceCount: zone.devices.length }),
    };
  } finally {
    zone.close();
  }
}
