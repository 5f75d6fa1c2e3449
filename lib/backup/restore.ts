/**
 * `bucky backup restore`: a snapshot (or a path in it) into a directory, or, with no
 * directory, back into the home: the disaster-recovery path. After `bucky init --recover`
 * rebuilt the keys from the phrase, this brings back one device's key, its zone state,
 * its user data and its named data; every app's data from the newest snapshot holding it,
 * whichever device took it, and the other devices' named data and newer zone state
 * (zone-restore.ts); then it replays the changesets shipped hot since. `bucky daemon`
 * then runs the apps again.
 *
 * Snapshots are of devices: `latest` is this device's own newest. A box just recovered
 * from the phrase is none of the zone's devices yet: it becomes the device whose snapshot
 * is the newest, unless told which (`--device`).
 *
 * A home restore takes data only from snapshots signed by the device they name, a member
 * of the zone in the state restored (lib/backup/snapshot-trust.ts), and says which it left
 * out and why. The chosen snapshot is checked the same way, against the zone state it
 * brings back with the others' and the hot changesets: that state's device documents are
 * the owner's (checked against the zone id, which comes from the home: from the recovery
 * phrase on a recovered box), so a holder of the backup key cannot make its own key pass
 * for another device's, nor bring back a revoked device's home: the restore stops, and the
 * home is left as it was. That state is the chosen snapshot's own word, so it is verified
 * whole first (every changeset signed by its author, the state what they add up to), the
 * key it brings back must be the one that signed the snapshot, and it is judged with the
 * owner's revocations found in each device's newest own snapshot and the hot changes;
 * `latest` passes over snapshots dated ahead of now (clock-sized allowance), and on a box
 * just recovered a chosen snapshot that does not check out gives way to the next device's.
 * An unsigned snapshot (an older bucky's) is taken as the chosen one only when named by
 * its id, and never as another device's.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { MAX_DIRECTORY_NAMES } from "../../protocol/backup/formats.ts";
import {
  checkSnapshotSignature,
  type SnapshotSignature,
} from "../../protocol/backup/snapshot-signature.ts";
import type { ZoneTarget } from "../../protocol/backup/zone-target.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import {
  deviceIdFromPublicKey,
  parseZoneId,
  type ZoneId,
  zoneIdFromPublicKey,
} from "../../protocol/ids.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import { readKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import { withoutDaemon } from "../node/daemon-lock.ts";
import { holderOf, readClaims } from "../replica/claims.ts";
import { keepRestoredAsCopy, markRestoredHeld } from "../replica/restored-copy.ts";
import { checkIntegrity } from "../state/integrity.ts";
import { StateSeal } from "../state/seal.ts";
import { describeProblems, verifyNow } from "../state/verify.ts";
import { closeWhole, openStateDb, type StateDb } from "../store/db.ts";
import { ingestEntries } from "../sync/ingest.ts";
import { loadMembership, type Membership, membershipFromRows } from "../sync/membership.ts";
import { openZone } from "../zone/open.ts";
import { swapIntoHome } from "./home-swap.ts";
import { hotChangesets } from "./hot.ts";
import type { Repository } from "./repository.ts";
import { type RestoreProgress, restoreTree } from "./restorer.ts";
import { withRepository } from "./run.ts";
import { saidLatest } from "./said-latest.ts";
import { leaveOutOtherKeys, ownDevice, stageDeviceKey } from "./sealed-device-key.ts";
import { chooseSnapshot, type HomeView, olderThanSaid } from "./snapshot-choice.ts";
import {
  checkSnapshot,
  datedByNow,
  type LeftOut,
  type NamedSnapshot,
  type SnapshotCheck,
  type SnapshotJudge,
  SnapshotSignatures,
  type SnapshotTrust,
  trustedNewest,
} from "./snapshot-trust.ts";
import { StateImages } from "./state-images.ts";
import { readTargets, saveTarget } from "./targets.ts";
import {
  type AppNotTaken,
  appKeepersIn,
  gatherFromDevices,
  mergeStateImages,
  type OtherDeviceData,
  type RestoredApp,
} from "./zone-restore.ts";
import { revocationsIn, withRevocations } from "./zone-revocations.ts";
import {
  chooseTarget,
  type ResolvedTarget,
  readZoneTargets,
  resolveTargets,
} from "./zone-targets.ts";

export interface RestoreCommandResult {
  readonly snapshot: string;
  /** The device whose snapshot it is (a home restored becomes that device). */
  readonly device: string;
  readonly time: string;
  /** Whose key signed it, and what its check found (lib/backup/snapshot-trust.ts). */
  readonly signedBy: string | null;
  readonly trust: SnapshotTrust;
  /** Why it is not trusted, in words ("" when it is): said, for a restore into a directory. */
  readonly why: string;
  readonly to: string;
  readonly files: number;
  readonly bytes: number;
  /** Each app's data in the home, and the device whose snapshot it came from (home restores). */
  readonly apps: readonly RestoredApp[];
  /**
   * Apps' data other snapshots held that a home restore did not take (from a device that
   * neither held the app nor stood by for it, or dated ahead), and why.
   */
  readonly appsNotTaken: readonly AppNotTaken[];
  /**
   * The other devices whose newest snapshots hold files of their own (`data/`), which a
   * home restore leaves where they are (each device's own): restored apart, by path.
   */
  readonly otherDevicesData: readonly OtherDeviceData[];
  /** Changesets of the zone state taken from other devices' newer snapshots (home restores). */
  readonly mergedChangesets: number;
  /** Hot changesets replayed on top of the snapshot's zone state (home restores). */
  readonly replayedChangesets: number;
  /**
   * Of each device, the newest snapshot a home restore did not take, newer than the one it
   * took (forged, unsigned, of a revoked device…), and why.
   */
  readonly leftOut: readonly LeftOut[];
  readonly damaged: readonly string[];
  /**
   * Where a home restore set aside what it replaced of the home's data (home-swap.ts), kept
   * for the person to look through and remove; null when it replaced none.
   */
  readonly replacedKeptIn: string | null;
}

export interface RestoreOptions {
  readonly paths: HomePaths;
  readonly snapshot: string;
  readonly from?: string;
  readonly identityFile?: string;
  readonly to?: string;
  readonly path?: string;
  /** Whose snapshot `latest` is (default: this device's). */
  readonly device?: string;
  /** Take `latest` even when it is older than the last backup its device said it made. */
  readonly acceptOlder?: boolean;
  readonly force: boolean;
  readonly log: Log;
  readonly now: () => number;
  readonly onProgress?: (progress: Readonly<RestoreProgress>) => void;
}

export async function restoreSnapshot(options: RestoreOptions): Promise<RestoreCommandResult> {
  const { paths, log } = options;
  const home = homeOf(paths, log);
  const target = chooseTarget(
    home?.targets ?? localTargets(paths),
    options.from,
    options.identityFile,
  );
  if (options.to && !options.force && !isEmptyDir(options.to)) {
    throw new BuckyError(
      "E_EXISTS",
      `${options.to} is not empty; nothing was restored`,
      "Restore into an empty or new directory, or add --force to write over what is there.",
    );
  }
  // Into the home: with no daemon running, nor starting meanwhile.
  if (!options.to)
    return await withoutDaemon(
      paths.home,
      "the home cannot be restored under it",
      "Stop it first (`bucky stop`), or restore elsewhere with --to.",
      () => restoreWith(options, home, target),
    );
  return await restoreWith(options, home, target);
}

async function restoreWith(
  options: RestoreOptions,
  home: ReturnType<typeof homeOf>,
  target: ReturnType<typeof chooseTarget>,
): Promise<RestoreCommandResult> {
  const { paths, log } = options;
  // What each device said was its last backup here, known where the zone state opens; read
  // before the snapshots are listed, so a backup finishing meanwhile is listed too.
  const said = home && options.snapshot === "latest" ? saidLatest(paths, target.name, log) : [];
  return withRepository(
    paths,
    target,
    log,
    async (repository) => {
      // The index once the snapshots are listed (a backup may be running meanwhile).
      const all = await repository.snapshots();
      for (const { name, problem } of repository.unreadableSnapshots)
        log.warn("a snapshot does not open: left out", { snapshot: name.slice(0, 8), problem });
      // Checked against the zone the home is of (the phrase's), where it knows: then a
      // snapshot another holder of the backup key filed in a device's name is never chosen.
      const anchor = home?.zone ?? ownerZone(paths, log);
      // The index files too: a trusted file's word on where a blob is wins over an
      // unsigned one's. With no home (a disaster restore), by the phrase's zone: a file
      // signed by a key its owner never admitted is forged, whatever key signed it.
      await repository.loadIndex(
        home
          ? { zone: home.zone, membership: home.membership }
          : anchor
            ? { zone: anchor, membership: noMembers(anchor) }
            : undefined,
      );
      for (const { name, problem } of repository.unreadableIndexFiles)
        log.warn("an index file does not open: left out", { file: name.slice(0, 8), problem });
      for (const { name, why, signedBy } of repository.forgedIndexFiles)
        log.warn("an index file is forged: left out", {
          file: name.slice(0, 8),
          why,
          ...(signedBy ? { signedBy } : {}),
        });
      // Each signature checked once, whatever asks for it after.
      const checked = new SnapshotSignatures(anchor);
      const signatures = new Map(all.map((s) => [s.name, checked.of(s)] as const));
      // A home whose zone state is damaged, holding no owner key, knows its own key: it is
      // restored only from a snapshot that key signed (an older bucky's unsigned one if
      // named), whose zone is then the home's own word, not another key holder's.
      const self = home || anchor || options.to ? undefined : ownDevice(paths, log);
      const candidates = self
        ? all.filter((s) => {
            const signature = signatures.get(s.name);
            return signature?.kind === "signed"
              ? signature.by === self
              : signature?.kind === "unsigned" && options.snapshot !== "latest";
          })
        : all;
      const choose = (among: readonly NamedSnapshot[]) => {
        const found = chooseSnapshot(among, options.snapshot, {
          device: options.device,
          home,
          intoHome: !options.to,
          location: repository.backend.location,
          signatures,
          nowMs: options.now(),
        });
        const passedOver = olderThanSaid(found, said, {
          location: repository.backend.location,
          acceptOlder: options.acceptOlder === true,
        });
        if (passedOver)
          log.warn("latest is older than its device's last backup, which the target lacks", {
            device: passedOver.device,
            lastBackup: passedOver.snapshot.slice(0, 8),
            taken: found.name.slice(0, 8),
          });
        return found;
      };
      const chosen = choose(candidates);
      const { name, snapshot } = chosen;
      const progress = options.onProgress ? { onProgress: options.onProgress } : {};
      if (options.to) {
        const result = await restoreTree(repository, snapshot.tree, options.to, {
          ...(options.path ? { path: options.path } : {}),
          ...progress,
        });
        // Into a directory, to be looked at: taken whatever its check, which is said.
        const check = checkSnapshot(
          chosen,
          home ? { zone: home.zone, membership: home.membership } : undefined,
        );
        log.info("restored", {
          snapshot: name.slice(0, 8),
          to: options.to,
          files: result.files,
          trust: check.trust,
        });
        return {
          snapshot: name,
          device: snapshot.device,
          time: snapshot.time,
          ...check,
          to: options.to,
          ...result,
          apps: [],
          appsNotTaken: [],
          otherDevicesData: [],
          mergedChangesets: 0,
          replayedChangesets: 0,
          leftOut: [],
          replacedKeptIn: null,
        };
      }
      refuseForged(chosen, signatures.get(name));
      const zoneId = anchor ?? parseZoneId(snapshot.zone);
      if (!zoneId)
        throw new BuckyError("E_INTEGRITY", `snapshot ${name.slice(0, 8)} names no valid zone`);
      const ofZone = all.filter((s) => s.snapshot.zone === zoneId);
      const homeDevice = home?.device;
      const ofZoneChecked = checked.zone === zoneId ? checked : new SnapshotSignatures(zoneId);
      const restoreFrom = (from: NamedSnapshot) =>
        restoreHome(repository, from, {
          ...options,
          target,
          zone: zoneId,
          all,
          ofZone,
          progress,
          signatures: ofZoneChecked,
        });
      const automatic = options.snapshot === "latest" && options.device === undefined;
      // A home that is a device of the zone (by its state, or its own key) stays that one.
      const mayChooseAnother = automatic && snapshot.device !== homeDevice && !self;
      const first = await restoreFrom(chosen);
      if (!("refused" in first)) return first;
      // `latest` on a box just recovered chose the device with the newest snapshot, which
      // the zone state it brought back says is revoked (or quarantined), or whose state
      // does not verify or key is not its signer's (a holder of the backup key made it, to
      // come first): the next newest trusted device, by that state, is chosen instead.
      const standing =
        first.check === undefined ||
        first.check.trust === "revoked" ||
        first.check.trust === "quarantined";
      if (!mayChooseAnother || !standing) throw first.refused;
      const judged = first.judge;
      const trusted = ofZone.filter((s) =>
        s.snapshot.device === snapshot.device
          ? false
          : judged
            ? checkSnapshot(s, judged, ofZoneChecked).trust === "signed"
            : signatures.get(s.name)?.kind === "signed",
      );
      let next: NamedSnapshot;
      try {
        next = choose(trusted);
      } catch {
        throw first.refused;
      }
      log.warn("the newest snapshot's device is not trusted: restoring another's", {
        snapshot: name.slice(0, 8),
        device: snapshot.device,
        trust: first.check?.trust ?? "unchecked",
        instead: next.snapshot.device,
      });
      const second = await restoreFrom(next);
      if ("refused" in second) throw second.refused;
      return second;
    },
    { lock: { kind: "read", purpose: "restore" }, withIndex: false, now: options.now },
  );
}

/**
 * Restores the home from `chosen`, with what the other devices' trusted snapshots hold; or,
 * when the zone state it brings back does not trust `chosen`, leaves the home as it was and
 * says why (with that state's word on the zone's devices, to choose another by).
 */
async function restoreHome(
  repository: Repository,
  chosen: NamedSnapshot,
  options: {
    readonly paths: HomePaths;
    readonly snapshot: string;
    /** Where it is restored from, as this box reaches it. */
    readonly target: ResolvedTarget;
    readonly zone: ZoneId;
    readonly all: readonly NamedSnapshot[];
    readonly ofZone: readonly NamedSnapshot[];
    readonly progress: { onProgress?: (progress: Readonly<RestoreProgress>) => void };
    readonly log: Log;
    readonly now: () => number;
    /** The snapshots' signatures, checked against `zone` once. */
    readonly signatures: SnapshotSignatures;
  },
): Promise<RestoreCommandResult | Refused> {
  const { paths, log, progress, all, ofZone, signatures } = options;
  const zoneId = options.zone;
  const { name, snapshot } = chosen;
  if (snapshot.zone !== zoneId) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `snapshot ${name.slice(0, 8)} is of zone ${snapshot.zone}, not of this home's zone ${zoneId}`,
    );
  }
  removeStaleStaging(paths);
  const staging = join(paths.home, `${STAGING_PREFIX}${randomBytes(4).toString("hex")}`);
  try {
    const result = await restoreTree(repository, snapshot.tree, staging, progress);
    if (result.damaged.length > 0) {
      throw new BuckyError(
        "E_INTEGRITY",
        `snapshot ${name.slice(0, 8)} is damaged (${result.damaged.length} files); the home was left as it was`,
        "Run `bucky backup verify --read-data`, and restore an older snapshot.",
      );
    }
    // The device key: an older bucky's in the clear must be its signer's; this bucky's is
    // sealed to the owner, and the state opens with it. A snapshot not taken for its key
    // (none, one that does not open, another's) gives way on a box just recovered: a key
    // holder could otherwise file such a snapshot, newest, to stop every restore.
    const keyRefused = keyRefusal(() => {
      const otherKey = otherKeyRefusal(staging, chosen, log);
      if (otherKey) return otherKey;
      return stageDeviceKey(join(staging, "identity"), chosen, { paths, zone: zoneId, log })
        .refused;
    });
    if (keyRefused) return { refused: keyRefused };
    leaveOutOtherKeys(join(staging, "identity"));
    // The zone state first, whole (the newer states of the other devices, then what was
    // shipped hot): it says who holds each app's data. All of it in the staging
    // directory, so the home is replaced at once or not at all.
    const staged = openStagedState(staging, zoneId, log, options.now);
    const unverified = stateRefusal(staged, zoneId);
    if (unverified) {
      closeWhole(staged.db);
      return { refused: unverified };
    }
    // The owner's revocations in each device's newest own state and the hot changes: the state the
    // chosen snapshot brings cannot leave one out.
    // Each device's state restored once, for its revocations and then to merge.
    const images = new StateImages(repository, staging);
    let hot: Uint8Array[];
    let revocations: Awaited<ReturnType<typeof revocationsIn>>;
    try {
      const shipped = await hotChangesets(repository);
      hot = shipped.changesets;
      for (const { name, problem } of shipped.unreadable)
        log.warn("a hot file does not open: left out", { file: name, problem });
      if (shipped.cut)
        log.warn("hot/ holds more files than one listing takes: those past it were left out", {
          listedAtMost: MAX_DIRECTORY_NAMES,
        });
      revocations = await revocationsIn(ofZone, hot, zoneId, images, signatures);
    } catch (error) {
      closeWhole(staged.db);
      images.close();
      throw error;
    }
    let merged: number;
    let replayed: number;
    let holders: ReturnType<typeof holdersIn>;
    let keepers: ReturnType<typeof appKeepersIn>;
    let judge: SnapshotJudge;
    try {
      const context = {
        ...staged,
        zone: zoneId,
        log,
        now: options.now,
        revocations,
        images,
        signatures,
      };
      const taken = new Set([name]);
      merged = await mergeStateImages(ofZone, taken, context);
      replayed = replayHot(staged, zoneId, hot, log, options.now);
      // The devices the hot changes admitted: their snapshots' states too.
      merged += await mergeStateImages(ofZone, taken, context);
      judge = {
        zone: zoneId,
        membership: withRevocations(loadMembership(staged.db, zoneId), revocations),
      };
      holders = holdersIn(staged.db, judge.membership);
      keepers = appKeepersIn(staged.db, judge.membership);
    } finally {
      closeWhole(staged.db);
      images.close();
    }
    const check = checkSnapshot(chosen, judge, signatures);
    const refused = refusal(chosen, check, options.snapshot !== "latest");
    if (refused) return { refused, check, judge };
    // A device's own snapshot dated ahead of now is not its newest: the one before is.
    const nowMs = options.now();
    const ahead = ofZone.filter((s) => s.name !== name && !datedByNow(s.snapshot, nowMs));
    for (const s of ahead)
      log.warn("a snapshot dated ahead of now was left out", {
        snapshot: s.name.slice(0, 8),
        device: s.snapshot.device,
        time: s.snapshot.time,
      });
    const { leftOut } = trustedNewest(ofZone, judge, signatures);
    const { newest } = trustedNewest(
      ofZone.filter((s) => !ahead.includes(s)),
      judge,
      signatures,
    );
    for (const out of leftOut)
      log.warn("a snapshot was left out", {
        snapshot: out.snapshot.slice(0, 8),
        device: out.device,
        trust: out.trust,
        why: out.why,
      });
    const { apps, notTaken, otherData } = await gatherFromDevices(
      repository,
      chosen,
      newest,
      staging,
      keepers,
      nowMs,
    );
    for (const out of notTaken)
      log.warn("an app's data in a snapshot was not taken", {
        app: out.app,
        snapshot: out.snapshot.slice(0, 8),
        device: out.device,
        why: out.why,
      });
    await keepHeldElsewhereAsCopies(
      staging,
      snapshot.device,
      apps,
      holders,
      new Map(all.map((s) => [s.name, s.snapshot.time])),
    );
    const replacedKeptIn = swapIntoHome(staging, paths, options.now());
    keepConnection(paths, options.target, snapshot.device, log);
    log.info("home restored", {
      snapshot: name.slice(0, 8),
      device: snapshot.device,
      files: result.files,
      merged,
      replayed,
      trust: check.trust,
      leftOut: leftOut.length,
      replacedKeptIn,
    });
    return {
      snapshot: name,
      device: snapshot.device,
      time: snapshot.time,
      ...check,
      to: paths.home,
      files: result.files,
      bytes: result.bytes,
      apps,
      appsNotTaken: notTaken,
      otherDevicesData: otherData,
      mergedChangesets: merged,
      replayedChangesets: replayed,
      leftOut,
      damaged: [],
      replacedKeptIn,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * A home restore that did not take its snapshot, and why; with the restored state's word
 * on the zone's devices when it got as far as judging by it.
 */
type Refused = { refused: BuckyError; check?: SnapshotCheck; judge?: SnapshotJudge };

/** The home as it is, or undefined when its state database is damaged (what a restore mends). */
function homeOf(paths: HomePaths, log: Log): HomeView | undefined {
  let zone: ReturnType<typeof openZone>;
  try {
    zone = openZone(paths.home, log);
  } catch (error) {
    if (error instanceof BuckyError && error.code === "E_INTEGRITY") {
      log.warn("the home's state database is damaged: the snapshot replaces it", {
        error: error.message,
      });
      return undefined;
    }
    throw error;
  }
  try {
    return {
      zone: zone.zone.id,
      device: zone.device.name,
      members: new Set(zone.devices.map((d) => d.name)),
      membership: loadMembership(zone.db, zone.zone.id, zone.devices),
      targets: resolveTargets(paths, zone.db, zone.device.name),
    };
  } finally {
    zone.close();
  }
}

/**
 * With the zone state damaged, the zone the owner key in the home is of, if it holds one:
 * the snapshot's own word for its zone is what a restore checks, not what it goes by.
 */
function ownerZone(paths: HomePaths, log: Log): ZoneId | undefined {
  if (!existsSync(paths.ownerKey)) return undefined;
  return zoneIdFromPublicKey(
    signingKeyFromSeed(readKeyFile(paths.ownerKey, "owner", log)).publicKey,
  );
}

/** What `stage` refused, or threw of the snapshot (E_INTEGRITY, E_PERMISSION), as a refusal. */
function keyRefusal(stage: () => BuckyError | undefined): BuckyError | undefined {
  try {
    return stage();
  } catch (error) {
    if (
      error instanceof BuckyError &&
      (error.code === "E_INTEGRITY" || error.code === "E_PERMISSION")
    )
      return error;
    throw error;
  }
}

/**
 * A home is never restored from a signed snapshot that holds another device's key: the
 * key it brings back (which the zone state is sealed under) is the one that signed it.
 */
function otherKeyRefusal(staging: string, chosen: NamedSnapshot, log: Log): BuckyError | undefined {
  const path = join(staging, "identity", "device.key");
  const signature = checkSnapshotSignature(chosen.name, chosen.snapshot);
  if (signature.kind !== "signed" || !existsSync(path)) return undefined;
  const held = deviceIdFromPublicKey(
    signingKeyFromSeed(readKeyFile(path, "device", log)).publicKey,
  );
  if (held === signature.by) return undefined;
  return new BuckyError(
    "E_INTEGRITY",
    `snapshot ${chosen.name.slice(0, 8)} of ${chosen.snapshot.device} holds another device's key than the one that signed it; the home was left as it was`,
    "Someone holding the backup key wrote it. See the snapshots and who signed each with `bucky backup list`, and restore another.",
  );
}

/** A home is never restored from a snapshot whose signature does not hold. */
function refuseForged(chosen: NamedSnapshot, signature: SnapshotSignature | undefined): void {
  if (signature?.kind !== "forged") return;
  throw new BuckyError(
    "E_INTEGRITY",
    `snapshot ${chosen.name.slice(0, 8)} of ${chosen.snapshot.device} is forged: ${signature.why}; the home was left as it was`,
    "Someone holding the backup key wrote it. See the snapshots and who signed each with `bucky backup list`, and restore a signed one.",
  );
}

/**
 * A home is restored only from a snapshot signed by the device it names, a member of the
 * zone; or, named by its id, an older bucky's unsigned one.
 */
function refusal(
  chosen: NamedSnapshot,
  check: SnapshotCheck,
  named: boolean,
): BuckyError | undefined {
  if (check.trust === "signed" || (check.trust === "unsigned" && named)) return undefined;
  const { name, snapshot } = chosen;
  return new BuckyError(
    "E_INTEGRITY",
    `snapshot ${name.slice(0, 8)} of ${snapshot.device} is not taken: ${check.why}; the home was left as it was`,
    check.trust === "revoked" || check.trust === "quarantined"
      ? `Restore another device's snapshot (--device), or ${snapshot.device}'s files into a directory with --to.`
      : "See the snapshots and who signed each with `bucky backup list`, and restore a signed one.",
  );
}

/** With the zone state damaged, the targets this device connects to itself are what is known. */
function localTargets(paths: HomePaths): ResolvedTarget[] {
  return readTargets(paths).map((connection) => ({
    name: connection.name,
    url: connection.url,
    via: null,
    route: { kind: "direct", connection },
  }));
}

const STAGING_PREFIX = ".restore-";

/**
 * What a restore into this home killed half way left there. (The home's daemon is
 * stopped, and one home is restored by one command at a time.)
 */
function removeStaleStaging(paths: HomePaths): void {
  for (const name of readdirSync(paths.home))
    if (name.startsWith(STAGING_PREFIX))
      rmSync(join(paths.home, name), { recursive: true, force: true });
}

/**
 * How this box reached the target it restored from, kept for the zone's target at that URL
 * which the restored device reaches (its via): a snapshot holds no way in (`<home>/backup/`
 * is the device's own), so the SSH key it was given (`--identity`) was forgotten, and every
 * device's backups through it failed, logging in with no key, with no way to give it one
 * but to remove the target and add it again.
 */
function keepConnection(paths: HomePaths, target: ResolvedTarget, device: string, log: Log): void {
  if (target.route.kind !== "direct" || !target.route.connection.identityFile) return;
  const { identityFile } = target.route.connection;
  const db = openStateDb(paths.stateDb, { create: false });
  let reached: ZoneTarget | undefined;
  try {
    reached = readZoneTargets(db).find((t) => t.via === device && t.url === target.url);
  } finally {
    db.$client.close();
  }
  if (!reached) return;
  saveTarget(paths, {
    name: reached.name,
    url: reached.url,
    identityFile,
    ...(reached.hostKey ? { hostKey: reached.hostKey } : {}),
    shared: true,
  });
  log.info("backup target's key kept", { target: reached.name, identityFile });
}

/**
 * The restored zone state in the staging directory, opened as the device whose home it is
 * (its key came back with it): checked against its seal, or sealed now if it was made
 * before states were sealed, so changes can be applied to it. The seal is keyed by the key
 * in the same snapshot, so it says only that the snapshot's writer made it: stateRefusal
 * verifies the state whole before anything is judged by it.
 */
function openStagedState(
  staging: string,
  zone: ZoneId,
  log: Log,
  now: () => number,
): { db: StateDb; seal: StateSeal } {
  const path = join(staging, "state.db");
  if (!existsSync(path)) throw new BuckyError("E_INTEGRITY", "the snapshot holds no zone state");
  const seed = readKeyFile(join(staging, "identity", "device.key"), "device", log);
  const seal = StateSeal.fromSeed(seed, deviceIdFromPublicKey(signingKeyFromSeed(seed).publicKey));
  const db = openStateDb(path, { create: false });
  try {
    checkIntegrity(db.$client, seal, zone, { everyRow: true, nowMs: now(), log });
  } catch (error) {
    db.$client.close();
    throw error;
  }
  return { db, seal };
}

/**
 * Why the staged state is not taken, if it is not: it is verified whole (every changeset's
 * signature by its author, each author's feed a chain, the state what they add up to),
 * since its seal is only the word of whoever wrote the snapshot.
 */
function stateRefusal(
  staged: { db: StateDb; seal: StateSeal },
  zone: ZoneId,
): BuckyError | undefined {
  const verdict = verifyNow(staged.db.$client, staged.seal, zone);
  if (verdict.problemCount === 0) return undefined;
  return new BuckyError(
    "E_INTEGRITY",
    `the snapshot's zone state does not verify: ${describeProblems(verdict)}; the home was left as it was`,
    "Someone holding the backup key may have written it. See the snapshots and who signed each with `bucky backup list`, and restore another.",
  );
}

/** Applies the hot changesets the restored state lacks; returns how many it took. */
function replayHot(
  staged: { db: StateDb; seal: StateSeal },
  zone: ZoneId,
  changesets: readonly Uint8Array[],
  log: Log,
  now: () => number,
): number {
  if (changesets.length === 0) return 0;
  const result = ingestEntries(staged.db, changesets, {
    zone,
    nowMs: now(),
    log,
    source: "hot backup",
    seal: staged.seal,
  });
  return result.applied.length;
}

/** Who holds each app's data, by the restored zone state: the device, its epoch, since when. */
function holdersIn(
  db: StateDb,
  membership: Membership,
): Map<string, { device: string; epoch: number; since: string }> {
  const holders = new Map<string, { device: string; epoch: number; since: string }>();
  for (const [app, claims] of readClaims(db, membership)) {
    const holder = holderOf(claims);
    if (holder)
      holders.set(app, { device: holder.device, epoch: holder.epoch, since: holder.since });
  }
  return holders;
}

/**
 * The data of apps another device holds, restored from that holder's own backup since it
 * took them, is kept as this box's copy of them (lib/replica/restored-copy.ts): it takes
 * them over once their holder is gone, as a standby would. The data of apps this box
 * itself holds is marked as of its backup (markRestoredHeld): a standby may hold newer.
 */
async function keepHeldElsewhereAsCopies(
  staging: string,
  restoredAs: string,
  apps: readonly RestoredApp[],
  holders: ReturnType<typeof holdersIn>,
  times: ReadonlyMap<string, string>,
): Promise<void> {
  for (const restored of apps) {
    const holder = holders.get(restored.app);
    const takenAt = times.get(restored.snapshot);
    if (holder?.device === restoredAs && takenAt) {
      const appDir = join(staging, "apps", restored.app);
      if (existsSync(appDir)) markRestoredHeld(appDir, Date.parse(takenAt));
      continue;
    }
    if (!holder || restored.device !== holder.device || !takenAt) continue;
    if (takenAt < holder.since) continue;
    await keepRestoredAsCopy({
      app: restored.app,
      dataDir: join(staging, "apps", restored.app, "data"),
      replicaDir: join(staging, "replicas", restored.app),
      holder: holder.device,
      epoch: holder.epoch,
      takenAtMs: Date.parse(takenAt),
    });
  }
}

function isEmptyDir(path: string): boolean {
  if (!existsSync(path)) return true;
  try {
    return readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

/**
 * A zone's membership as known before any of its state is: no device. Index files signed
 * by a key the zone's owner admitted read as `unknown` by it (lib/backup/index-trust.ts).
 */
function noMembers(zone: ZoneId): Membership {
  return membershipFromRows([], zone, new Map(), new Map());
}
