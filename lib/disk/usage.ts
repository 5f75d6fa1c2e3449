/**
 * Where a device's disk goes, read from its home: the zone state (and how much history it
 * holds), named data, each app (its data, packages, conflict copies, standby copies,
 * output), logs and backup caches; and leftovers, what nothing uses any more but is still
 * there (the data of an app removed without --purge, or with a --purge the owner did not
 * authorise; the log and sandbox of one purged; keys in the zone state written by a bucky
 * before presence records), each with its size and how to remove it. Sizes are what the
 * files take on disk, as `du` counts them.
 */

import { existsSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { dataCopiesOf } from "../apps/data-before-upgrade.ts";
import { type AppSpec, unreadableSpec } from "../apps/spec.ts";
import { cacheDir } from "../backup/targets.ts";
import type { HomePaths } from "../home.ts";
import { listInSentence } from "../sentence.ts";
import { runAll } from "../sliced.ts";
import { peekCheckpointRecord } from "../state/checkpoint-record.ts";
import type { StateDb } from "../store/db.ts";

export interface AppUsage {
  /** Its data (`data/`). */
  readonly dataBytes: number;
  /**
   * The copies an upgrade keeps beside its data (lib/apps/data-before-upgrade.ts): the data
   * from before it, and what a failed one left. Apart from `dataBytes`, so a person sees
   * their data did not double, and what the copies take.
   */
  readonly upgradeCopiesBytes: number;
  readonly packagesBytes: number;
  /** Copies kept because their writes never reached the holder. */
  readonly conflictsBytes: number;
  /** This device's standby copy of the app's data. */
  readonly replicaBytes: number;
  readonly logsBytes: number;
}

export interface Leftover {
  /** What it is, in words. */
  readonly what: string;
  readonly bytes: number;
  /** How to remove it (a command), or who can. */
  readonly remove: string;
}

export interface HomeUsage {
  readonly state: {
    readonly bytes: number;
    readonly changesets: number;
    readonly keys: number;
    /** The checkpoint held: its cut (RFC 3339) and how many keys it holds. */
    readonly checkpoint: {
      readonly id: string;
      readonly cut: string;
      readonly keys: number;
    } | null;
  };
  readonly namedData: { readonly bytes: number; readonly objects: number };
  readonly apps: Readonly<Record<string, AppUsage>>;
  readonly logsBytes: number;
  readonly backupCacheBytes: number;
  readonly leftovers: readonly Leftover[];
}

/**
 * The apps' specs as this device carries them out (a purge the owner did not grant is a
 * removal that keeps the data: lib/apps/purge.ts asCarriedOut), and the apps whose removal
 * asked for such a purge.
 */
export interface UsageSpecs {
  readonly specs: readonly AppSpec[];
  readonly ungrantedPurges: ReadonlySet<string>;
}

export function homeUsage(
  paths: HomePaths,
  db: StateDb,
  apps: UsageSpecs,
  device: string,
): HomeUsage {
  return runAll(homeUsageSteps(paths, db, apps, device));
}

/** The same, a step at a time (a step per file looked at), for a daemon to run in slices. */
export function* homeUsageSteps(
  paths: HomePaths,
  db: StateDb,
  { specs, ungrantedPurges }: UsageSpecs,
  device: string,
): Generator<void, HomeUsage, void> {
  const sqlite = db.$client;
  const count = (sql: string) => (sqlite.query(sql).get() as { n: number }).n;
  const record = peekCheckpointRecord(sqlite);
  const installed = new Map(specs.map((spec) => [spec.app, spec]));
  const apps: Record<string, AppUsage> = {};
  const leftovers: Leftover[] = [];
  const appNames = new Set([...listDir(paths.appsDir), ...listDir(join(paths.home, "replicas"))]);
  for (const app of [...appNames].sort()) {
    const dir = join(paths.appsDir, app);
    let upgradeCopiesBytes = 0;
    for (const copy of dataCopiesOf(dir)) upgradeCopiesBytes += yield* sizeSteps(copy);
    const usage: AppUsage = {
      dataBytes: yield* sizeSteps(join(dir, "data")),
      upgradeCopiesBytes,
      packagesBytes: yield* sizeSteps(join(dir, "packages")),
      conflictsBytes: yield* sizeSteps(join(dir, "conflicts")),
      replicaBytes: yield* sizeSteps(join(paths.home, "replicas", app)),
      logsBytes:
        (yield* sizeSteps(join(dir, "app.log"))) + (yield* sizeSteps(join(dir, "app.log.1"))),
    };
    const spec = installed.get(app);
    if (spec && spec.desired !== "removed") {
      apps[app] = usage;
      continue;
    }
    const bytes = (yield* sizeSteps(dir)) + usage.replicaBytes;
    if (bytes === 0) continue;
    const ungranted = ungrantedPurges.has(app);
    leftovers.push({ ...appLeftover(app, spec, ungranted, usage, { db, paths, dir }), bytes });
  }
  // Keys a bucky before presence records wrote at every heartbeat; each device deletes its own.
  for (const row of sqlite
    .query<{ key: string; value: string | null }, []>(
      "SELECT key, value FROM state WHERE key GLOB 'nodes/*/heartbeat' AND value IS NOT NULL",
    )
    .all()) {
    const owner = row.key.split("/")[1] as string;
    leftovers.push({
      what: `the zone state key ${row.key}, from before presence records`,
      bytes: row.key.length + (row.value?.length ?? 0),
      remove:
        owner === device
          ? "this device deletes it when its daemon starts"
          : `only ${owner} can delete it (its daemon does as it starts)`,
    });
  }
  return {
    state: {
      bytes:
        (yield* sizeSteps(paths.stateDb)) +
        (yield* sizeSteps(`${paths.stateDb}-wal`)) +
        (yield* sizeSteps(`${paths.stateDb}-shm`)),
      changesets: count("SELECT count(*) AS n FROM changesets"),
      keys: count("SELECT count(*) AS n FROM state WHERE value IS NOT NULL"),
      checkpoint: record
        ? {
            id: record.checkpoint.id,
            cut: new Date(record.checkpoint.cut).toISOString(),
            keys: record.checkpoint.keys,
          }
        : null,
    },
    namedData: { bytes: yield* sizeSteps(paths.ndnDir), objects: yield* countSteps(paths.ndnDir) },
    apps,
    logsBytes: yield* sizeSteps(paths.logsDir),
    backupCacheBytes: yield* sizeSteps(cacheDir(paths)),
    leftovers,
  };
}

/**
 * What is left of `app` on this device, and how to remove it: of one removed with --purge,
 * the rest of what it had here; of one removed without, its data (kept for a reinstall);
 * of one removed with a --purge the owner did not authorise (`ungranted`), its data, kept,
 * which only the owner may delete; of one whose spec cannot be read (a member garbled it),
 * its data still, which no `rm` is offered for; of one the zone does not have at all, its
 * directories.
 */
function appLeftover(
  app: string,
  spec: AppSpec | undefined,
  ungranted: boolean,
  usage: AppUsage,
  where: { readonly db: StateDb; readonly paths: HomePaths; readonly dir: string },
): Omit<Leftover, "bytes"> {
  const { db, paths, dir } = where;
  const replicas = join(paths.home, "replicas", app);
  if (spec?.purge === true)
    return {
      what: `${purgedRemains(usage, dir)} of ${app}, removed with --purge`,
      remove: `rm -r ${[dir, replicas].filter(existsSync).join(" ")}`,
    };
  if (spec && ungranted)
    return {
      what: `the data of ${app}, kept: it was removed with a --purge the owner did not authorise`,
      remove: `only the owner may delete it: \`bucky app remove ${app} --purge\` on the device holding the owner key`,
    };
  if (spec)
    return {
      what: `the data of ${app}, removed without --purge`,
      remove: `bucky app remove ${app} --purge`,
    };
  if (unreadableSpec(db, app) !== undefined)
    return {
      what: `the data of ${app}, whose spec in the zone state bucky cannot read`,
      remove: `install ${app} again to use it; to delete it, remove the app first (\`bucky app remove ${app}\`)`,
    };
  return {
    what: `${join("apps", app)}, of an app this zone does not have`,
    remove: `rm -r ${dir} ${replicas}`,
  };
}

/** In words, what an app removed with --purge left on this device: its log, conflict copies, sandbox… */
function purgedRemains(usage: AppUsage, dir: string): string {
  const parts = [
    ...(usage.logsBytes > 0 ? ["the log"] : []),
    ...(usage.conflictsBytes > 0 ? ["the conflict copies"] : []),
    ...(usage.replicaBytes > 0 ? ["the standby copy"] : []),
    ...(existsSync(join(dir, "sandbox")) ? ["the sandbox"] : []),
  ];
  if (parts.length === 0) return "the files";
  return listInSentence(parts);
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** The space a file or a tree takes on disk (links not followed). */
export function sizeOf(path: string): number {
  return runAll(sizeSteps(path));
}

function* sizeSteps(path: string): Generator<void, number, void> {
  let stats: ReturnType<typeof lstatSync>;
  try {
    stats = lstatSync(path);
  } catch {
    return 0;
  }
  yield;
  const own = stats.blocks * 512;
  if (!stats.isDirectory()) return own;
  let total = own;
  for (const name of listDir(path)) total += yield* sizeSteps(join(path, name));
  return total;
}

function* countSteps(path: string): Generator<void, number, void> {
  if (!existsSync(path)) return 0;
  let count = 0;
  for (const name of listDir(path)) {
    const child = join(path, name);
    yield;
    try {
      count += lstatSync(child).isDirectory() ? yield* countSteps(child) : 1;
    } catch {
      // Gone meanwhile.
    }
  }
  return count;
}
