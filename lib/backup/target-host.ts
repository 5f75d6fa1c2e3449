/**
 * The via device's side of a target reached through it: the members of the zone send it
 * file operations on the repository (protocol/backup/remote.ts), and it carries them out
 * on its own connection to the target, kept open between requests. Only targets the zone
 * records with this device as their via are served, and only within the rules of
 * remoteAccessProblem, checked here down to the bytes: a pack must be named by the hash of
 * what it holds, an index, snapshot or hot file is never written over, a hot file is in
 * its sender's name, and a shared lock is refreshed or released only by the device that
 * took it, and is dated by this device's clock (lib/backup/lock.ts says why).
 */
import { createHash } from "node:crypto";
import { MAX_CONFIG_FILE_BYTES, MAX_SNAPSHOT_FILE_BYTES } from "../../protocol/backup/formats.ts";
import {
  keyEpochName,
  MAX_KEY_EPOCH_BYTES,
  readKeyEpoch,
  SNAPSHOT_KEY_DIR,
} from "../../protocol/backup/key-epoch.ts";
import {
  decodeRemoteRequest,
  encodeCreated,
  encodeNames,
  REMOTE_READ_MAX_BYTES,
  type RemoteRequest,
  type RepositoryFile,
  remoteAccessProblem,
  repositoryFile,
} from "../../protocol/backup/remote.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { Backend } from "./backend.ts";
import { HOT_DIR, hotFileDevice, MAX_HOT_FILE_BYTES } from "./hot.ts";
import { agedLock, MAX_LOCK_FILE_BYTES, stampedLock } from "./lock.ts";
import { MAX_INDEX_FILE_BYTES } from "./repository.ts";
import { connect, type Target } from "./targets.ts";
import { readZoneTargets, resolveTargets } from "./zone-targets.ts";

/** A connection no request used for this long is closed. */
const IDLE_MS = 60_000;
const MAX_LOCK_BYTES = 4096;

export interface HostAnswer {
  readonly bytes: Uint8Array;
  readonly contentType: string;
}

export class TargetHost {
  private readonly open = new Map<
    string,
    { backend: Promise<Backend>; url: string; usedAt: number }
  >();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(private readonly node: NodeContext) {
    this.timer = setInterval(() => void this.closeIdle(), IDLE_MS / 2);
    this.timer.unref?.();
  }

  /** Carries out one request of `device` on the target `name`. */
  async serve(device: DeviceId, name: string, body: Uint8Array): Promise<HostAnswer> {
    let request: RemoteRequest;
    try {
      request = decodeRemoteRequest(body);
    } catch (error) {
      if (error instanceof ProtocolError)
        throw new BuckyError("E_USAGE", `malformed backup request: ${error.message}`);
      throw error;
    }
    const problem = remoteAccessProblem(request.op, request.path);
    if (problem) throw new BuckyError("E_PERMISSION", problem);
    const sender = this.node.membership().byId.get(device)?.name ?? device;
    const backend = await this.backendFor(name);
    try {
      return await this.carryOut(backend, request, sender);
    } catch (error) {
      // A connection that broke is made afresh by the next request.
      if (error instanceof BuckyError && error.code === "E_UNAVAILABLE") await this.drop(name);
      throw error;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const name of [...this.open.keys()]) await this.drop(name);
  }

  private async carryOut(
    backend: Backend,
    request: RemoteRequest,
    sender: string,
  ): Promise<HostAnswer> {
    const { op, path } = request;
    const file = repositoryFile(path);
    switch (op) {
      case "read": {
        // A file any holder of the key wrote is read only up to what one of its kind can
        // hold, and never past what one answer carries. One over it is answered as no
        // bytes, which no reader opens: every bucky, an older one too, leaves it out as
        // unreadable (a snapshot, an index or hot file) or takes it for no lock, where an
        // older one took a refusal for a failure of the whole target, and one planted file
        // stopped all its backups.
        const bytes = await backend.read(path, readBound(file)).catch((error: unknown) => {
          if (error instanceof BuckyError && error.code === "E_TOO_LARGE") return new Uint8Array();
          throw error;
        });
        const lock = file?.kind === "shared-lock" || file?.kind === "exclusive-lock";
        return raw(lock ? agedLock(bytes, this.node.now()) : bytes);
      }
      case "readRange":
        return raw(await backend.readRange(path, request.offset ?? 0, request.length ?? 0));
      case "list": {
        // Bounded by the backend (MAX_DIRECTORY_NAMES), as every listing is; hot/ and
        // snapshot-keys/ cut there, not refused, as its own device would list them (the wire
        // cannot say it was cut).
        const before = backend.leftOutNames ?? 0;
        const names =
          path === HOT_DIR || path === SNAPSHOT_KEY_DIR
            ? (await backend.listCut(path)).names
            : await backend.list(path);
        const leftOut = (backend.leftOutNames ?? 0) - before;
        if (leftOut > 0)
          this.node.log.warn("names the target listed that are no file's were left out", {
            dir: path,
            count: leftOut,
          });
        return cbor(encodeNames(names));
      }
      case "create": {
        const data = this.checked(request, sender);
        return cbor(encodeCreated(await backend.create(path, data)));
      }
      case "write": {
        if (file?.kind === "shared-lock") {
          await this.requireOwnLock(backend, path, sender, false);
          await backend.write(path, this.checked(request, sender));
        } else if (file?.kind === "pack") {
          const data = request.data ?? new Uint8Array();
          if (createHash("sha256").update(data).digest("hex") !== file.hash)
            throw new BuckyError("E_INTEGRITY", `${path} does not hold what its name says`);
          await backend.write(path, data);
        } else if (file?.kind === "key-epoch") {
          // Over one that is not the owner's record (planted to keep the genuine one out);
          // checked() lets through only the owner's.
          await backend.write(path, this.checked(request, sender));
        } else {
          // Index, snapshot and hot files have fresh random names: one already there is
          // another's, and stays as it is.
          const data = this.checked(request, sender);
          if (!(await backend.create(path, data)))
            throw new BuckyError("E_EXISTS", `${path} exists already; it is not written over`);
        }
        return cbor(new Uint8Array());
      }
      case "remove":
        if (await this.requireOwnLock(backend, path, sender, true)) await backend.remove(path);
        return cbor(new Uint8Array());
    }
  }

  /** The data to write, stamped or checked for its sender where its kind needs it. */
  private checked(request: RemoteRequest, sender: string): Uint8Array {
    const data = request.data ?? new Uint8Array();
    const file = repositoryFile(request.path);
    // Only the owner's record of that epoch: a member cannot plant a key of its choosing.
    if (file?.kind === "key-epoch" || file?.kind === "snapshot-key") {
      let name: string | undefined;
      try {
        name = keyEpochName(readKeyEpoch(data, this.node.zoneId));
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
      }
      if (name !== file.name)
        throw new BuckyError(
          "E_INTEGRITY",
          `${request.path} must hold key epoch ${file.name} as the zone's owner signed it`,
        );
      return data;
    }
    if (file?.kind === "hot" && hotFileDevice(request.path) !== sender)
      throw new BuckyError("E_PERMISSION", `${request.path} is not in the name of ${sender}`);
    if (file?.kind !== "shared-lock") return data;
    let lock: unknown;
    try {
      if (data.length > MAX_LOCK_BYTES) throw new SyntaxError("too long");
      lock = JSON.parse(new TextDecoder().decode(data));
    } catch {
      throw new BuckyError("E_USAGE", `${request.path} must hold a lock's JSON`);
    }
    if (typeof lock !== "object" || lock === null || Array.isArray(lock))
      throw new BuckyError("E_USAGE", `${request.path} must hold a lock's JSON`);
    return stampedLock(lock, sender, this.node.now());
  }

  /** Whether the lock at `path` is there; refuses when it is another device's. */
  private async requireOwnLock(
    backend: Backend,
    path: string,
    sender: string,
    mayBeGone: boolean,
  ): Promise<boolean> {
    let holder: { device?: unknown };
    try {
      holder = JSON.parse(new TextDecoder().decode(await backend.read(path, MAX_LOCK_FILE_BYTES)));
    } catch (error) {
      if (error instanceof BuckyError && error.code === "E_NOT_FOUND") {
        if (mayBeGone) return false;
        throw new BuckyError("E_NOT_FOUND", `${path} is not held (it went stale, or was cleared)`);
      }
      // A lock too large to be one is no member's lock.
      if (
        error instanceof SyntaxError ||
        (error instanceof BuckyError && error.code === "E_TOO_LARGE")
      )
        holder = {};
      else throw error;
    }
    if (holder?.device !== sender)
      throw new BuckyError("E_PERMISSION", `${path} is not held by ${sender}`);
    return true;
  }

  /** The connection to the target `name`, which the zone records with this device as its via. */
  private async backendFor(name: string): Promise<Backend> {
    const { paths } = this.node.zone;
    const recorded = readZoneTargets(this.node.db).find(
      (t) => t.name === name && t.via === this.node.deviceName,
    );
    const resolved = resolveTargets(paths, this.node.db, this.node.deviceName).find(
      (t) => t.name === name,
    );
    if (!recorded || resolved?.route.kind !== "direct")
      throw new BuckyError(
        "E_NOT_FOUND",
        `${this.node.deviceName} reaches no backup target named ${name}`,
        "See the zone's targets, and who reaches each, with `bucky backup target list`.",
      );
    const connection: Target = resolved.route.connection;
    const known = this.open.get(name);
    if (known && known.url === connection.url) {
      known.usedAt = this.node.now();
      return known.backend;
    }
    if (known) await this.drop(name);
    const backend = connect(connection);
    this.open.set(name, { backend, url: connection.url, usedAt: this.node.now() });
    backend.catch(() => this.open.delete(name));
    return backend;
  }

  private async drop(name: string): Promise<void> {
    const known = this.open.get(name);
    this.open.delete(name);
    await known?.backend.then((b) => b.close()).catch(() => {});
  }

  private async closeIdle(): Promise<void> {
    const now = this.node.now();
    for (const [name, known] of this.open) if (now - known.usedAt >= IDLE_MS) await this.drop(name);
  }
}

/** The most of a file of `file`'s kind a via reads for a member. */
function readBound(file: RepositoryFile | undefined): number {
  switch (file?.kind) {
    case "snapshot":
      return MAX_SNAPSHOT_FILE_BYTES;
    case "hot":
      return MAX_HOT_FILE_BYTES;
    case "shared-lock":
    case "exclusive-lock":
      return MAX_LOCK_FILE_BYTES;
    case "index":
      return Math.min(MAX_INDEX_FILE_BYTES, REMOTE_READ_MAX_BYTES);
    case "config":
      return MAX_CONFIG_FILE_BYTES;
    case "key-epoch":
    case "snapshot-key":
      return MAX_KEY_EPOCH_BYTES;
    default:
      // A pack (a few tens of MiB at most): never more than one answer carries.
      return REMOTE_READ_MAX_BYTES;
  }
}

function raw(bytes: Uint8Array): HostAnswer {
  return { bytes, contentType: "application/octet-stream" };
}

function cbor(bytes: Uint8Array): HostAnswer {
  return { bytes, contentType: "application/cbor" };
}
