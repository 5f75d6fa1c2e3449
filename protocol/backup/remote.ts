/**
 * A backup repository used through the device that reaches it: another member of the zone
 * sends one file operation at a time to `POST /v1/backup/targets/<name>` on the via device,
 * which carries it out on its own connection to the target. What travels is already sealed
 * by the device that backs up; the via device relays bytes it cannot open.
 *
 *   request  = CBOR { v: 1, op, path, offset?, length?, data? }
 *   answer   = the bytes read (read, readRange), CBOR [names…] (list), CBOR { created } (create),
 *              nothing (write, remove)
 *
 * A member may touch only the repository's own files (docs/backup-repository.md), and only
 * in ways that cannot undo another device's work: it reads anything, adds index, snapshot
 * and hot files (never over an existing one), writes packs only under the name their bytes
 * hash to, and key epochs only as the owner signed them (`keys/<name>`, and beside a
 * snapshot, `snapshot-keys/<snapshot>-<name>`, never over one), and holds, refreshes and releases shared locks of its own. It cannot change the
 * config, take the exclusive lock, or delete anything else: pruning is the via device's.
 */
import { decodeCbor, encodeCbor } from "../cbor.ts";
import { check } from "../errors.ts";
import { isRecord, requireOnlyFields, requireString, requireUint } from "../shape.ts";
import { MAX_DIRECTORY_NAMES } from "./formats.ts";
import { epochOfKeyEpochName, SNAPSHOT_KEY_DIR, snapshotKeyOfName } from "./key-epoch.ts";

export const REMOTE_VERSION = 1;
/**
 * The most a remote write may carry: under the peer API's body limit (16 MiB) with room
 * for the framing. Packs for a remote target are cut to fit it.
 */
export const REMOTE_WRITE_MAX_BYTES = 15 * 1024 * 1024;
/** The most one remote read of a range may ask for. */
export const REMOTE_READ_MAX_BYTES = 48 * 1024 * 1024;
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
const MAX_PATH_LENGTH = 200;

export type RemoteOp = "read" | "readRange" | "list" | "write" | "create" | "remove";
const OPS: readonly RemoteOp[] = ["read", "readRange", "list", "write", "create", "remove"];

export interface RemoteRequest {
  readonly op: RemoteOp;
  readonly path: string;
  readonly offset?: number;
  readonly length?: number;
  readonly data?: Uint8Array;
}

export function encodeRemoteRequest(request: RemoteRequest): Uint8Array {
  return encodeCbor({ v: REMOTE_VERSION, ...request });
}

/** Parses a request and checks its fields against their limits. Throws ProtocolError. */
export function decodeRemoteRequest(bytes: Uint8Array): RemoteRequest {
  const value = decodeCbor(bytes, MAX_REQUEST_BYTES, "backup request");
  check(isRecord(value), "a backup request must be a map");
  requireOnlyFields(value, ["v", "op", "path", "offset", "length", "data"], "backup request");
  check(value.v === REMOTE_VERSION, `backup request version ${String(value.v)} is not supported`);
  const op = value.op as RemoteOp;
  check(OPS.includes(op), "backup request op is unknown");
  const path = requireString(value.path, "backup request path", MAX_PATH_LENGTH);
  const request: { -readonly [K in keyof RemoteRequest]: RemoteRequest[K] } = { op, path };
  if (op === "readRange") {
    request.offset = requireUint(value.offset, "backup request offset");
    request.length = requireUint(value.length, "backup request length", REMOTE_READ_MAX_BYTES);
  }
  if (op === "write" || op === "create") {
    check(value.data instanceof Uint8Array, "backup request data must be a byte string");
    check(
      value.data.length <= REMOTE_WRITE_MAX_BYTES,
      `backup request data is over ${REMOTE_WRITE_MAX_BYTES} bytes`,
    );
    request.data = value.data;
  }
  return request;
}

export function encodeNames(names: readonly string[]): Uint8Array {
  return encodeCbor(names);
}

export function decodeNames(bytes: Uint8Array): string[] {
  const value = decodeCbor(bytes, MAX_REQUEST_BYTES, "a listing");
  check(Array.isArray(value), "a listing must be an array");
  check(
    value.length <= MAX_DIRECTORY_NAMES,
    `a listing holds more than ${MAX_DIRECTORY_NAMES} names, more than a repository's directory`,
  );
  return value.map((name, i) => requireString(name, `listed name ${i}`, MAX_PATH_LENGTH));
}

export function encodeCreated(created: boolean): Uint8Array {
  return encodeCbor({ created });
}

export function decodeCreated(bytes: Uint8Array): boolean {
  const value = decodeCbor(bytes, 64, "a create answer");
  check(isRecord(value) && typeof value.created === "boolean", "a create answer is malformed");
  return value.created;
}

/** What a path of the repository is, by the layout; undefined when it is none of its files. */
export type RepositoryFile =
  | { readonly kind: "config" }
  | { readonly kind: "pack"; readonly hash: string }
  | { readonly kind: "index" | "snapshot" | "hot" | "shared-lock" | "exclusive-lock" }
  | { readonly kind: "key-epoch"; readonly name: string }
  /** A key epoch's record filed beside a snapshot (lib/backup/key-epochs.ts). */
  | { readonly kind: "snapshot-key"; readonly snapshot: string; readonly name: string };

const HEX32 = /^[0-9a-f]{32}$/;
const DEVICE = "[a-z](?:[a-z0-9-]*[a-z0-9])?";
const HOT_NAME = new RegExp(`^\\d{8}T\\d{9}Z-${DEVICE}-[0-9a-f]{8}$`);
const SHARED_LOCK = /^shared-[0-9a-f]{32}$/;

export function repositoryFile(path: string): RepositoryFile | undefined {
  const parts = path.split("/");
  const [top, name, more] = parts;
  if (parts.length === 1) return top === "config" ? { kind: "config" } : undefined;
  if (parts.length === 3) {
    if (top !== "data" || !/^[0-9a-f]{2}$/.test(name ?? "") || !/^[0-9a-f]{64}$/.test(more ?? ""))
      return undefined;
    return more?.startsWith(name as string) ? { kind: "pack", hash: more } : undefined;
  }
  if (parts.length !== 2 || name === undefined) return undefined;
  if (top === "index" && HEX32.test(name)) return { kind: "index" };
  if (top === "snapshots" && HEX32.test(name)) return { kind: "snapshot" };
  if (top === "hot" && HOT_NAME.test(name)) return { kind: "hot" };
  if (top === "keys" && epochOfKeyEpochName(name) !== undefined) return { kind: "key-epoch", name };
  if (top === SNAPSHOT_KEY_DIR) {
    const beside = snapshotKeyOfName(name);
    return beside && { kind: "snapshot-key", ...beside };
  }
  if (top === "locks" && name === "exclusive") return { kind: "exclusive-lock" };
  if (top === "locks" && SHARED_LOCK.test(name)) return { kind: "shared-lock" };
  return undefined;
}

/** Whether `dir` is one of the repository's directories that can be listed. */
export function isRepositoryDir(dir: string): boolean {
  return (
    ["index", "snapshots", "hot", "locks", "keys", SNAPSHOT_KEY_DIR].includes(dir) ||
    /^data\/[0-9a-f]{2}$/.test(dir)
  );
}

/**
 * Why a member may not do `op` on `path` of a repository it reaches through another
 * device, by the rules above; undefined when it may (then the via device still checks a
 * pack's hash and a lock's owner, which need the bytes).
 */
export function remoteAccessProblem(op: RemoteOp, path: string): string | undefined {
  if (op === "list")
    return isRepositoryDir(path) ? undefined : `${path} is not a directory of the repository`;
  const file = repositoryFile(path);
  if (!file) return `${path} is not a file of the repository`;
  switch (op) {
    case "read":
    case "readRange":
      return undefined;
    case "create":
      return ["index", "snapshot", "hot", "shared-lock", "key-epoch", "snapshot-key"].includes(
        file.kind,
      )
        ? undefined
        : `${path} cannot be made through another device`;
    case "write":
      return ["pack", "index", "snapshot", "hot", "shared-lock", "key-epoch"].includes(file.kind)
        ? undefined
        : `${path} cannot be written through another device`;
    case "remove":
      return file.kind === "shared-lock"
        ? undefined
        : `${path} can only be removed by the device that reaches the target (prune runs there)`;
  }
}
