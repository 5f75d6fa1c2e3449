/**
 * What the first backup of a signing bucky costs in an older bucky's repository (its index
 * files unsigned): it takes no unsigned file's word that a blob is stored (a planted one
 * could name what it is about to back up), so it reads each file again and each blob it
 * would deduplicate at its place once, then signs those places; the next backup is as cheap
 * as before. Beside it, its anchor: that next backup of the unchanged tree, in the same
 * run, on the same tree and disk; and the older bucky's first backup, which wrote it all.
 *
 *   bun bench/first-signing-backup.ts [MiB=256]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Archiver, type Entry } from "../lib/backup/archiver.ts";
import { FileCache } from "../lib/backup/file-cache.ts";
import { indexSigner } from "../lib/backup/index-trust.ts";
import { LocalBackend } from "../lib/backup/local-backend.ts";
import { type IndexSigner, Repository } from "../lib/backup/repository.ts";
import { seed, testOwner, testZone } from "../lib/state/test-db.ts";
import { signDeviceDocument } from "../protocol/documents.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import type { DeviceName } from "../protocol/names.ts";
import { generateTree } from "../test/generated-tree.ts";

const MIB = Number(process.argv[2] ?? 256);
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-first-signing-"));
try {
  const tree = join(scratch, "tree");
  generateTree(tree, MIB * 1024 * 1024);
  const location = join(scratch, "repository");
  const cacheDir = join(scratch, "cache");
  const root = new Uint8Array(32).fill(7);
  const key = signingKeyFromSeed(seed(2));
  const document = signDeviceDocument(
    { name: "nas" as DeviceName, devicePublicKey: key.publicKey, issuedAt: 1 },
    testOwner,
  ).jws;
  const signer = indexSigner({ zone: testZone.id, key, document });

  /** One backup of the tree, with the file cache a run keeps: its time in ms, and bytes read. */
  const backUp = async (sign: IndexSigner | undefined) => {
    const backend = new LocalBackend(location);
    let readBytes = 0;
    const counting = Object.assign(Object.create(backend) as LocalBackend, {
      readRange: (path: string, offset: number, length: number) => {
        readBytes += length;
        return backend.readRange(path, offset, length);
      },
    });
    const started = performance.now();
    const repository = await Repository.openOrCreate(counting, root, {
      withIndex: false,
      ...(sign ? { signer: sign } : {}),
    });
    const cache = new FileCache(join(cacheDir, repository.id), {
      job: "benchmark backup",
      startedAt: new Date().toISOString(),
    });
    try {
      await repository.loadIndex();
      await new Archiver(repository, cache).archive(
        new Map<string, Entry>([["data", { kind: "dir", path: tree }]]),
      );
      cache.commit();
    } finally {
      cache.close();
      repository.close();
    }
    return {
      ms: Math.round(performance.now() - started),
      readMiB: Math.round(readBytes / 2 ** 20),
    };
  };

  const older = await backUp(undefined);
  const signing = await backUp(signer);
  const next = await backUp(signer);
  console.log(
    `${MIB} MiB tree: a signing bucky's first backup of an older bucky's repository ${signing.ms} ms, ${signing.readMiB} MiB read back; its next, unchanged: ${next.ms} ms, ${next.readMiB} MiB read back (anchor); the older bucky's first backup ${older.ms} ms`,
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
