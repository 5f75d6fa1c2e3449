/** `bucky status`: the zone at a glance. */
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { backupFacts, readBackupStatus } from "../backup/status.ts";
import { readTargets } from "../backup/targets.ts";
import { readGateway } from "../gateway/config.ts";
import { gatewayBase } from "../gateway/sessions.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { type OpenZone, openZone } from "./open.ts";
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
  /** Each backup target: the last backup and the last verify. */
  readonly backup: ReturnType<typeof backupSummary>;
  /** This device's gateway, when it is one. */
  readonly gateway: {
    readonly url: string;
    readonly https: boolean;
    readonly listen: string;
  } | null;
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
      reliability: assessReliability({
        deviceCount: zone.devices.length,
        nowMs: Date.now(),
        ...backupFacts(zone.paths),
      }),
      backup: backupSummary(zone.paths),
      gateway: gatewayOf(zone),
    };
  } finally {
    zone.close();
  }
}

function backupSummary(paths: HomePaths) {
  const status = readBackupStatus(paths);
  return readTargets(paths).map((target) => ({
    target: target.name,
    lastBackup: status[target.name]?.lastBackup ?? null,
    lastVerify: status[target.name]?.lastVerify ?? null,
  }));
}

function gatewayOf(zone: OpenZone): ZoneStatus["gateway"] {
  const config = readGateway(zone.db, zone.device.name);
  return config ? { url: gatewayBase(config), https: config.https, listen: config.listen } : null;
}
