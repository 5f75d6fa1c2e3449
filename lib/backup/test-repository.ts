/**
 * What the tests of who may be trusted in a backup repository build alike: scratch
 * directories, the zone's device keys and its judge, owner-signed documents, a directory
 * archived into a repository and the snapshot record of it; and what the archiver's own
 * tests share: a sink of blobs in memory, the names of the tree it made, and an app's
 * SQLite writer part way through a transaction.
 */
import { afterAll } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Chunker } from "../../protocol/backup/chunker.ts";
import { decodeTree, type Snapshot, type TreeNode } from "../../protocol/backup/formats.ts";
import { signDeviceDocument, signRevocation } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import type { BuckyError } from "../errors.ts";
import { foundingOps, seed, testOwner, testZone } from "../state/test-db.ts";
import { membershipFromRows } from "../sync/membership.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { type ArchiveResult, Archiver, type BlobSink, type Entry } from "./archiver.ts";
import type { Backend } from "./backend.ts";
import { LocalBackend } from "./local-backend.ts";
import type { Repository } from "./repository.ts";
import type { SnapshotJudge } from "./snapshot-trust.ts";

/**
 * A scratch folder for this test file (in TEST_SCRATCH_ROOT), removed after it; each call a
 * new directory in it.
 */
export function scratchDirs(prefix: string): () => string {
  const scratch = mkdtempSync(join(TEST_SCRATCH_ROOT, prefix));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  let dirs = 0;
  return () => {
    const dir = join(scratch, `d${dirs++}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
}

/** The zone's devices' keys; `stolen` is the phone's, which the owner revoked. */
export const nas = signingKeyFromSeed(seed(2));
export const laptop = signingKeyFromSeed(seed(3));
export const stolen = signingKeyFromSeed(seed(4));
/** A key the owner never admitted. */
export const outsider = signingKeyFromSeed(seed(5));

/** The owner's revocation of the phone (stolen), as a state row. */
export const phoneRevoked = {
  key: "devices/phone/revoked",
  value: JSON.stringify(
    signRevocation(
      {
        id: deviceIdFromPublicKey(stolen.publicKey),
        name: "phone" as DeviceName,
        lastSeq: 3,
        issuedAt: 2,
      },
      testOwner,
    ).jws,
  ),
};

/** The judge of a zone founded with `devices` (by name), holding `rows` besides. */
export function judgeOf(
  devices: Readonly<Record<string, SigningKey>>,
  rows: readonly { key: string; value: string }[] = [],
): SnapshotJudge {
  return {
    zone: testZone.id,
    membership: membershipFromRows(
      [...foundingOps(devices), ...rows],
      testZone.id,
      new Map(),
      new Map(),
    ),
  };
}

/** The document of device `name` with `key`, signed by `issuer` (the owner, unless forged). */
export function deviceDocument(key: SigningKey, name: string, issuer = testOwner): string {
  return signDeviceDocument(
    { name: name as DeviceName, devicePublicKey: key.publicKey, issuedAt: 1 },
    issuer,
  ).jws;
}

/** Archives `dir` into `repository` as the snapshot's folder "data". */
export function archiveDir(repository: Repository, dir: string): Promise<ArchiveResult> {
  return new Archiver(repository, undefined).archive(
    new Map<string, Entry>([["data", { kind: "dir", path: dir }]]),
  );
}

/** The record of a snapshot of `archived` by `device` at `time`, unsigned. */
export function snapshotOf(
  archived: Pick<ArchiveResult, "tree" | "files" | "bytes">,
  time: string,
  device = "nas",
): Snapshot {
  return {
    version: 1,
    time,
    zone: testZone.id,
    device,
    hostname: "h",
    tree: archived.tree,
    parent: null,
    stats: { files: archived.files, bytes: archived.bytes, addedBytes: 0, durationMs: 0 },
  };
}

/** How `done` ended: "done", or the code and message of the BuckyError it failed with. */
export function outcome(done: Promise<unknown>): Promise<string> {
  return done.then(
    () => "done",
    (error: BuckyError) => `${error.code}: ${error.message}`,
  );
}

/** The backend at `location`, counting its range reads and the bytes they ask for. */
export function countingRangeReads(location: string): {
  backend: Backend;
  reads: () => number;
  bytes: () => number;
} {
  const local = new LocalBackend(location);
  let reads = 0;
  let bytes = 0;
  const backend: Backend = Object.assign(Object.create(local) as LocalBackend, {
    readRange: (path: string, offset: number, length: number) => {
      reads++;
      bytes += length;
      return local.readRange(path, offset, length);
    },
  });
  return { backend, reads: () => reads, bytes: () => bytes };
}

/**
 * A sink that keeps the archiver's blobs in memory, by their SHA-256; `onAdd` runs before
 * each is kept (a test's change made while the archiver stores).
 */
export function memorySink(onAdd: () => void = () => {}): {
  readonly sink: BlobSink;
  readonly blobs: Map<string, Uint8Array>;
} {
  const blobs = new Map<string, Uint8Array>();
  const sink: BlobSink = {
    chunker: new Chunker(new Uint8Array(32)),
    has: (id) => blobs.has(id),
    async add(_type, plaintext) {
      onAdd();
      const id = createHash("sha256").update(plaintext).digest("hex");
      blobs.set(id, new Uint8Array(plaintext));
      return { id, added: plaintext.length };
    },
    room: async () => {},
    flush: async () => {},
  };
  return { sink, blobs };
}

/** Every path the tree `root` in `blobs` holds, sorted; a link's as `path -> target`. */
export function treeNames(blobs: ReadonlyMap<string, Uint8Array>, root: string): string[] {
  const names: string[] = [];
  const walk = (tree: string, prefix: string) => {
    for (const node of decodeTree(blobs.get(tree) as Uint8Array)) {
      const path = prefix ? `${prefix}/${node.name}` : node.name;
      names.push(node.type === "symlink" ? `${path} -> ${node.target}` : path);
      if (node.type === "dir") walk((node as TreeNode & { subtree: string }).subtree, path);
    }
  };
  walk(root, "");
  return names.sort();
}

/** A writer in journal mode MEMORY that runs `sql` on `path` in a transaction it keeps open. */
export function memoryJournalWriter(path: string, sql: string) {
  const child = Bun.spawn(
    [
      process.execPath,
      "-e",
      `const { Database } = require("bun:sqlite");
       const db = new Database(${JSON.stringify(path)});
       db.exec("PRAGMA journal_mode = MEMORY");
       db.run("PRAGMA cache_size = 10");
       db.run("BEGIN");
       db.run(${JSON.stringify(sql)});
       console.log("part way");
       setInterval(() => {}, 1000);`,
    ],
    { stdout: "pipe" },
  );
  const ready = new Response(child.stdout).body?.getReader().read();
  return { child, ready };
}
