/**
 * Looking into a snapshot from the panel: its folders listed, one file read out (a
 * download, streamed blob by blob, each checked against its id), or a file or folder put
 * back where it was. Only what people keep is shown: each app's data (`apps/<app>/data`)
 * and the user's data (`data/`); the device's key, the zone state and the named data
 * stay out of a browser's reach.
 *
 * A restore never writes over anything: what it brings back goes beside what is there
 * now, as "name (restored 2026-11-28)" when the name is taken, owned like the folder it
 * lands in (an app's data belongs to the app's own user). Nothing is put back from a
 * snapshot the zone does not trust as its device's own (lib/backup/snapshot-trust.ts:
 * forged, of a revoked device…); an older bucky's unsigned one, chosen by the person, is,
 * but only while its device has no signed snapshot at all: once it signs its own, an
 * unsigned one in its name is as likely another key holder's as an old one of its own.
 * Each is shown with who signed it, and may be looked into and downloaded whatever it is.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fstatSync,
  lchownSync,
  lstatSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
} from "node:fs";
import { basename, extname, join } from "node:path";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { PeerReach } from "./connect.ts";
import type { Repository } from "./repository.ts";
import { findNode, type RestoreProgress, readTree, restoreTree } from "./restorer.ts";
import { homeJudge, withRepository } from "./run.ts";
import { checkSnapshot, type SnapshotCheck } from "./snapshot-trust.ts";
import { chooseTarget, homeTargets } from "./zone-targets.ts";

export interface SnapshotEntry {
  readonly name: string;
  readonly type: "dir" | "file" | "symlink";
  /** A file's size in bytes; null for the others. */
  readonly size: number | null;
  /** RFC 3339. */
  readonly modifiedAt: string;
}

/** A snapshot as the panel shows it: whose, when, and who signed it. */
export interface ShownSnapshot extends SnapshotCheck {
  readonly id: string;
  readonly device: string;
  readonly time: string;
  /**
   * Whether its files may be put back in the home: signed by its device; or unsigned, of a
   * device with no signed snapshot at all (then put back unchecked).
   */
  readonly mayPutBack: boolean;
}

export interface SnapshotListing {
  readonly snapshot: ShownSnapshot;
  /** The folder listed, slash-separated ("" for the top). */
  readonly path: string;
  readonly entries: readonly SnapshotEntry[];
}

interface Where {
  readonly paths: HomePaths;
  readonly target: string;
  readonly snapshot: string;
  readonly log: Log;
  readonly reach?: PeerReach;
}

/** The folder `path` of a snapshot (the top shows only `apps` and `data`). */
export async function listSnapshotDir(where: Where, path: string): Promise<SnapshotListing> {
  const parts = browsable(path);
  return withSnapshot(
    where,
    async (repository, snapshot) => {
      const node = await findNode(repository, snapshot.tree, parts.join("/"));
      if (node.type !== "dir" && node.type !== "root")
        throw new BuckyError("E_INVALID_INPUT", `${parts.join("/")} is not a folder`);
      const nodes = await readTree(repository, node.subtree);
      const shown = parts.length === 0 ? nodes.filter((n) => TOP.has(n.name)) : nodes;
      return {
        snapshot: {
          id: snapshot.id,
          device: snapshot.device,
          time: snapshot.time,
          trust: snapshot.trust,
          signedBy: snapshot.signedBy,
          why: snapshot.why,
          mayPutBack: snapshot.mayPutBack,
        },
        path: parts.join("/"),
        entries: shown
          .map((n) => ({
            name: n.name,
            type: n.type,
            size: n.type === "file" ? n.size : null,
            modifiedAt: new Date(Number(BigInt(n.mtimeNs) / 1_000_000n)).toISOString(),
          }))
          .sort((a, b) =>
            (a.type === "dir") !== (b.type === "dir")
              ? a.type === "dir"
                ? -1
                : 1
              : a.name.localeCompare(b.name),
          ),
      };
    },
    false,
  );
}

/**
 * The file `path` of a snapshot as a stream: the repository stays open until the stream
 * is read or cancelled. A damaged blob ends the stream with an error.
 */
export function readSnapshotFile(
  where: Where,
  path: string,
): Promise<{ name: string; size: number; stream: ReadableStream<Uint8Array> }> {
  const parts = browsable(path);
  return new Promise((resolve, reject) => {
    let opened = false;
    withSnapshot(
      where,
      async (repository, snapshot) => {
        const node = await findNode(repository, snapshot.tree, parts.join("/"));
        if (node.type !== "file")
          throw new BuckyError("E_INVALID_INPUT", `${parts.join("/")} is not a file`);
        let ended!: () => void;
        const finished = new Promise<void>((done) => {
          ended = done;
        });
        let next = 0;
        const stream = new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              const id = node.content[next++];
              if (id === undefined) {
                controller.close();
                ended();
                return;
              }
              controller.enqueue(await repository.readBlob(id));
            } catch (error) {
              controller.error(error);
              ended();
            }
          },
          cancel() {
            ended();
          },
        });
        opened = true;
        resolve({ name: node.name, size: node.size, stream });
        await finished;
      },
      true,
    ).catch((error: unknown) => {
      if (!opened) reject(error);
      else where.log.warn("snapshot file read failed", { path, error: (error as Error).message });
    });
  });
}

/**
 * Puts the file or folder `path` of a snapshot back in this device's home, beside what
 * is there. `mayWrite` says whether this device may write where it goes (an app's data
 * only on the device holding the app).
 */
export async function restoreSnapshotPath(
  where: Where,
  path: string,
  mayWrite: (parts: readonly string[]) => void,
  now: () => number,
  onProgress?: (progress: Readonly<RestoreProgress>) => void,
): Promise<{ readonly restoredAs: string; readonly files: number; readonly bytes: number }> {
  const parts = browsable(path);
  if (parts.length < (parts[0] === "apps" ? 4 : 2))
    throw new BuckyError(
      "E_INVALID_INPUT",
      "choose a file or folder inside an app's data or the user's data to restore",
    );
  mayWrite(parts);
  const staging = join(where.paths.backupDir, "restoring", randomBytes(6).toString("hex"));
  let landed: string;
  try {
    const result = await withSnapshot(
      where,
      (repository, snapshot) => {
        refuseUntrusted(snapshot);
        return restoreTree(repository, snapshot.tree, staging, {
          path: parts.join("/"),
          ...(onProgress ? { onProgress } : {}),
        });
      },
      true,
    );
    if (result.damaged.length > 0)
      throw new BuckyError(
        "E_INTEGRITY",
        `the backup of ${parts.join("/")} is damaged: ${result.damaged.length} file(s) cannot be restored whole`,
        "Nothing was put back. An older snapshot may hold it whole.",
      );
    // The folder it lands in is opened one name at a time, never through a link: an app
    // owns its data and could have made any folder there a link to /etc or to bucky's
    // keys. What is put back is owned like that folder before it moves in, so nothing is
    // changed inside the app's tree after.
    const folder = openFolder(where.paths.home, parts.slice(0, -1));
    try {
      const owner = fstatSync(folder);
      const staged = join(staging, ...parts);
      chownTree(staged, owner.uid, owner.gid);
      const name = freeName(`/proc/self/fd/${folder}`, parts.at(-1) as string, now());
      renameSync(staged, `/proc/self/fd/${folder}/${name}`);
      landed = name;
    } finally {
      closeSync(folder);
    }
    where.log.info("restored from snapshot", {
      snapshot: where.snapshot.slice(0, 8),
      path: parts.join("/"),
      as: landed,
    });
    return {
      restoredAs: [...parts.slice(0, -1), landed].join("/"),
      files: result.files,
      bytes: result.bytes,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

const TOP = new Set(["apps", "data"]);

/** The parts of `path`, if it is where people may look: under apps/<app>/data, or data/. */
function browsable(path: string): string[] {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  const refused = () =>
    new BuckyError(
      "E_PERMISSION",
      `${path} is not shown: only each app's data and the user's data are`,
    );
  if (parts.some((p) => p === ".." || p.includes("\0"))) throw refused();
  if (parts.length === 0) return parts;
  if (!TOP.has(parts[0] as string)) throw refused();
  if (parts[0] === "apps" && parts.length >= 3 && parts[2] !== "data") throw refused();
  return parts;
}

/**
 * Nothing is put back in the home from a snapshot not its device's own, nor from an
 * unsigned one of a device that signs its snapshots (mayPutBack).
 */
function refuseUntrusted(snapshot: ShownSnapshot): void {
  if (snapshot.mayPutBack) return;
  throw new BuckyError(
    "E_INTEGRITY",
    snapshot.trust === "unsigned"
      ? `snapshot ${snapshot.id.slice(0, 8)} of ${snapshot.device} is unsigned, and ${snapshot.device} signs its snapshots: anyone holding the backup key could have written it; nothing was put back`
      : `snapshot ${snapshot.id.slice(0, 8)} of ${snapshot.device} is ${snapshot.trust}: ${snapshot.why}; nothing was put back`,
    snapshot.trust === "unsigned"
      ? "Download a file of it to look at it, or put back one from a snapshot the device signed."
      : "Someone holding the backup key wrote it. Download a file of it to look at it, or put back one from a snapshot the device signed.",
  );
}

async function withSnapshot<T>(
  where: Where,
  work: (repository: Repository, snapshot: ShownSnapshot & { tree: string }) => Promise<T>,
  /** Hold a shared lock (a prune waits): while blobs are read for a restore or a download. */
  locked: boolean,
): Promise<T> {
  const target = chooseTarget(homeTargets(where.paths, where.log), where.target);
  // The snapshots and the index files judged by the zone this home knows.
  const judge = homeJudge(where.paths, where.log);
  return withRepository(
    where.paths,
    target,
    where.log,
    async (repository) => {
      const all = await repository.snapshots();
      const found = all.find((s) => s.name === where.snapshot);
      if (!found)
        throw new BuckyError(
          "E_NOT_FOUND",
          `target ${target.name} has no snapshot ${where.snapshot}`,
        );
      const check = checkSnapshot(found, judge);
      const mayPutBack =
        check.trust === "signed" ||
        (check.trust === "unsigned" &&
          !all.some(
            (s) =>
              s.snapshot.device === found.snapshot.device &&
              checkSnapshot(s, judge).trust === "signed",
          ));
      return work(repository, {
        id: found.name,
        device: found.snapshot.device,
        time: found.snapshot.time,
        tree: found.snapshot.tree,
        ...check,
        mayPutBack,
      });
    },
    {
      ...(locked ? { lock: { kind: "read", purpose: "restore" } as const } : {}),
      ...(where.reach ? { reach: where.reach } : {}),
      judge,
    },
  );
}

/**
 * A descriptor of the folder `parts` under `home`, each name opened inside the one before
 * (as openat would), none of them a link.
 */
function openFolder(home: string, parts: readonly string[]): number {
  let fd = openSync(home, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    for (const [i, part] of parts.entries()) {
      let next: number;
      try {
        next = openSync(
          `/proc/self/fd/${fd}/${part}`,
          constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
        );
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const folder = parts.slice(0, i + 1).join("/");
        if (code === "ENOENT")
          throw new BuckyError(
            "E_NOT_FOUND",
            `${parts.join("/")} is not on this device any more`,
            "Download the file instead.",
          );
        if (code === "ELOOP" || code === "ENOTDIR")
          throw new BuckyError(
            "E_INVALID_INPUT",
            `${folder} is not a folder on this device now (a link or a file): nothing is put back through it`,
            "Download the file instead.",
          );
        throw error;
      }
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** `name` if nothing is in `folder` by that name, else "name (restored YYYY-MM-DD).ext", then "… 2", and on. */
function freeName(folder: string, name: string, nowMs: number): string {
  const taken = (candidate: string) =>
    lstatSync(join(folder, candidate), { throwIfNoEntry: false }) !== undefined;
  if (!taken(name)) return name;
  const ext = extname(name);
  const stem = basename(name, ext);
  const day = new Date(nowMs).toISOString().slice(0, 10);
  for (let n = 1; ; n++) {
    const candidate = `${stem} (restored ${day}${n > 1 ? ` ${n}` : ""})${ext}`;
    if (!taken(candidate)) return candidate;
  }
}

function chownTree(path: string, uid: number, gid: number): void {
  const stats = lstatSync(path);
  if (stats.uid !== uid || stats.gid !== gid) lchownSync(path, uid, gid);
  if (stats.isDirectory())
    for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}
