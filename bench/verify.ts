/**
 * What `bucky backup verify` holds while it walks the snapshots' trees. It kept, for every
 * blob, each snapshot's paths that need it: memory grew with snapshots × files (40
 * snapshots of 20,000 files took 240 MB of heap, 11× one snapshot's, and 2.0 s). It now keeps each distinct
 * tree once, and names the files of damaged blobs only, so many snapshots of much the same
 * tree cost about what one does. The anchor, measured in the same run: the same verify of
 * one snapshot of the tree.
 *
 *   bun bench/verify.ts [snapshots=40] [files=20000]
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Archiver, type Entry } from "../lib/backup/archiver.ts";
import { LocalBackend } from "../lib/backup/local-backend.ts";
import { Repository } from "../lib/backup/repository.ts";
import { verifyRepository } from "../lib/backup/verify.ts";
import { testZone } from "../lib/state/test-db.ts";

const snapshots = Number(process.argv[2] ?? 40);
const files = Number(process.argv[3] ?? 20_000);
const PER_DIRECTORY = 200;
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-verify-"));

/** A repository of `count` snapshots of one tree, a file of it changed before each. */
async function repositoryOf(count: number): Promise<{ location: string; root: Uint8Array }> {
  const source = join(scratch, "source");
  for (let i = 0; i < files; i++) {
    const dir = join(source, `dir${Math.floor(i / PER_DIRECTORY)}`);
    if (i % PER_DIRECTORY === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `a-file-of-the-tree-${i}.txt`), String(i));
  }
  const location = join(scratch, `repository-${count}`);
  const root = new Uint8Array(randomBytes(32));
  const repository = await Repository.openOrCreate(new LocalBackend(location), root);
  for (let n = 0; n < count; n++) {
    writeFileSync(join(source, "dir0", "changing.txt"), String(n));
    const archived = await new Archiver(repository, undefined).archive(
      new Map<string, Entry>([["data", { kind: "dir", path: source }]]),
    );
    await repository.writeSnapshot({
      version: 1,
      time: new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString(),
      zone: testZone.id,
      device: "d",
      hostname: "h",
      tree: archived.tree,
      parent: null,
      stats: {
        files: archived.files,
        bytes: archived.bytes,
        addedBytes: archived.addedBytes,
        durationMs: 0,
      },
    });
  }
  repository.close();
  return { location, root };
}

/** A verify (no data read) of the repository: its time, and its heap's peak above the start. */
async function measure(at: { location: string; root: Uint8Array }) {
  const repository = await Repository.open(new LocalBackend(at.location), at.root);
  Bun.gc(true);
  const start = process.memoryUsage().heapUsed;
  let peak = start;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 2);
  const startedMs = performance.now();
  const result = await verifyRepository(repository, { kind: "none" });
  const ms = performance.now() - startedMs;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  repository.close();
  if (result.damaged.length > 0) throw new Error("the benchmark's repository is damaged");
  return { ms, heapMB: (peak - start) / 1e6 };
}

try {
  const one = await measure(await repositoryOf(1));
  const many = await measure(await repositoryOf(snapshots));
  const line = (what: string, m: { ms: number; heapMB: number }) =>
    `${what.padEnd(44)} ${m.ms.toFixed(0).padStart(6)} ms  heap +${m.heapMB.toFixed(1)} MB`;
  console.log(line(`verify, 1 snapshot of ${files} files (anchor)`, one));
  console.log(line(`verify, ${snapshots} snapshots of it`, many));
  const ratio = many.heapMB / Math.max(one.heapMB, 0.1);
  console.log(
    `memory: ${ratio.toFixed(1)}× the one snapshot's (goal ≤ 3×: it grows with what the repository holds, not with snapshots × files)`,
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
