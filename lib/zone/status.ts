/**
 * `bucky status`: the zone at a glance. Everything but `home` and `device` (which say
 * where it was asked) comes from zone-wide facts: the members, their presence, their
 * signed device facts and the zone state. So every device of the zone gives the same
 * answer, and it stays the same when the device that did a thing is gone.
 */

import { DEFAULT_STANDBYS } from "../../protocol/app-manifest.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { PurgeGrants } from "../apps/owner-grants.ts";
import { describeUngrantedPurge, ungrantedPurges } from "../apps/purge.ts";
import { describeSandboxNote, sandboxNotes } from "../apps/sandbox-facts.ts";
import { type AppSpec, readSpecs } from "../apps/spec.ts";
import { readDamageRecords } from "../backup/damage-records.ts";
import { readZoneTargets } from "../backup/zone-targets.ts";
import { type CertificateRemedy, certificateRemedy } from "../certs/remedy.ts";
import { ownFacts } from "../facts/own-facts.ts";
import { type DeviceFactsPayload, readPayload, type UsageFacts } from "../facts/payload.ts";
import { type DeviceStanding, readZoneFacts } from "../facts/zone-facts.ts";
import { gatewayBase, readGateway } from "../gateway/config.ts";
import {
  describePublicPastBudget,
  PUBLIC_BUDGET_BYTES,
  PUBLIC_BUDGET_KEY,
  publicPastBudgetNotes,
} from "../gateway/public-budget.ts";
import {
  describeImageNote,
  imageDevices,
  imageNotes,
  readAllEngineFacts,
} from "../images/engine-facts.ts";
import type { Log } from "../log.ts";
import {
  describeStoredFilesAtRisk,
  FILES_BUDGET_BYTES,
  FILES_BUDGET_KEY,
  type StoredFilesSummary,
  storedFilesAtRiskNotes,
  summarizeStoredFiles,
} from "../ndn/stored-files.ts";
import { readDeviceInfo } from "../node/peers.ts";
import { appDataStatus } from "../replica/data-status.ts";
import {
  appHasData,
  claimedHolding,
  type HoldingFacts,
  readHoldingFacts,
} from "../replica/zone-holding.ts";
import { describeUnsignedBudget, unsignedBudgetNotes } from "../state/budgets.ts";
import type { StateReader } from "../store/reads.ts";
import type { BrokenChainNote } from "../sync/broken-chains.ts";
import { heldFacts } from "../sync/facts.ts";
import { loadMembership, type Membership, standingOf } from "../sync/membership.ts";
import {
  describeRevokedFork,
  quarantineNotes,
  revokedForkNotes,
} from "../sync/quarantine-notes.ts";
import {
  type ByAttentionKind,
  sayAttention,
  type UnreadableApp,
  type ZoneAttention,
} from "./attention.ts";
import { type CheckedZone, openCheckedZone } from "./checked-zone.ts";
import { nameClashWarning, readNameClashes } from "./name-clashes.ts";
import { zoneReaders } from "./readers.ts";
import { describeWritesRefused, writesRefusedNotes } from "./refused-writes.ts";
import {
  type AppDataCopies,
  assessReliability,
  failingPrune,
  isNearlyFull,
  namedApps,
  type Reliability,
  STANDBY_LAG_LIMIT_MS,
} from "./reliability.ts";
import { refuseIfRevoked } from "./revoked-here.ts";

export interface ZoneStatus extends ZoneAttention {
  readonly home: string;
  /** The device this was asked on. */
  readonly device: {
    readonly id: DeviceId;
    readonly name: string;
    readonly holdsOwnerKey: boolean;
  };
  readonly zone: { readonly id: ZoneId; readonly name: string };
  readonly devices: readonly {
    readonly id: DeviceId;
    readonly name: string;
    readonly status: "online" | "offline" | "revoked" | "quarantined";
  }[];
  /** Each device's backups to each target: the last backup, verify and failure. */
  readonly backups: readonly ZoneBackup[];
  readonly gateways: readonly {
    readonly device: string;
    readonly url: string;
    readonly https: boolean;
  }[];
  /** What each device said it can run of container images, and why not when it cannot. */
  readonly images: readonly {
    readonly device: string;
    readonly engine: string | null;
    readonly platform: string | null;
    readonly problem: string | null;
  }[];
  /** Each gateway's certificates: until when, and the last error while it is not renewed. */
  readonly certificates: readonly ZoneCertificate[];
  /** The files stored with `bucky put`, zone-wide, and how many fewer than two devices hold. */
  readonly storedFiles: StoredFilesSummary;
  readonly reliability: Reliability;
  /**
   * What else needs the owner's attention, in English: the notes of the fields below
   * (lib/zone/attention.ts), which the panel says in the viewer's language. A new warning
   * is a new kind of note there, never a sentence here.
   */
  readonly warnings: readonly string[];
  /** With `disk`: where each device's space goes, as it last said (this device: now). */
  readonly disk?: readonly DeviceDisk[];
}

export interface DeviceDisk {
  readonly device: string;
  readonly freeBytes: number | null;
  readonly totalBytes: number | null;
  readonly nearlyFull: boolean;
  /** Where its space goes, or null when it has not said yet. */
  readonly usage: DiskUsage | null;
}

/**
 * Where a device's space goes, as it said it. Its leftovers say how to remove them only
 * on the device they were measured on: another device's command is its own words.
 */
export type DiskUsage = Omit<UsageFacts, "leftovers"> & {
  readonly leftovers: readonly {
    readonly what: string;
    readonly bytes: number;
    /** The command (or who can), only for this device's own, measured here. */
    readonly remove?: string;
  }[];
};

export interface ZoneBackup {
  readonly device: string;
  readonly target: string;
  readonly lastBackup: { readonly at: string; readonly snapshot: string } | null;
  readonly lastVerify: { readonly at: string; readonly ok: boolean } | null;
  readonly lastError: { readonly at: string; readonly message: string } | null;
  /** Said by the device that reaches the target, which alone prunes it (null: not by it, or an older bucky). */
  readonly lastPrune: { readonly at: string } | null;
  /** Its hot changes failing to reach the target since `since` (null: they go, or an older bucky). */
  readonly hotFailing: { readonly since: string; readonly message: string } | null;
  /** Its prunes failing since `since`, the last at `at` (null: the last did not fail). */
  readonly pruneError: {
    readonly at: string;
    readonly since: string;
    readonly message: string;
  } | null;
}

export interface ZoneCertificate {
  readonly device: string;
  readonly name: string;
  /** acme, the zone CA, or files the owner gave. */
  readonly issuer: "acme" | "zone" | "files";
  readonly notAfter: string | null;
  /**
   * As the gateway wrote it in its own facts: a member can make the message and the hint
   * say anything, so another device's hint is not advice (see `remedy`).
   */
  readonly lastError: {
    readonly at: string;
    readonly message: string;
    readonly hint?: string;
  } | null;
  /** What to do about the last error, in the zone's own words (lib/certs/remedy.ts). */
  readonly remedy: CertificateRemedy | null;
}

export interface StatusView {
  readonly db: StateReader;
  readonly home: string;
  readonly zone: { readonly id: ZoneId; readonly name: string };
  readonly device: ZoneStatus["device"];
  readonly membership: Membership;
  readonly nowMs: number;
  /** How recently a device must have been heard to count as live. */
  readonly liveWindowMs: number;
  /** What the asking device knows of itself now (its published facts may be seconds old). */
  readonly ownFacts: Partial<DeviceFactsPayload>;
  /** The owner's purge grants, each checked once (the running node's, or one for this answer). */
  readonly purgeGrants: PurgeGrants;
  /**
   * Broken chains the running node met and has found in no proof yet (without one, this
   * device's facts say what it met last).
   */
  readonly brokenChains?: readonly BrokenChainNote[];
}

/**
 * The broken chains any member met and found in no proof yet, each by the device that met
 * it: this one's from its running node (or its last facts without one), the others' from
 * their facts. A chain of a device no longer a member in good standing (a proof formed, it
 * was revoked) is past.
 */
function zoneBrokenChains(view: StatusView, held: ReturnType<typeof heldFacts>): BrokenChainNote[] {
  const { membership } = view;
  const notes: BrokenChainNote[] = [...(view.brokenChains ?? [])];
  for (const record of held) {
    if (record.device === view.device.id && view.brokenChains) continue;
    const seenBy = membership.byId.get(record.device);
    if (!seenBy || standingOf(membership, seenBy.id) !== "member") continue;
    for (const chain of readPayload(record.facts).brokenChains ?? [])
      notes.push({ ...chain, seenBy: seenBy.name });
  }
  return notes
    .filter((note) => {
      const author = membership.byName.get(note.device);
      return author !== undefined && standingOf(membership, author.id) === "member";
    })
    .sort((a, b) => compareCodeUnits(a.device, b.device) || compareCodeUnits(a.seenBy, b.seenBy));
}

export function describeZone(view: StatusView, options: { disk?: boolean } = {}): ZoneStatus {
  // What the answer is made of, each read once: the devices' signed facts (a signature
  // check and a decoding each), the apps' specs and what each device runs of images.
  const held = heldFacts(view.db);
  const unreadable: UnreadableApp[] = [];
  const specs = readSpecs(view.db, (app, { problem, newer }) =>
    unreadable.push({ app, problem, ...(newer ? { newer } : {}) }),
  );
  const engines = readAllEngineFacts(view.db);
  const devices = readZoneFacts(
    view.db,
    view.membership,
    view.nowMs,
    view.liveWindowMs,
    { id: view.device.id, facts: view.ownFacts },
    held,
  );
  // This device's usage when measured here now, not as a record it could have been sent.
  const measuredHere = view.ownFacts.usage ? view.device.name : undefined;
  const storedFiles = summarizeStoredFiles(view.db, view.membership);
  const gateways = devices.flatMap((d) => {
    const config = d.standing === "member" ? readGateway(view.db, d.name) : undefined;
    if (!config) return [];
    // Reached at its host name, else at the address its device published.
    const published = readDeviceInfo(view.db, d.name)?.addrs[0];
    const url = gatewayBase(config, published ? new URL(published).hostname : undefined);
    return [{ device: d.name, url, https: config.https }];
  });
  const attention: ZoneAttention = {
    sandbox: sandboxNotes(view.db, view.membership, specs),
    imageNotes: imageNotes(view.membership, specs, engines),
    unreadableApps: unreadable,
    ungrantedPurges: ungrantedPurges(view.db, view.purgeGrants, view.membership, specs),
    quarantined: quarantineNotes(view.membership),
    revokedForks: revokedForkNotes(view.db, view.membership),
    brokenChains: zoneBrokenChains(view, held),
    nameClashes: readNameClashes(view.db, view.zone.id, view.membership),
    publicPastBudget: publicPastBudgetNotes(view.db),
    storedFilesAtRisk: storedFilesAtRiskNotes(storedFiles),
    unsignedBudgets: unsignedBudgetNotes(view.db, [
      { key: PUBLIC_BUDGET_KEY, defaultBytes: PUBLIC_BUDGET_BYTES },
      { key: FILES_BUDGET_KEY, defaultBytes: FILES_BUDGET_BYTES },
    ]),
    writesRefused: writesRefusedNotes(
      devices.filter((d) => d.standing === "member"),
      zoneReaders(view.db, view.membership),
    ),
  };
  return {
    home: view.home,
    device: view.device,
    zone: view.zone,
    devices: devices.map((d) => ({
      id: d.id,
      name: d.name,
      status: d.standing === "member" ? (d.live ? "online" : "offline") : d.standing,
    })),
    backups: devices.filter((d) => d.standing === "member").flatMap(backupsOf),
    gateways,
    images: imageDevices(view.membership, engines),
    certificates: devices
      .filter((d) => d.standing === "member")
      .flatMap((d) =>
        Object.entries(d.facts.certificates ?? {}).map(([name, facts]) => ({
          device: d.name,
          name,
          issuer: facts.issuer,
          notAfter: facts.notAfter ?? null,
          lastError: facts.lastError ?? null,
          remedy: facts.lastError
            ? (certificateRemedy(d.name, facts.lastError.message) ?? null)
            : null,
        })),
      ),
    storedFiles,
    reliability: assessReliability({
      devices,
      nowMs: view.nowMs,
      appData: appDataCopies(
        devices,
        specs,
        readHoldingFacts(view.db, view.membership, held, engines),
      ),
      measuredHere,
      damage: readDamageRecords(view.db),
      targets: readZoneTargets(view.db).map((t) => t.name),
      gateways: gateways.map((g) => g.device),
    }),
    warnings: sayAttention(attention, IN_ENGLISH),
    ...attention,
    ...(options.disk
      ? {
          disk: devices
            .filter((d) => d.standing === "member")
            .map((d) => deviceDisk(d, d.name === measuredHere)),
        }
      : {}),
  };
}

/** The notes of what needs attention in English, for `warnings`: a way of saying every kind. */
const IN_ENGLISH: ByAttentionKind<string> = {
  sandbox: describeSandboxNote,
  imageNotes: describeImageNote,
  unreadableApps: ({ app, problem, newer }) =>
    newer
      ? `app ${app} was installed by a newer bucky than this device's (${problem}): update this device; the devices that run the newer bucky run it`
      : `app ${app} is not run anywhere: its spec in the zone state is not one bucky can read (${problem}); install it again, or remove it (\`bucky app remove ${app}\`)`,
  ungrantedPurges: describeUngrantedPurge,
  brokenChains: ({ device, peer, seq, seenBy }) =>
    `${seenBy} says device ${device} may have signed two histories: its changesets from ${peer} do not follow what ${seenBy} holds (at #${seq}); ${seenBy} is looking for where they part, to quarantine it on every device (most often its home was put back from an older copy)`,
  revokedForks: (note) => describeRevokedFork(note),
  nameClashes: (note) => nameClashWarning(note),
  publicPastBudget: describePublicPastBudget,
  storedFilesAtRisk: describeStoredFilesAtRisk,
  unsignedBudgets: describeUnsignedBudget,
  writesRefused: describeWritesRefused,
  quarantined: ({ device, seq }) =>
    `device ${device} is quarantined: it signed two different histories from changeset #${seq} on, most often because its home was put back from an older copy; no device takes its changesets from #${seq} on, nor its writes from now on (what some devices took past #${seq} before they knew stays there until a later write to the same key replaces it): revoke it (\`bucky devices revoke ${device}\` on a device holding the owner key; any device takes that key from the recovery phrase: \`bucky zone owner-key < phrase.txt\`, then restart its daemon) and join it again from a fresh home`,
};

/**
 * A device's disk as it said it. How to remove a leftover is kept only when its usage was
 * measured here now (`measuredHere`): another device writes its facts as it likes, and
 * its "how to remove it" could be any command.
 */
export function deviceDisk(d: DeviceStanding, measuredHere: boolean): DeviceDisk {
  const usage = d.facts.usage;
  return {
    device: d.name,
    freeBytes: d.facts.disk?.freeBytes ?? null,
    totalBytes: d.facts.disk?.totalBytes ?? null,
    nearlyFull: isNearlyFull(d),
    usage: usage
      ? {
          ...usage,
          apps: namedApps(usage.apps),
          leftovers: measuredHere
            ? usage.leftovers
            : usage.leftovers.map(({ what, bytes }) => ({ what, bytes })),
        }
      : null,
  };
}

/**
 * The status read straight from a home's database, with or without its daemon: checked
 * as every opening is (lib/zone/checked-zone.ts), read on the bare connection.
 */
export async function zoneStatus(
  home: string,
  log: Log,
  options: { nowMs: number; liveWindowMs: number; disk?: boolean },
): Promise<ZoneStatus> {
  const zone = openCheckedZone(home, log);
  try {
    refuseIfRevoked(zone.paths.home, zone.sqlite, zone.zone.id, zone.device.id);
    const { disk, ...times } = options;
    // One answer's checks of the owner's purge grants (a running node keeps its own).
    const grants = new PurgeGrants(zone.zone.id);
    // Where the space goes is measured by code only --disk needs (with drizzle).
    const usage = disk ? await measureUsage(zone, grants, options.nowMs) : undefined;
    return describeZone(
      {
        db: zone.sqlite,
        home: zone.paths.home,
        zone: { id: zone.zone.id, name: zone.zone.name },
        device: { id: zone.device.id, name: zone.device.name, holdsOwnerKey: zone.holdsOwnerKey },
        membership: loadMembership(zone.sqlite, zone.zone.id, zone.devices),
        ownFacts: {
          ...ownFacts(zone.paths, zone.sqlite, zone.device.name),
          ...(usage ? { usage } : {}),
        },
        purgeGrants: grants,
        ...times,
      },
      { disk: disk === true },
    );
  } finally {
    zone.close();
  }
}

async function measureUsage(
  zone: CheckedZone,
  purgeGrants: PurgeGrants,
  nowMs: number,
): Promise<UsageFacts> {
  const [{ usageFacts }, { stateDbOver }] = await Promise.all([
    import("../facts/publisher.ts"),
    import("../store/db.ts"),
  ]);
  return usageFacts(
    {
      zone,
      purgeGrants,
      db: stateDbOver(zone.sqlite),
      deviceName: zone.device.name,
    },
    nowMs,
  );
}

function backupsOf(device: DeviceStanding): ZoneBackup[] {
  return Object.entries(device.facts.backup?.targets ?? {})
    .map(([target, facts]) => ({
      device: device.name,
      target,
      lastBackup: facts.lastBackup
        ? { at: facts.lastBackup.at, snapshot: facts.lastBackup.snapshot }
        : null,
      lastVerify: facts.lastVerify ? { at: facts.lastVerify.at, ok: facts.lastVerify.ok } : null,
      lastError: facts.lastBackupError ?? null,
      lastPrune: facts.lastPrune ?? null,
      hotFailing: facts.hotFailing ?? null,
      pruneError: failingPrune(facts) ?? null,
    }))
    .sort((a, b) => compareCodeUnits(a.target, b.target));
}

/** Where each app's data is, as the zone's facts say, for the reliability level. */
function appDataCopies(
  devices: readonly DeviceStanding[],
  specs: readonly AppSpec[],
  facts: HoldingFacts,
): AppDataCopies[] {
  const members = devices
    .filter((d) => d.standing === "member")
    .map((d) => ({ name: d.name, id: d.id as string }));
  const live = members.filter((m) => devices.find((d) => d.name === m.name)?.live);
  return specs
    .filter((spec) => spec.desired !== "removed" && appHasData(spec))
    .map((spec) => {
      // As `bucky app status` says it: a holder not heard from keeps its standbys until
      // one of them claims the app (the takeover itself is said there, not here).
      const { holding } = claimedHolding(spec, { members, live }, facts);
      const data = appDataStatus(spec, holding, devices, null);
      return {
        app: spec.app,
        holder: data.holder?.device ?? null,
        standbys: data.standbys.map((standby) => ({
          device: standby.device,
          lagMs: standby.lagMs,
        })),
        maxLagMs: STANDBY_LAG_LIMIT_MS,
        wanted: spec.manifest.standbys ?? DEFAULT_STANDBYS,
      };
    });
}
