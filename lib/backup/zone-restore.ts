/**
 * What a home restore takes from the other devices' snapshots in the repository, so a box
 * rebuilt from one device's snapshot gets back the whole zone's data, not that device's
 * alone:
 *
 *   - each app's data from the snapshot that holds its newest copy, whichever device took
 *     it (an app that ran on the laptop comes back on a box restored as the NAS): the
 *     holder's (by the zone state's claims, lib/replica/claims.ts), taken since it became
 *     the holder; else the newest that holds it. Only from a device the zone state says
 *     held the app or stood by for it (its claims, and the copies in the devices' facts),
 *     and only from a snapshot dated no later than now (and the allowance for clocks): a
 *     member can put any app's data in its own snapshot, and date it as it likes, and
 *     would otherwise decide what the app's data comes back as. What is passed over is
 *     said (`appsNotTaken`);
 *   - the named data of every device (app packages among it): content-addressed files,
 *     so a union of them is right;
 *   - the conflict copies every device kept (`apps/<app>/conflicts/`): each is named by
 *     when and where it arose, so a union of them is right too, and a copy kept only on a
 *     device that is gone comes back on the restored box (`bucky app restore-copy` there);
 *   - the zone state's changesets that only another device's newer snapshot holds (the
 *     hot changesets a restore replays after are pruned per device, up to that device's
 *     own snapshot).
 *
 * Not the other devices' own files (`data/`, what their agents wrote): each device's is
 * its own, and two devices' files of the same name are different files. Those are named
 * (`OtherDeviceData`), each with the snapshot that holds it, to be restored apart.
 *
 * Only each device's newest trusted snapshot is looked at (lib/backup/snapshot-trust.ts:
 * signed by the device it names, a member of the zone in the restored state): an older one
 * of a device holds nothing its newest does not hold newer, and no other holder of the
 * backup key speaks for a device.
 */
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { decodePageRequest } from "../../protocol/checkpoint.ts";
import type { Revocation } from "../../protocol/documents.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import { checkAppName } from "../../protocol/names.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { checkpointPage, offerFor, takeOffer } from "../checkpoint/transfer.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import { holderOf } from "../replica/claims.ts";
import { readHoldingFacts } from "../replica/zone-holding.ts";
import type { StateSeal } from "../state/seal.ts";
import { openStateDb, type StateDb } from "../store/db.ts";
import { entriesMissingFrom, versionVector } from "../sync/exchange.ts";
import { ingestEntries } from "../sync/ingest.ts";
import { loadMembership, type Membership } from "../sync/membership.ts";
import type { Repository } from "./repository.ts";
import { readTree, restoreTree } from "./restorer.ts";
import {
  datedByNow,
  type NamedSnapshot,
  type SnapshotSignatures,
  trustedNewest,
} from "./snapshot-trust.ts";
import type { StateImages } from "./state-images.ts";
import { withRevocations } from "./zone-revocations.ts";

export type { NamedSnapshot } from "./snapshot-trust.ts";

/** An app's data, and the snapshot (of which device) it came back from. */
export interface RestoredApp {
  readonly app: string;
  readonly device: string;
  readonly snapshot: string;
}

/** An app's data a snapshot held, which a home restore did not take, and why. */
export interface AppNotTaken {
  readonly app: string;
  readonly device: string;
  readonly snapshot: string;
  readonly why: string;
}

/** Another device's own files (`data/`), in its newest snapshot: not put into the home. */
export interface OtherDeviceData {
  readonly device: string;
  readonly snapshot: string;
}

/** Which devices may give an app's data back, by the restored zone state. */
export interface AppKeepers {
  /** The holder, and since when (RFC 3339); absent when no device holds it. */
  readonly holder?: { readonly device: string; readonly since: string };
  /** Every device that claims the app, or said it keeps a copy of it (a standby). */
  readonly devices: ReadonlySet<string>;
}

/**
 * Puts into `staging` (where `chosen` was restored) each app's data from a newer snapshot
 * of another device, and the other devices' named data. Returns where each app's data
 * came from, and which other devices' snapshots hold files of their own (`data/`).
 */
export async function gatherFromDevices(
  repository: Repository,
  chosen: NamedSnapshot,
  newest: ReadonlyMap<string, NamedSnapshot>,
  staging: string,
  /** Who holds each app's data, since when, and who may give it back, by the restored state. */
  keepers: ReadonlyMap<string, AppKeepers>,
  nowMs: number,
): Promise<{ apps: RestoredApp[]; notTaken: AppNotTaken[]; otherData: OtherDeviceData[] }> {
  const others = [...newest.values()].filter((s) => s.name !== chosen.name);
  const candidates: { snapshot: NamedSnapshot; apps: string[] }[] = [];
  for (const candidate of [chosen, ...others])
    candidates.push({
      snapshot: candidate,
      apps: await appsIn(repository, candidate.snapshot.tree),
    });
  const { sources: holders, notTaken } = appSources(candidates, keepers, chosen.name, nowMs);
  const apps: RestoredApp[] = [];
  for (const [app, from] of [...holders].sort(([a], [b]) => compareCodeUnits(a, b))) {
    apps.push({ app, device: from.snapshot.device, snapshot: from.name });
    if (from.name === chosen.name) continue;
    const data = join(staging, "apps", app, "data");
    rmSync(data, { recursive: true, force: true });
    await restoreWhole(repository, from, `apps/${app}/data`, staging);
  }
  for (const other of others)
    for (const app of await appsWithConflicts(repository, other.snapshot.tree)) {
      const aside = join(staging, `.conflicts-${randomBytes(4).toString("hex")}`);
      try {
        await restoreWhole(repository, other, `apps/${app}/conflicts`, aside);
        mergeMissing(
          join(aside, "apps", app, "conflicts"),
          join(staging, "apps", app, "conflicts"),
        );
      } finally {
        rmSync(aside, { recursive: true, force: true });
      }
    }
  const otherData: OtherDeviceData[] = [];
  for (const other of others)
    if (await holdsOwnFiles(repository, other.snapshot.tree))
      otherData.push({ device: other.snapshot.device, snapshot: other.name });
  otherData.sort((a, b) => compareCodeUnits(a.device, b.device));
  for (const other of others) {
    if (!(await hasTop(repository, other.snapshot.tree, "ndn"))) continue;
    const aside = join(staging, `.ndn-${randomBytes(4).toString("hex")}`);
    try {
      await restoreWhole(repository, other, "ndn", aside);
      mergeMissing(join(aside, "ndn"), join(staging, "ndn"));
    } finally {
      rmSync(aside, { recursive: true, force: true });
    }
  }
  return { apps, notTaken, otherData };
}

interface MergeContext {
  /** The restored zone state, open, and the seal it is kept under. */
  readonly db: StateDb;
  readonly seal: StateSeal;
  readonly zone: ZoneId;
  readonly log: Log;
  readonly now: () => number;
  /** The owner's revocations found anywhere in the repository (zone-revocations.ts). */
  readonly revocations?: readonly Revocation[];
  /** Where the snapshots' states are restored, each once (shared with revocationsIn). */
  readonly images: StateImages;
  /** Signatures checked already against the zone. */
  readonly signatures?: SnapshotSignatures;
}

/**
 * Applies to the home's restored state database the changesets that the other devices'
 * newest trusted snapshots hold and it lacks; returns how many it took. Which are trusted
 * is asked of the state as it grows: a device admitted in changesets another snapshot
 * held is a member once they are taken. `taken` names the snapshots merged already (the
 * chosen one among them), and gains those merged now.
 */
export async function mergeStateImages(
  all: readonly NamedSnapshot[],
  taken: Set<string>,
  context: MergeContext,
): Promise<number> {
  let merged = 0;
  const { db } = context;
  for (;;) {
    const judge = {
      zone: context.zone,
      membership: withRevocations(loadMembership(db, context.zone), context.revocations ?? []),
    };
    const next = [...trustedNewest(all, judge, context.signatures).newest.values()].filter(
      (s) => !taken.has(s.name),
    );
    if (next.length === 0) return merged;
    for (const other of next) {
      taken.add(other.name);
      merged += await mergeStateImage(other, context);
    }
  }
}

/** Applies the changesets one snapshot's zone state holds that the restored one lacks. */
async function mergeStateImage(other: NamedSnapshot, context: MergeContext): Promise<number> {
  let merged = 0;
  const { db } = context;
  const image = await context.images.pathOf(other);
  if (image === undefined) return 0;
  const theirs = openStateDb(image, { create: false });
  try {
    const source = `the snapshot of ${other.snapshot.device}`;
    // A newer snapshot past a checkpoint this state lacks: the checkpoint first, as a
    // device coming back would take it from a peer.
    const offer = offerFor(theirs.$client, versionVector(db));
    if (offer)
      await takeOffer(
        {
          ...context,
          source,
          fetchPage: async (request) => checkpointPage(theirs.$client, decodePageRequest(request)),
        },
        offer,
      ).catch((error: unknown) => {
        // What does not check out is left out; the rest of the restore goes on.
        if (!(error instanceof BuckyError)) throw error;
        context.log.warn("a snapshot's checkpoint was not taken", {
          snapshot: other.name.slice(0, 8),
          error: error.message,
        });
      });
    for (let more = true; more; ) {
      const page = entriesMissingFrom(theirs, versionVector(db));
      more = page.more && page.entries.length > 0;
      if (page.entries.length === 0) break;
      const result = ingestEntries(db, page.entries, {
        zone: context.zone,
        nowMs: context.now(),
        log: context.log,
        source,
        seal: context.seal,
      });
      merged += result.applied.length;
      // Nothing more can be taken from it (refused, or waiting on what it lacks).
      if (result.applied.length === 0) break;
    }
  } finally {
    theirs.$client.close();
  }
  return merged;
}

/**
 * Where each app's data comes back from, among snapshots and the apps whose data each
 * holds: the holder's snapshot taken since it held the app (by `keepers`); else the
 * newest. Only from a device that held the app or stood by for it, or from the snapshot
 * the home is restored from (`chosen`: its own data stays), and only from a snapshot dated
 * no later than `nowMs` and the allowance; the others are said, with why.
 */
export function appSources(
  candidates: readonly { readonly snapshot: NamedSnapshot; readonly apps: readonly string[] }[],
  keepers: ReadonlyMap<string, AppKeepers>,
  chosen: string,
  nowMs: number,
): { sources: Map<string, NamedSnapshot>; notTaken: AppNotTaken[] } {
  const current = (app: string, candidate: NamedSnapshot) => {
    const claim = keepers.get(app)?.holder;
    return (
      claim !== undefined &&
      candidate.snapshot.device === claim.device &&
      candidate.snapshot.time >= claim.since
    );
  };
  const sources = new Map<string, NamedSnapshot>();
  const notTaken: AppNotTaken[] = [];
  for (const { snapshot: candidate, apps } of candidates)
    for (const app of apps) {
      const { device } = candidate.snapshot;
      const why =
        candidate.name === chosen
          ? undefined
          : !datedByNow(candidate.snapshot, nowMs)
            ? `it is dated ${candidate.snapshot.time}, after this box's now`
            : keepers.get(app)?.devices.has(device)
              ? undefined
              : `${device} neither held ${app} nor stood by for it`;
      if (why) {
        notTaken.push({ app, device, snapshot: candidate.name, why });
        continue;
      }
      const held = sources.get(app);
      const better =
        !held ||
        (current(app, candidate) && !current(app, held)) ||
        (current(app, candidate) === current(app, held) &&
          candidate.snapshot.time > held.snapshot.time);
      if (better) sources.set(app, candidate);
    }
  notTaken.sort((a, b) => compareCodeUnits(a.app, b.app) || compareCodeUnits(a.device, b.device));
  return { sources, notTaken };
}

/** Who may give each app's data back, by a zone state: its claims, and the standbys' copies. */
export function appKeepersIn(db: StateDb, membership: Membership): Map<string, AppKeepers> {
  const keepers = new Map<string, { holder?: AppKeepers["holder"]; devices: Set<string> }>();
  const of = (app: string) => {
    const known = keepers.get(app) ?? { devices: new Set<string>() };
    keepers.set(app, known);
    return known;
  };
  const facts = readHoldingFacts(db, membership);
  for (const [app, claims] of facts.claims) {
    const keeper = of(app);
    for (const claim of claims) keeper.devices.add(claim.device);
    const holder = holderOf(claims);
    if (holder) keeper.holder = { device: holder.device, since: holder.since };
  }
  for (const [app, copies] of facts.copies)
    for (const device of copies.keys()) of(app).devices.add(device);
  return keepers;
}

/** Restores `path` of a snapshot into `into`; damage is an integrity error, as for the home. */
async function restoreWhole(
  repository: Repository,
  from: NamedSnapshot,
  path: string,
  into: string,
): Promise<void> {
  const result = await restoreTree(repository, from.snapshot.tree, into, { path });
  if (result.damaged.length > 0)
    throw new BuckyError(
      "E_INTEGRITY",
      `${path} in snapshot ${from.name.slice(0, 8)} of ${from.snapshot.device} is damaged (${result.damaged.length} files); the home was left as it was`,
      "Run `bucky backup verify --read-data` to see what is damaged.",
    );
}

/** The apps whose data a snapshot holds (`apps/<app>/data`). */
async function appsIn(repository: Repository, root: string): Promise<string[]> {
  const apps = (await readTree(repository, root)).find((n) => n.name === "apps");
  if (apps?.type !== "dir") return [];
  const found: string[] = [];
  for (const app of await readTree(repository, apps.subtree)) {
    if (app.type !== "dir") continue;
    const data = (await readTree(repository, app.subtree)).find((n) => n.name === "data");
    if (data?.type === "dir") found.push(app.name);
  }
  return found;
}

/** The apps whose conflict copies a snapshot holds (`apps/<app>/conflicts`). */
async function appsWithConflicts(repository: Repository, root: string): Promise<string[]> {
  const apps = (await readTree(repository, root)).find((n) => n.name === "apps");
  if (apps?.type !== "dir") return [];
  const found: string[] = [];
  for (const app of await readTree(repository, apps.subtree)) {
    if (app.type !== "dir") continue;
    // Another device's snapshot names it: only an app's name is made a path of.
    if (!checkAppName(app.name).ok) continue;
    const kept = (await readTree(repository, app.subtree)).find((n) => n.name === "conflicts");
    if (kept?.type === "dir") found.push(app.name);
  }
  return found;
}

/** Whether a snapshot holds any of its device's own files (`data/`, not empty). */
async function holdsOwnFiles(repository: Repository, root: string): Promise<boolean> {
  const data = (await readTree(repository, root)).find((n) => n.name === "data");
  return data?.type === "dir" && (await readTree(repository, data.subtree)).length > 0;
}

async function hasTop(repository: Repository, root: string, name: string): Promise<boolean> {
  return (await readTree(repository, root)).some((n) => n.name === name);
}

/** Moves into `to` what `from` holds that `to` does not (files named by their content). */
function mergeMissing(from: string, to: string): void {
  if (!existsSync(from)) return;
  mkdirSync(to, { recursive: true, mode: 0o700 });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) mergeMissing(source, target);
    else if (!existsSync(target)) {
      try {
        renameSync(source, target);
      } catch {
        cpSync(source, target, { preserveTimestamps: true });
      }
    }
  }
}
