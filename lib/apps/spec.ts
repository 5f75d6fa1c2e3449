/**
 * The zone state an app lives in. The owner's install writes its spec; the device that
 * runs it reports how it goes; every device reads both.
 *
 *   users/<user>/apps/<app>/spec          what should run: version, package, placement, desired state
 *   users/<user>/apps/<app>/desired       a person's start, stop or removal of it (spec-acts.ts)
 *   users/<user>/apps/<app>/share         whom the owner shared it with (spec-acts.ts)
 *   users/<user>/apps/<app>/arrived       a move's end, by the device it went to
 *   users/<user>/apps/<app>/rolled-back   an upgrade given up, by the device it crashed on
 *   nodes/<device>/apps/<app>             how it is running there: state, url, errors
 *
 * The spec is what the install wrote and a person's commands since, each written whole; a
 * start, stop, removal or share also goes beside it, under a key of its own (spec-acts.ts),
 * so that two given at once on two devices both stand. What a device finds out by itself
 * (a move arrived, an upgrade that will not start) goes beside it too, and names the move
 * or the install it is of: a reader lays it over the spec while the spec is still of that
 * move or install (amended). Written into the spec, such a change was a whole spec from
 * that device's view, and a person's command given meanwhile on a device it had not heard
 * yet (a stop, a removal, a newer install) was undone by it.
 *
 * Which devices are alive (so hold their `any` apps) is not state: it is presence
 * (lib/sync/presence.ts), which does not grow the log.
 */
import { type AppManifest, installedManifestProblems } from "../../protocol/app-manifest.ts";
import { MAX_PURGE_GRANT_LENGTH } from "../../protocol/app-purge.ts";
import { MAX_UNSANDBOXED_GRANT_LENGTH } from "../../protocol/app-unsandboxed.ts";
import { check, ProtocolError } from "../../protocol/errors.ts";
import { checkAppName, checkDeviceName } from "../../protocol/names.ts";
import { type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import { parsePlatformName } from "../../protocol/oci.ts";
import { isConflictCopyName } from "../../protocol/replica.ts";
import { requireRecord, requireString, requireUint } from "../../protocol/shape.ts";
import type { StateDb } from "../store/db.ts";
import { type StateReader, stateRowsMatching, stateValue } from "../store/reads.ts";
import { APP_USER, appKeys } from "./app-keys.ts";
import { withUpgrade } from "./install-record.ts";
import { appRows, checkPastRemovals, withActs } from "./spec-acts.ts";

export { APP_USER, appKeys };

/**
 * The newest spec format this build reads. Specs carry no format yet (read as 1): a later
 * bucky that writes a spec older ones would misread says so with `"format": 2` (or more),
 * and this build then says that spec was written by a newer bucky (update this device)
 * rather than that it cannot be read (remove it). A field older builds pass over needs no
 * new format.
 */
export const SPEC_FORMAT = 1;

/** Why a spec is not one this build reads: `newer` when a newer bucky wrote it (its format says so). */
export interface SpecProblem {
  readonly problem: string;
  readonly newer: boolean;
}

export type DesiredState = "running" | "stopped" | "removed";

export interface AppSpec {
  readonly app: string;
  readonly version: string;
  /** What it runs from: its package, or for an image app the image's record (lib/images/). */
  readonly package: ObjectId;
  /** The package of the version installed before (kept to go back to), if any. */
  readonly previousPackage?: ObjectId;
  readonly manifest: AppManifest;
  /** An image app's image: the platforms the zone holds it for ("linux/amd64"). */
  readonly image?: { readonly platforms: readonly string[] };
  /** A device name, or "any". */
  readonly placement: string;
  /**
   * Where `bucky app move` sends it: for an app with data, until it arrives (the device it
   * went to then says so beside the spec, lib/apps/arrived-move.ts, and readers take the
   * move as over); with none, kept there while live.
   */
  readonly moveTo?: string | null;
  /** When `bucky app move` wrote that target (RFC 3339): which move an arrival ends. */
  readonly movedAt?: string;
  /** A conflict copy the owner asked back (`bucky app restore-copy`): the device keeping it takes over with it. */
  readonly restoreCopy?: {
    readonly device: string;
    readonly name: string;
    readonly at: string;
  } | null;
  readonly desired: DesiredState;
  /**
   * The owner let it run without a sandbox on a device that cannot give it one
   * (`bucky app install --unsandboxed`). A device that can still sandboxes it. Carried out
   * only with `unsandboxedGrant`, the owner's consent for this package (lib/apps/unsandboxed.ts).
   */
  readonly unsandboxed?: boolean;
  /** The owner's signed grant to run this package unsandboxed (protocol/app-unsandboxed.ts). */
  readonly unsandboxedGrant?: string;
  /** The grant of the version before (previousPackage), for a rollback to it. */
  readonly previousUnsandboxedGrant?: string;
  /**
   * With desired "removed": delete the app's data too, every copy of it included. Carried
   * out only with `purgeGrant`, the owner's consent to this removal (lib/apps/purge.ts).
   */
  readonly purge?: boolean;
  /** The owner's signed grant of the purge (protocol/app-purge.ts), a compact JWS. */
  readonly purgeGrant?: string;
  /**
   * Who sees a zone-only app, beside the admins: people's names and role names
   * (`bucky app share`). Absent or null: everyone of the zone.
   */
  readonly shared?: readonly string[] | null;
  /**
   * When `shared` was last set (RFC 3339). A person it names counts only if they were not
   * removed since: someone added later under a removed person's name is not the one it was
   * shared with (lib/users/access.ts).
   */
  readonly sharedAt?: string;
  /**
   * For each person `shared` names, the rev of the last removal of that name its device had
   * heard of when it was set (0: none): it counts for a person of the name only if no
   * removal came after that (lib/users/access.ts), whatever the devices' clocks said.
   */
  readonly sharedPastRemovals?: Readonly<Record<string, number>>;
  /**
   * An upgrade given up for the version this spec names, by the device that saw it crash
   * at every start (lib/apps/upgrade-rollback.ts): the version, its package, why (that
   * device's words) and when. Cleared by the next install.
   */
  readonly failedUpgrade?: {
    readonly version: string;
    readonly package: ObjectId;
    readonly error: string;
    readonly device: string;
    readonly at: string;
  };
  /** When this version was installed (RFC 3339): which install a rollback is of. */
  readonly installedAt?: string;
  /**
   * The installedAt of the install this one upgraded: a start, stop, move or removal of
   * that install given at once on another device applies to this one (spec-acts.ts).
   */
  readonly installedOver?: string;
  readonly updatedAt: string;
  /**
   * The updatedAt of a write by a bucky that keeps people's acts beside the spec
   * (spec-acts.ts): its desired state and share are then a copy of theirs, for a bucky from
   * before them. One that keeps none copies this field over as it is and writes another
   * updatedAt: its spec no longer reads as written by one that keeps acts.
   */
  readonly actsAt?: string;
}

/** A move's end, written by the device the app moved to once it holds the app's data. */
export interface ArrivedMove {
  readonly device: string;
  /** The move's movedAt; null for a move an older bucky wrote, which had none. */
  readonly movedAt: string | null;
}

/** An upgrade given up, written by the device it crashed on (lib/apps/upgrade-rollback.ts). */
export interface RolledBack {
  /** The install given up: its package and installedAt (null: an older bucky's install). */
  readonly package: ObjectId;
  readonly installedAt: string | null;
  /** The version gone back to: the install's previousPackage, and its manifest. */
  readonly backTo: { readonly package: ObjectId; readonly manifest: AppManifest };
  /** That device's words for the last crash, its name, and when (RFC 3339). */
  readonly error: string;
  readonly device: string;
  readonly at: string;
}

export type RunState = "pending" | "starting" | "running" | "unhealthy" | "crashed" | "stopped";

export interface AppReport {
  readonly app: string;
  readonly state: RunState;
  readonly version: string;
  readonly package: ObjectId;
  /** Where the app answers HTTP on its device, when it does. */
  readonly url: string | null;
  readonly sandboxed: boolean;
  readonly restarts: number;
  /** What went wrong last, in words. */
  readonly error: string | null;
  readonly since: string;
  /**
   * The package that last ran healthy on this device, kept through the reports after it (a
   * stop, a crash, a restart's "stopped"): what says a version ran here once the state no
   * longer does, and so may have migrated the app's data (upgrade-rollback.ts ranSomewhere).
   */
  readonly ranHealthy?: ObjectId;
  /** Why an upgrade of the version running waits, when one does (lib/apps/upgrade-wait.ts). */
  readonly waitingFor?: {
    readonly version: string;
    readonly package: ObjectId;
    readonly why: string;
  };
}

/**
 * The apps' specs, leaving out each one not of a spec's shape (told to `unreadable`, with
 * why, when given: any member writes specs, so `bucky status` names them): one bad spec
 * hides no other.
 */
export function readSpecs(
  db: StateReader,
  unreadable?: (app: string, problem: SpecProblem) => void,
): AppSpec[] {
  const rows = stateRowsMatching(db, `${appKeys.specPrefix}*/spec`);
  return rows.flatMap((row) => {
    const app = specApp(row.key);
    // A key whose app is no app name is no app's spec: neither read nor named (its "name"
    // is a member's words, which bucky status must not say as an app's).
    if (!row.value || !checkAppName(app).ok) return [];
    const spec = parseSpec(row.value, app);
    if (!spec && unreadable)
      unreadable(app, specProblem(row.value, app) ?? { problem: "", newer: false });
    return spec ? [amended(db, spec)] : [];
  });
}

/** Why the spec of `app` in the zone state is not one, or undefined when it is (or there is none). */
export function unreadableSpec(db: StateReader, app: string): SpecProblem | undefined {
  const value = stateValue(db, appKeys.spec(app));
  return value ? specProblem(value, app) : undefined;
}

/** The spec of `app` as the zone runs it: as written, with what devices found out laid over it (amended). */
export function readSpec(db: StateReader, app: string): AppSpec | undefined {
  const value = stateValue(db, appKeys.spec(app));
  const spec = value ? parseSpec(value, app) : undefined;
  return spec && amended(db, spec);
}

/**
 * Whether the install kept beside the spec (as written, JSON) upgraded the install `spec`
 * is of: looked at before it is checked whole, which is only then.
 */
function upgrades(install: string, spec: AppSpec): boolean {
  try {
    const over = (JSON.parse(install) as { installedOver?: unknown }).installedOver;
    return over !== undefined && over === spec.installedAt;
  } catch {
    return false;
  }
}

/**
 * `spec` with what devices found out of it laid over it: its move ended once the device it
 * went to said it arrived, and its version given up for the one before once the device it
 * crashed on said so, each only while the spec is of that move or that install. Whatever
 * else the spec says (stopped, removed, shared) stands as the person wrote it.
 */
function amended(db: StateReader, spec: AppSpec): AppSpec {
  // The spec's row and those beside it, in one read of the app's keys: every convergence
  // pass, status and gateway route reads every app's spec.
  const rows = appRows(db, spec.app);
  // An upgrade the spec's writer had not seen (install-record.ts), then a person's acts
  // (spec-acts.ts): they stand as the spec does.
  const install = rows.get(appKeys.install(spec.app))?.value;
  const installed =
    install && upgrades(install, spec) ? withUpgrade(spec, parseSpec(install, spec.app)) : spec;
  let out = withActs(rows, installed);
  if (out.moveTo) {
    const arrived = parseArrived(stateValue(db, appKeys.arrived(spec.app)));
    if (arrived?.device === out.moveTo && arrived.movedAt === (out.movedAt ?? null)) {
      const { moveTo: _, movedAt: __, ...ended } = out;
      out = ended;
    }
  }
  if (out.previousPackage) {
    const back = parseRolledBack(stateValue(db, appKeys.rolledBack(spec.app)), spec.app);
    if (
      back?.package === out.package &&
      back.backTo.package === out.previousPackage &&
      back.installedAt === (out.installedAt ?? null)
    )
      out = rolledBackSpec(out, back);
  }
  return out;
}

/**
 * The spec of the version before, as `back` gave `spec`'s install up, saying why. The rest
 * is the spec's, its updatedAt too: a removal's purge grant is bound to it (lib/apps/purge.ts).
 */
export function rolledBackSpec(spec: AppSpec, back: RolledBack): AppSpec {
  return {
    ...specOfVersionBefore(spec, back.backTo.package, back.backTo.manifest),
    failedUpgrade: {
      version: spec.version,
      package: spec.package,
      error: back.error,
      device: back.device,
      at: back.at,
    },
  };
}

/**
 * `spec` as the version before it (its previousPackage, `manifest` that package's), to run
 * in its place: a rollback's, or a device's that restarted while an upgrade waited. With
 * the owner's grant of that version to run unsandboxed, when the owner gave it one (it is
 * checked against that package and manifest); the upgrade's names another.
 */
export function specOfVersionBefore(spec: AppSpec, pkg: ObjectId, manifest: AppManifest): AppSpec {
  const { previousPackage: _, previousUnsandboxedGrant: grant, ...rest } = spec;
  return {
    ...rest,
    version: manifest.version,
    package: pkg,
    manifest,
    ...(grant ? { unsandboxedGrant: grant } : {}),
  };
}

/** A move's end as a member wrote it, or undefined when it is not of that shape. */
function parseArrived(text: string | null | undefined): ArrivedMove | undefined {
  return parsedAs(text, (value) => {
    const arrived = requireRecord(value, "a move's end");
    checkDeviceField(arrived.device, "its device");
    if (arrived.movedAt !== null) requireString(arrived.movedAt, "its movedAt", MAX_TEXT);
    return arrived as unknown as ArrivedMove;
  });
}

/** An upgrade given up as a member wrote it, or undefined when it is not of that shape. */
function parseRolledBack(text: string | null | undefined, app: string): RolledBack | undefined {
  return parsedAs(text, (value) => {
    const back = requireRecord(value, "an upgrade given up");
    checkObjectId(back.package, "its package");
    if (back.installedAt !== null) requireString(back.installedAt, "its installedAt", MAX_TEXT);
    const backTo = requireRecord(back.backTo, "its backTo");
    checkObjectId(backTo.package, "its backTo's package");
    checkManifestShape(backTo.manifest);
    check((backTo.manifest as AppManifest).id === app, "its backTo's manifest is another app's");
    requireString(back.error, "its error", MAX_LONG_TEXT);
    // Shown as the words of that device ("beta says …"): a device's name only.
    checkDeviceField(back.device, "its device");
    requireString(back.at, "its at", MAX_TEXT);
    return back as unknown as RolledBack;
  });
}

/** `text` parsed as JSON and checked by `checked`, or undefined when it is neither. */
function parsedAs<T>(
  text: string | null | undefined,
  checked: (value: unknown) => T,
): T | undefined {
  if (!text) return undefined;
  try {
    return checked(JSON.parse(text));
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** The app a spec's key is of: `users/owner/apps/<app>/spec`. */
function specApp(key: string): string {
  return key.slice(appKeys.specPrefix.length, -"/spec".length);
}

/**
 * readReport through a statement SQLite keeps compiled: for the ingress, which reads it for
 * every request it passes on (building the query each time was a fifth of its time).
 */
export function currentReport(db: StateDb, device: string, app: string): AppReport | undefined {
  const row = db.$client
    .query("SELECT value FROM state WHERE key = ?")
    .get(appKeys.report(device, app)) as { value: string | null } | null;
  return row?.value ? parseReport(row.value, app) : undefined;
}

export function readReport(db: StateReader, device: string, app: string): AppReport | undefined {
  const value = stateValue(db, appKeys.report(device, app));
  return value ? parseReport(value, app) : undefined;
}

/**
 * A spec as a member wrote it, or undefined when it is not of a spec's shape: any member
 * writes specs, and one that was `5` or `{"manifest": null}` threw a TypeError in every
 * reader (status, the gateway's routes, convergence), on every device.
 */
export function parseSpec(text: string, app: string): AppSpec | undefined {
  return parsedAs(text, (value) => {
    checkSpec(value, app);
    return value as AppSpec;
  });
}

/** Why `text` is not the spec of `app`, or undefined when it is one. */
export function specProblem(text: string, app: string): SpecProblem | undefined {
  try {
    checkSpec(JSON.parse(text), app);
    return undefined;
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError)
      return { problem: error.message, newer: error instanceof NewerSpec };
    throw error;
  }
}

/** A spec of a format past SPEC_FORMAT: a newer bucky wrote it. */
class NewerSpec extends ProtocolError {}

/**
 * A device's report of an app as it wrote it, or undefined (not said) when it is not of a
 * report's shape: a device writes its reports as it likes, and one that was `[]` threw in
 * the gateway's ingress, for every request.
 */
export function parseReport(text: string, app: string): AppReport | undefined {
  try {
    const report = requireRecord(JSON.parse(text), "a report");
    check(report.app === app, "it is the report of another app");
    check(RUN_STATES.has(report.state as string), "its state must be a run state");
    requireString(report.version, "its version", MAX_TEXT);
    checkObjectId(report.package, "its package");
    if (report.url !== null) requireString(report.url, "its url", MAX_TEXT);
    check(typeof report.sandboxed === "boolean", "its sandboxed must be true or false");
    requireUint(report.restarts, "its restarts");
    if (report.error !== null) requireString(report.error, "its error", MAX_LONG_TEXT);
    requireString(report.since, "its since", MAX_TEXT);
    if (report.ranHealthy !== undefined) checkObjectId(report.ranHealthy, "its ranHealthy");
    if (report.waitingFor !== undefined) {
      const waiting = requireRecord(report.waitingFor, "its waitingFor");
      requireString(waiting.version, "its waitingFor's version", MAX_TEXT);
      checkObjectId(waiting.package, "its waitingFor's package");
      requireString(waiting.why, "its waitingFor's why", MAX_LONG_TEXT);
    }
    return report as unknown as AppReport;
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

const MAX_TEXT = 2048;
const MAX_LONG_TEXT = 65_536;
/** An image app is held for the platforms of the zone's devices: a handful. */
const MAX_PLATFORMS = 64;
const RUN_STATES = new Set<string>([
  "pending",
  "starting",
  "running",
  "unhealthy",
  "crashed",
  "stopped",
]);
const DESIRED_STATES = new Set<string>(["running", "stopped", "removed"]);

function checkSpec(value: unknown, app: string): void {
  const spec = requireRecord(value, "a spec");
  // Its format first: a newer one's other fields may be anything.
  if (spec.format !== undefined) {
    const format = requireUint(spec.format, "its format");
    if (format > SPEC_FORMAT)
      throw new NewerSpec(
        `it was written by a newer bucky (spec format ${format}; this device reads up to ${SPEC_FORMAT})`,
      );
  }
  check(spec.app === app, "it is the spec of another app");
  // Its name is a path segment of the app's directories and a label of its host name: a
  // key of more segments (`notes/data`) would name a place inside another app's.
  const name = checkAppName(app);
  if (!name.ok) throw new ProtocolError(`its app must be an app name: ${name.reason}`);
  requireString(spec.version, "its version", MAX_TEXT);
  checkObjectId(spec.package, "its package");
  if (spec.previousPackage !== undefined)
    checkObjectId(spec.previousPackage, "its previousPackage");
  checkManifestShape(spec.manifest);
  if (spec.image !== undefined) {
    const image = requireRecord(spec.image, "its image");
    // Shown in the zone's words ("no device of the zone runs images for …"): names only.
    check(
      Array.isArray(image.platforms) &&
        image.platforms.length <= MAX_PLATFORMS &&
        image.platforms.every(
          (platform) => typeof platform === "string" && parsePlatformName(platform) !== undefined,
        ),
      "its image's platforms must be a list of platform names (os/architecture[/variant])",
    );
  }
  // Compared with devices' names and shown as one ("moving to …"): names only.
  checkPlacement(spec.placement, "its placement");
  if (spec.moveTo !== undefined && spec.moveTo !== null)
    checkDeviceField(spec.moveTo, "its moveTo");
  if (spec.movedAt !== undefined) requireString(spec.movedAt, "its movedAt", MAX_TEXT);
  if (spec.restoreCopy !== undefined && spec.restoreCopy !== null) {
    const copy = requireRecord(spec.restoreCopy, "its restoreCopy");
    checkDeviceField(copy.device, "its restoreCopy's device");
    // A path is made of it on the device keeping the copy: a copy's name, or unreadable.
    check(
      typeof copy.name === "string" && isConflictCopyName(copy.name),
      "its restoreCopy's name is not a conflict copy's",
    );
    requireString(copy.at, "its restoreCopy's at", MAX_TEXT);
  }
  check(
    DESIRED_STATES.has(spec.desired as string),
    "its desired must be running, stopped or removed",
  );
  optionalBoolean(spec.unsandboxed, "its unsandboxed");
  if (spec.unsandboxedGrant !== undefined)
    requireString(spec.unsandboxedGrant, "its unsandboxedGrant", MAX_UNSANDBOXED_GRANT_LENGTH);
  if (spec.previousUnsandboxedGrant !== undefined)
    requireString(
      spec.previousUnsandboxedGrant,
      "its previousUnsandboxedGrant",
      MAX_UNSANDBOXED_GRANT_LENGTH,
    );
  optionalBoolean(spec.purge, "its purge");
  if (spec.purgeGrant !== undefined)
    requireString(spec.purgeGrant, "its purgeGrant", MAX_PURGE_GRANT_LENGTH);
  if (spec.shared !== undefined && spec.shared !== null) checkStrings(spec.shared, "its shared");
  if (spec.sharedAt !== undefined) requireString(spec.sharedAt, "its sharedAt", MAX_TEXT);
  if (spec.sharedPastRemovals !== undefined)
    checkPastRemovals(spec.sharedPastRemovals, "its sharedPastRemovals");
  if (spec.failedUpgrade !== undefined) {
    const failed = requireRecord(spec.failedUpgrade, "its failedUpgrade");
    requireString(failed.version, "its failedUpgrade's version", MAX_TEXT);
    checkObjectId(failed.package, "its failedUpgrade's package");
    requireString(failed.error, "its failedUpgrade's error", MAX_LONG_TEXT);
    // Shown as the words of that device ("beta says …"): a device's name only.
    checkDeviceField(failed.device, "its failedUpgrade's device");
    requireString(failed.at, "its failedUpgrade's at", MAX_TEXT);
  }
  if (spec.installedAt !== undefined) requireString(spec.installedAt, "its installedAt", MAX_TEXT);
  if (spec.installedOver !== undefined)
    requireString(spec.installedOver, "its installedOver", MAX_TEXT);
  requireString(spec.updatedAt, "its updatedAt", MAX_TEXT);
  if (spec.actsAt !== undefined) requireString(spec.actsAt, "its actsAt", MAX_TEXT);
}

/** The fields of an installed manifest (as checkManifest made it) that readers use. */
function checkManifestShape(value: unknown): void {
  const manifest = requireRecord(value, "its manifest");
  requireString(manifest.id, "its manifest's id", MAX_TEXT);
  requireString(manifest.version, "its manifest's version", MAX_TEXT);
  if (manifest.description !== undefined)
    requireString(manifest.description, "its manifest's description", MAX_LONG_TEXT);
  const run = requireRecord(manifest.run, "its manifest's run");
  if ("image" in run) {
    requireString(run.image, "its manifest's run.image", MAX_TEXT);
    if (run.port !== undefined) requireUint(run.port, "its manifest's run.port", 65_535);
    if (run.command !== undefined) checkStrings(run.command, "its manifest's run.command");
    checkStringMap(run.volumes, "its manifest's run.volumes");
  } else {
    checkStrings(run.command, "its manifest's run.command");
  }
  checkStringMap(run.env, "its manifest's run.env");
  if (manifest.http !== undefined) {
    const http = requireRecord(manifest.http, "its manifest's http");
    requireString(http.portEnv, "its manifest's http.portEnv", MAX_TEXT);
  }
  checkStrings(manifest.data, "its manifest's data");
  checkStrings(manifest.permissions, "its manifest's permissions");
  check(
    manifest.network === undefined || manifest.network === "outbound",
    "its manifest's network must be outbound when given",
  );
  check(
    manifest.exposure === "public" || manifest.exposure === "zone",
    "its manifest's exposure must be public or zone",
  );
  checkStrings(manifest.openPaths, "its manifest's openPaths");
  const limits = requireRecord(manifest.limits, "its manifest's limits");
  for (const field of ["rps", "bandwidthBytesPerSecond", "memoryBytes", "cpus"]) {
    const limit = limits[field];
    check(
      limit === undefined || (typeof limit === "number" && Number.isFinite(limit) && limit >= 0),
      `its manifest's limits.${field} must be a number`,
    );
  }
  checkPlacement(manifest.placement, "its manifest's placement");
  // Absent in the specs of versions before standbys (read as DEFAULT_STANDBYS).
  if (manifest.standbys !== undefined) requireUint(manifest.standbys, "its manifest's standbys");
  if (manifest.health !== undefined) {
    const health = requireRecord(manifest.health, "its manifest's health");
    requireString(health.path, "its manifest's health.path", MAX_TEXT);
    requireUint(health.intervalMs, "its manifest's health.intervalMs");
    requireUint(health.timeoutMs, "its manifest's health.timeoutMs");
    requireUint(health.graceMs, "its manifest's health.graceMs");
  }
  // The places and variables a device makes of it, checked as an install checks them.
  const problems = installedManifestProblems(manifest as unknown as AppManifest);
  if (problems.length > 0) throw new ProtocolError(`its manifest: ${problems.join("; ")}`);
}

/** A device's name (protocol/names.ts), as every device name of the zone is one. */
function checkDeviceField(value: unknown, what: string): void {
  const name = checkDeviceName(requireString(value, what, MAX_TEXT));
  if (!name.ok) throw new ProtocolError(`${what} must be a device name: ${name.reason}`);
}

/** "any", or a device's name. */
function checkPlacement(value: unknown, what: string): void {
  if (value !== "any") checkDeviceField(value, what);
}

function checkObjectId(value: unknown, what: string): void {
  check(
    parseObjectId(requireString(value, what, MAX_TEXT)) !== undefined,
    `${what} must be an object id`,
  );
}

function checkStrings(value: unknown, what: string): void {
  check(Array.isArray(value), `${what} must be a list`);
  for (const item of value) requireString(item, `each of ${what}`, MAX_TEXT);
}

function checkStringMap(value: unknown, what: string): void {
  for (const item of Object.values(requireRecord(value, what)))
    requireString(item, `each of ${what}`, MAX_LONG_TEXT);
}

function optionalBoolean(value: unknown, what: string): void {
  check(value === undefined || typeof value === "boolean", `${what} must be true or false`);
}
