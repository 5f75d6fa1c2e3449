/**
 * The repository in one process, on a real directory: a tree archived and restored, and
 * interruptions at every step of a prune and of a backup (a backend that fails after n
 * operations), after each of which the repository must still verify and restore.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import {
  BLOB_ZSTD,
  MAX_CONFIG_FILE_BYTES,
  MAX_SNAPSHOT_FILE_BYTES,
} from "../../protocol/backup/formats.ts";
import { seal } from "../../protocol/backup/keys.ts";
import { signSnapshot } from "../../protocol/backup/snapshot-signature.ts";
import { BuckyError } from "../errors.ts";
import { testZone } from "../state/test-db.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { Archiver, type Entry } from "./archiver.ts";
import type { Backend } from "./backend.ts";
import { LocalBackend } from "./local-backend.ts";
import { MAX_LOCK_FILE_BYTES, takeExclusiveLock, takeSharedLock } from "./lock.ts";
import { DEFAULT_RETENTION, pruneRepository, snapshotsToKeep } from "./prune.ts";
import { MAX_INDEX_FILE_BYTES, packPath, Repository } from "./repository.ts";
import { restoreTree } from "./restorer.ts";
import { sealIndex } from "./sealed.ts";
import { archiveDir, deviceDocument, judgeOf, nas, snapshotOf } from "./test-repository.ts";
import { verifyRepository } from "./verify.ts";

const scratch = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-repo-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const root = new Uint8Array(randomBytes(32));
let dirs = 0;
const newDir = () => {
  const dir = join(scratch, `d${dirs++}`);
  mkdirSync(dir);
  return dir;
};

/** A backend that works for `budget` writes and removals, then fails every one. */
class FailingBackend implements Backend {
  constructor(
    private readonly inner: Backend,
    private budget: number,
  ) {}
  get location() {
    return this.inner.location;
  }
  private spend(): void {
    if (this.budget-- <= 0) throw new BuckyError("E_UNAVAILABLE", "the target went away");
  }
  async write(path: string, data: Uint8Array | readonly Uint8Array[]) {
    this.spend();
    return this.inner.write(path, data);
  }
  async create(path: string, data: Uint8Array) {
    return this.inner.create(path, data);
  }
  read = (path: string, maxBytes: number) => this.inner.read(path, maxBytes);
  readRange = (path: string, offset: number, length: number) =>
    this.inner.readRange(path, offset, length);
  list = (dir: string) => this.inner.list(dir);
  listCut = (dir: string) => this.inner.listCut(dir);
  async remove(path: string) {
    this.spend();
    return this.inner.remove(path);
  }
  close = () => this.inner.close();
}

function sourceTree(): string {
  const dir = newDir();
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "random.bin"), randomBytes(3 * 1024 * 1024));
  writeFileSync(join(dir, "sub", "text.txt"), "hello ".repeat(200_000));
  writeFileSync(join(dir, "empty"), "");
  symlinkSync("sub/text.txt", join(dir, "link"));
  return dir;
}

async function snapshot(repository: Repository, dir: string, time: string): Promise<string> {
  const archived = await new Archiver(repository, undefined).archive(
    new Map<string, Entry>([["data", { kind: "dir", path: dir }]]),
  );
  return repository.writeSnapshot({
    version: 1,
    time,
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

/** Verifies the repository at `location`, and restores its latest snapshot (or every one). */
async function sound(location: string, options: { everySnapshot?: boolean } = {}): Promise<void> {
  const repository = await Repository.open(new LocalBackend(location), root);
  try {
    const result = await verifyRepository(repository, { kind: "all" });
    expect(result.damaged).toEqual([]);
    const snapshots = await repository.snapshots();
    for (const { snapshot } of options.everySnapshot ? snapshots : snapshots.slice(-1)) {
      const restored = await restoreTree(repository, snapshot.tree, newDir());
      expect(restored.damaged).toEqual([]);
    }
  } finally {
    repository.close();
  }
}

describe("a repository in a directory", () => {
  test("snapshot files are read a few at a time, and none past what a snapshot can hold", async () => {
    const location = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    const own = await snapshot(repository, sourceTree(), "2026-01-01T00:00:00.000Z");
    repository.close();
    // Anyone holding the backup key: many snapshot files, each far larger than one.
    for (let i = 0; i < 20; i++)
      writeFileSync(
        join(location, "snapshots", randomBytes(16).toString("hex")),
        randomBytes(256 * 1024),
      );
    let inFlight = 0;
    let mostInFlight = 0;
    let largestRead = 0;
    const local = new LocalBackend(location);
    const watched: Backend = Object.assign(Object.create(local) as LocalBackend, {
      async read(path: string, maxBytes: number) {
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        try {
          const bytes = await local.read(path, maxBytes);
          largestRead = Math.max(largestRead, bytes.length);
          return bytes;
        } finally {
          inFlight--;
        }
      },
    });
    const reopened = await Repository.open(watched, root, { withIndex: false });
    try {
      largestRead = 0;
      mostInFlight = 0;
      expect((await reopened.snapshots()).map((s) => s.name)).toEqual([own]);
      expect(reopened.unreadableSnapshots).toHaveLength(20);
      expect(reopened.unreadableSnapshots[0]?.problem).toBe("it is larger than a snapshot can be");
      expect(largestRead).toBeLessThanOrEqual(MAX_SNAPSHOT_FILE_BYTES);
      expect(mostInFlight).toBeLessThanOrEqual(8);
    } finally {
      reopened.close();
    }
  });

  test("a tree round-trips: contents, empty files, links; the same tree adds nothing", async () => {
    const location = newDir();
    const source = sourceTree();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    await snapshot(repository, source, "2026-01-01T00:00:00.000Z");
    const stored = repository.storedBytes;
    await snapshot(repository, source, "2026-01-01T01:00:00.000Z");
    expect(repository.storedBytes).toBe(stored);
    const to = newDir();
    const latest = (await repository.snapshots()).at(-1);
    await restoreTree(repository, latest?.snapshot.tree as string, to);
    repository.close();
    expect(readFileSync(join(to, "data", "random.bin"))).toEqual(
      readFileSync(join(source, "random.bin")),
    );
    expect(readFileSync(join(to, "data", "link"), "utf8")).toBe(
      readFileSync(join(source, "sub", "text.txt"), "utf8"),
    );
    expect(readFileSync(join(to, "data", "empty")).length).toBe(0);
  });

  test("a cached index file cut short (a crash while caching) is passed over and mended", async () => {
    const location = newDir();
    const cache = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root, {
      cacheDir: cache,
    });
    await snapshot(repository, sourceTree(), "2026-01-01T00:00:00.000Z");
    repository.close();
    const [config] = readdirSync(cache);
    const indexDir = join(cache, config as string, "index");
    const [name] = readdirSync(indexDir);
    const cached = join(indexDir, name as string);
    const whole = readFileSync(cached);
    writeFileSync(cached, whole.subarray(0, 10));

    const reopened = await Repository.open(new LocalBackend(location), root, { cacheDir: cache });
    try {
      const latest = (await reopened.snapshots()).at(-1);
      const restored = await restoreTree(reopened, latest?.snapshot.tree as string, newDir());
      expect(restored.damaged).toEqual([]);
    } finally {
      reopened.close();
    }
    expect(readFileSync(cached)).toEqual(whole);
  });

  test("the cached index keeps only the files the target lists: each prune's, another device's too, replace the ones before", async () => {
    const location = newDir();
    const [mine, theirs] = [newDir(), newDir()];
    const cached = (cache: string) => {
      const [config] = readdirSync(cache);
      return readdirSync(join(cache, config as string, "index")).sort();
    };
    const listed = () => readdirSync(join(location, "index")).sort();
    const first = await Repository.openOrCreate(new LocalBackend(location), root, {
      cacheDir: mine,
    });
    await snapshot(first, sourceTree(), "2026-01-01T00:00:00.000Z");
    first.close();
    // Day after day, this device and another back up and prune the same target.
    for (const [day, cache] of [mine, theirs, mine, theirs].entries()) {
      const repository = await Repository.open(new LocalBackend(location), root, {
        cacheDir: cache,
      });
      try {
        await snapshot(repository, sourceTree(), `2026-01-0${day + 2}T00:00:00.000Z`);
        await pruneRepository(repository, DEFAULT_RETENTION);
        expect(cached(cache)).toEqual(listed());
      } finally {
        repository.close();
      }
    }
    // This device's cache, last written two prunes ago, lets go of them at its next open,
    // and of a copy a crash cut short an hour ago, not of one being written now.
    expect(cached(mine)).not.toEqual(listed());
    const indexDir = join(mine, readdirSync(mine)[0] as string, "index");
    const [crashed, writing] = ["0a.1.00.tmp", "0b.2.00.tmp"];
    for (const name of [crashed, writing]) writeFileSync(join(indexDir, name), "part");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(indexDir, crashed), twoHoursAgo, twoHoursAgo);
    const reopened = await Repository.open(new LocalBackend(location), root, { cacheDir: mine });
    reopened.close();
    expect(cached(mine)).toEqual([...listed(), writing].sort());
  });

  test("index files fetched ahead are read only up to a small bound: planted large ones are read one at a time", async () => {
    const location = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    await snapshot(repository, sourceTree(), "2026-01-01T00:00:00.000Z");
    repository.close();
    // Anyone holding the backup key: eight index files of 64 MiB (sparse), each within the
    // bound of one, and all fetched ahead at once before (512 MiB held; 2 GiB at the bound).
    const planted = Array.from({ length: 8 }, (_, i) => `${i}e`.repeat(16));
    for (const name of planted) {
      closeSync(openSync(join(location, "index", name), "w"));
      truncateSync(join(location, "index", name), 64 * 1024 * 1024);
    }
    const backend = new LocalBackend(location);
    let asked = 0;
    let mostAsked = 0;
    const counting: Backend = Object.assign(Object.create(backend), {
      read: async (path: string, maxBytes: number) => {
        if (!path.startsWith("index/")) return backend.read(path, maxBytes);
        asked += maxBytes;
        mostAsked = Math.max(mostAsked, asked);
        try {
          return await backend.read(path, maxBytes);
        } finally {
          asked -= maxBytes;
        }
      },
    });
    const reopened = await Repository.open(counting, root);
    try {
      expect(reopened.unreadableIndexFiles.map((u) => u.name)).toEqual(planted.sort());
      // At most seven fetched ahead at 16 MiB each beside one read whole.
      expect(mostAsked).toBeLessThanOrEqual(7 * 16 * 1024 * 1024 + MAX_INDEX_FILE_BYTES);
      const latest = (await reopened.snapshots()).at(-1);
      const restored = await restoreTree(reopened, latest?.snapshot.tree as string, newDir());
      expect(restored.damaged).toEqual([]);
    } finally {
      reopened.close();
    }
  });

  test("through another device, which sends a file whole before its bound is checked, an index file past the bound ahead is asked for once", async () => {
    const location = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    await snapshot(repository, sourceTree(), "2026-01-01T00:00:00.000Z");
    repository.close();
    // 20 MiB (sparse): past the bound ahead of a target read here, within what a via sends.
    const large = "5e".repeat(16);
    closeSync(openSync(join(location, "index", large), "w"));
    truncateSync(join(location, "index", large), 20 * 1024 * 1024);
    const backend = new LocalBackend(location);
    const asked: string[] = [];
    const viaLike: Backend = Object.assign(Object.create(backend), {
      readsWholeUpTo: 48 * 1024 * 1024,
      read: (path: string, maxBytes: number) => {
        if (path.startsWith("index/")) asked.push(path);
        return backend.read(path, maxBytes);
      },
    });
    const reopened = await Repository.open(viaLike, root);
    try {
      expect(reopened.unreadableIndexFiles.map((u) => u.name)).toEqual([large]);
      // Each index file once: the large one was not refused ahead and sent again.
      expect(asked.filter((path) => path === `index/${large}`)).toHaveLength(1);
      expect(new Set(asked).size).toBe(asked.length);
    } finally {
      reopened.close();
    }
  });

  test("an index file larger than one can be, or that does not open, is left out: restores and verify go on, and prune deletes it", async () => {
    const location = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    await snapshot(repository, sourceTree(), "2026-01-01T00:00:00.000Z");
    repository.close();
    // Anyone holding the backup key: an index file far larger than any (sparse: nothing is
    // read of it), and one that does not open.
    const huge = "ab".repeat(16);
    const junk = "cd".repeat(16);
    closeSync(openSync(join(location, "index", huge), "w"));
    truncateSync(join(location, "index", huge), MAX_INDEX_FILE_BYTES + 1);
    writeFileSync(join(location, "index", junk), randomBytes(100));
    const packs = () => readdirSync(join(location, "data"), { recursive: true }).sort();
    const before = packs();

    const reopened = await Repository.open(new LocalBackend(location), root);
    try {
      expect(reopened.unreadableIndexFiles).toEqual([
        { name: huge, problem: "it is larger than an index file can be" },
        { name: junk, problem: expect.stringContaining(`index ${junk}`) },
      ]);
      const latest = (await reopened.snapshots()).at(-1);
      const restored = await restoreTree(reopened, latest?.snapshot.tree as string, newDir());
      expect(restored.damaged).toEqual([]);
      const verified = await verifyRepository(reopened, { kind: "none" });
      expect({ ok: verified.ok, damaged: verified.damaged }).toEqual({ ok: false, damaged: [] });
      expect(verified.unreadableIndex.map((u) => u.file)).toEqual([huge, junk]);
      // Every blob the kept snapshot needs is named by the other index files: what the
      // junk may name is of no snapshot, and the junk goes (it stopped every prune).
      const pruned = await pruneRepository(reopened, DEFAULT_RETENTION);
      expect(pruned.removedIndexFiles.map((f) => f.file)).toEqual([huge, junk]);
    } finally {
      reopened.close();
    }
    expect(packs()).toEqual(before);
    expect(readdirSync(join(location, "index"))).not.toContain(junk);
    expect(readdirSync(join(location, "index"))).not.toContain(huge);
    await sound(location);
    const after = await Repository.open(new LocalBackend(location), root);
    try {
      expect((await verifyRepository(after, { kind: "all" })).ok).toBe(true);
    } finally {
      after.close();
    }
  });

  test("an index file that does not open, where a kept snapshot needs blobs no other names: prune removes nothing", async () => {
    const location = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    await snapshot(repository, sourceTree(), "2026-01-01T00:00:00.000Z");
    repository.close();
    // A genuine index file damaged: the blobs it named may be live.
    const [name] = readdirSync(join(location, "index"));
    const path = join(location, "index", name as string);
    writeFileSync(path, readFileSync(path).subarray(0, 40));
    const everything = () => readdirSync(location, { recursive: true }).sort();
    const before = everything();
    const reopened = await Repository.open(new LocalBackend(location), root);
    try {
      const refused = await pruneRepository(reopened, DEFAULT_RETENTION).then(
        () => "pruned",
        (error: BuckyError) => `${error.code}: ${error.message}`,
      );
      expect(refused).toStartWith(`E_INTEGRITY: index file ${(name as string).slice(0, 8)}`);
      expect(refused).toContain("nothing was pruned");
    } finally {
      reopened.close();
    }
    expect(everything()).toEqual(before);
  });

  test("an index file naming a pack outside the repository is refused: prune deletes nothing there", async () => {
    const base = newDir();
    const location = join(base, "a", "b");
    mkdirSync(location, { recursive: true });
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    await snapshot(repository, sourceTree(), "2026-01-01T00:00:00.000Z");
    // Anyone holding the backup key: an index file naming a blob no snapshot uses in a
    // "pack" that is a path out of the repository (data/../../../victim).
    const victim = join(base, "victim");
    writeFileSync(victim, "not the repository's");
    const name = randomBytes(16).toString("hex");
    await repository.backend.write(
      `index/${name}`,
      sealIndex(repository.keys, name, [
        { id: "ab".repeat(32), type: "data", pack: "../../victim", offset: 0, length: 10, size: 1 },
      ]),
    );
    repository.close();
    const reopened = await Repository.open(new LocalBackend(location), root);
    try {
      expect(reopened.unreadableIndexFiles).toEqual([
        { name, problem: `index ${name} names a pack that is no pack id` },
      ]);
      const pruned = await pruneRepository(reopened, DEFAULT_RETENTION);
      expect(pruned.removedIndexFiles.map((f) => f.file)).toEqual([name]);
    } finally {
      reopened.close();
    }
    expect(readFileSync(victim, "utf8")).toBe("not the repository's");
    await sound(location);
  });

  test("index files are read a few at a time, not all at once", async () => {
    const location = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    await snapshot(repository, sourceTree(), "2026-01-01T00:00:00.000Z");
    repository.close();
    for (let i = 0; i < 20; i++)
      writeFileSync(join(location, "index", randomBytes(16).toString("hex")), randomBytes(1000));
    let inFlight = 0;
    let mostInFlight = 0;
    const local = new LocalBackend(location);
    const watched: Backend = Object.assign(Object.create(local) as LocalBackend, {
      async read(path: string, maxBytes: number) {
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        try {
          return await local.read(path, maxBytes);
        } finally {
          inFlight--;
        }
      },
    });
    const reopened = await Repository.open(watched, root);
    try {
      expect(reopened.unreadableIndexFiles).toHaveLength(20);
      expect(mostInFlight).toBeGreaterThan(1);
      expect(mostInFlight).toBeLessThanOrEqual(8);
    } finally {
      reopened.close();
    }
  });

  test("a config larger than one can be is not read", async () => {
    const location = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    repository.close();
    // Anyone who can write to the target: a config of 64 MiB (sparse: no disk needed).
    truncateSync(join(location, "config"), 64 * 1024 * 1024);
    let largestRead = 0;
    const local = new LocalBackend(location);
    const watched: Backend = Object.assign(Object.create(local) as LocalBackend, {
      async read(path: string, maxBytes: number) {
        const bytes = await local.read(path, maxBytes);
        largestRead = Math.max(largestRead, bytes.length);
        return bytes;
      },
    });
    const refused = await Repository.open(watched, root).then(
      () => "opened",
      (error: BuckyError) => `${error.code}: ${error.message}`,
    );
    expect(refused).toContain("E_INTEGRITY");
    expect(refused).toContain("its config is larger than");
    expect(largestRead).toBeLessThanOrEqual(MAX_CONFIG_FILE_BYTES);
  });

  test("a blob of a few KiB of zstd standing for a GiB is not decompressed past its size", async () => {
    const location = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    repository.close();
    // 64 frames of 16 MiB of zeros each, one after the other: 1 GiB, in a few KiB.
    const frame = Bun.zstdCompressSync(new Uint8Array(16 * 1024 * 1024), { level: 19 });
    const bomb = Buffer.concat(Array.from({ length: 64 }, () => frame));
    expect(bomb.length).toBeLessThan(64 * 1024);
    // Sealed as any holder of the backup key can, under an id the index names.
    const planted = await Repository.open(new LocalBackend(location), root);
    const small = "aa".repeat(32);
    const claimedHuge = "bb".repeat(32);
    const pack = "cc".repeat(32);
    const sealedOf = (id: string) =>
      seal(planted.keys, [new Uint8Array([BLOB_ZSTD]), bomb], `blob ${id}`, randomBytes(12));
    const first = sealedOf(small);
    const second = sealedOf(claimedHuge);
    await planted.backend.write(packPath(pack), [first, second]);
    const name = randomBytes(16).toString("hex");
    await planted.backend.write(
      `index/${name}`,
      sealIndex(planted.keys, name, [
        // As large as it is sealed (an entry saying less than that is not taken in).
        { id: small, type: "data", pack, offset: 0, length: first.length, size: first.length },
        // An index entry may say anything: a data blob is never past the chunker's largest.
        {
          id: claimedHuge,
          type: "data",
          pack,
          offset: first.length,
          length: second.length,
          size: 2 ** 40,
        },
      ]),
    );
    planted.close();
    const reopened = await Repository.open(new LocalBackend(location), root);
    try {
      const problem = (id: string) =>
        reopened.readBlob(id).then(
          () => "read",
          (error: BuckyError) => `${error.code}: ${error.message}`,
        );
      expect(await problem(small)).toContain(`decompresses to over ${first.length} bytes`);
      // An entry saying more than a data blob can be is not taken in: nothing is decompressed.
      expect(await problem(claimedHuge)).toContain("is missing from the repository");
    } finally {
      reopened.close();
    }
  });

  test("a prune writes the index in files no larger than a via carries", async () => {
    const location = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(location), root);
    const source = newDir();
    for (let i = 0; i < 200; i++) writeFileSync(join(source, `f${i}`), randomBytes(100));
    await snapshot(repository, source, "2026-01-01T00:00:00.000Z");
    await snapshot(repository, sourceTree(), "2026-01-01T01:00:00.000Z");
    const blobs = [...repository.blobs()].length;
    // A small limit stands for the via's 48 MiB (a million blobs).
    await pruneRepository(repository, DEFAULT_RETENTION, undefined, undefined, 2048);
    repository.close();
    const names = readdirSync(join(location, "index"));
    expect(names.length).toBeGreaterThan(3);
    for (const name of names)
      expect(readFileSync(join(location, "index", name)).length).toBeLessThanOrEqual(2048);
    const reopened = await Repository.open(new LocalBackend(location), root);
    try {
      expect([...reopened.blobs()].length).toBe(blobs);
    } finally {
      reopened.close();
    }
    await sound(location);
  });

  test("a backup cut off after any number of writes leaves a repository that verifies", async () => {
    let cuts = 0;
    for (const budget of [0, 1, 2, 3, 5]) {
      const location = newDir();
      const seed = await Repository.openOrCreate(new LocalBackend(location), root);
      await snapshot(seed, sourceTree(), "2026-01-01T00:00:00.000Z");
      seed.close();
      const failing = await Repository.open(
        new FailingBackend(new LocalBackend(location), budget),
        root,
      );
      const cut = await snapshot(failing, sourceTree(), "2026-01-02T00:00:00.000Z").then(
        () => false,
        (error: unknown) => {
          if (!(error instanceof BuckyError)) throw error;
          return true;
        },
      );
      cuts += cut ? 1 : 0;
      failing.close();
      await sound(location);
    }
    expect(cuts).toBeGreaterThanOrEqual(3);
  }, 30_000);

  test("a prune cut off at any step leaves a repository that verifies, whose snapshots all restore", async () => {
    // Fourteen snapshots of changing trees, of which the policy keeps the newest three:
    // eleven go, and their blobs with them. Made once, and each cut prune given a copy.
    // Signed, by a device of the zone: its unsigned ones the policy would never forget.
    const made = newDir();
    const repository = await Repository.openOrCreate(new LocalBackend(made), root);
    const nasDocument = deviceDocument(nas, "nas");
    for (let i = 0; i < 14; i++) {
      const archived = await archiveDir(repository, sourceTree());
      const record = snapshotOf(archived, `2026-01-01T00:${String(i).padStart(2, "0")}:00.000Z`);
      await repository.writeSnapshot((name) => ({
        ...record,
        signed: signSnapshot(name, record, nas, nasDocument),
      }));
    }
    repository.close();
    const judge = judgeOf({ nas });
    const policy = { last: 3, hourly: 0, daily: 0, weekly: 0, monthly: 0 };
    const packs = (location: string) =>
      readdirSync(join(location, "data"), { recursive: true }).length;
    // Cut after each write or removal in turn, until a prune has room to finish.
    let cuts = 0;
    for (let budget = 0; ; budget++) {
      const location = newDir();
      cpSync(made, location, { recursive: true });
      const failing = await Repository.open(
        new FailingBackend(new LocalBackend(location), budget),
        root,
      );
      const cut = await pruneRepository(failing, policy, judge).then(
        () => false,
        (error: unknown) => {
          if (!(error instanceof BuckyError)) throw error;
          return true;
        },
      );
      failing.close();
      await sound(location, { everySnapshot: true });
      if (!cut) {
        // The whole prune forgot eleven snapshots and removed what only they held.
        const left = await Repository.open(new LocalBackend(location), root);
        expect((await left.snapshots()).length).toBe(3);
        left.close();
        expect(packs(location)).toBeLessThan(packs(made));
        break;
      }
      cuts++;
    }
    // Cut in each of its steps: snapshots forgotten, packs written, packs and index removed.
    expect(cuts).toBeGreaterThanOrEqual(8);
  }, 60_000);

  test("the retention policy keeps the newest, and the newest of each hour, day, week, month", () => {
    const hours = Array.from({ length: 48 }, (_, i) => ({
      name: `s${i}`,
      time: new Date(Date.UTC(2026, 0, 1, i)).toISOString(),
      device: "nas",
    }));
    const kept = snapshotsToKeep(hours, { last: 3, hourly: 5, daily: 2, weekly: 0, monthly: 0 });
    // Newest three; newest of the five latest hours (the same ones and two more); the
    // newest of each of the two days.
    expect([...kept].sort()).toEqual(["s23", "s43", "s44", "s45", "s46", "s47"].sort());
  });

  test("the retention policy holds for each device on its own, and keeps each one's newest", () => {
    // The NAS backs up every hour; the laptop backed up once, long ago, then never again.
    const nas = Array.from({ length: 48 }, (_, i) => ({
      name: `nas${i}`,
      time: new Date(Date.UTC(2026, 0, 3, i)).toISOString(),
      device: "nas",
    }));
    const laptop = [
      { name: "laptop0", time: new Date(Date.UTC(2025, 0, 1)).toISOString(), device: "laptop" },
      { name: "laptop1", time: new Date(Date.UTC(2025, 0, 1, 1)).toISOString(), device: "laptop" },
    ];
    const policy = { last: 3, hourly: 0, daily: 0, weekly: 0, monthly: 0 };
    expect([...snapshotsToKeep([...nas, ...laptop], policy)].sort()).toEqual(
      ["laptop0", "laptop1", "nas45", "nas46", "nas47"].sort(),
    );
    // Even a policy that keeps nothing keeps each device's newest.
    const none = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0 };
    expect([...snapshotsToKeep([...nas, ...laptop], none)].sort()).toEqual(["laptop1", "nas47"]);
  });

  test("backups share the repository; a prune waits for none and shuts them out", async () => {
    const backend = new LocalBackend(newDir());
    const one = await takeSharedLock(backend, "backup");
    const two = await takeSharedLock(backend, "backup");
    await expect(takeExclusiveLock(backend, "prune")).rejects.toThrow("a backup runs on");
    // The refused prune left no lock behind: backups still start at once.
    const three = await takeSharedLock(backend, "verify", { waitMs: 0 });
    for (const held of [one, two, three]) await held.release();
    const prune = await takeExclusiveLock(backend, "prune");
    await expect(takeExclusiveLock(backend, "prune")).rejects.toThrow("a prune runs on");
    let waited: string | undefined;
    await expect(
      takeSharedLock(backend, "backup", { waitMs: 0, onWait: (h) => (waited = h) }),
    ).rejects.toThrow("busy");
    expect(readdirSync(join(backend.location, "locks"))).toEqual(["exclusive"]);
    // A backup that waits goes on as soon as the prune is done.
    const waiting = takeSharedLock(backend, "backup", { onWait: (h) => (waited = h) });
    const deadline = Date.now() + 10_000;
    while (waited === undefined && Date.now() < deadline) await Bun.sleep(5);
    expect(waited).toContain("a prune runs on");
    await prune.release();
    await (await waiting).release();
  });

  test("a reader goes on without a lock where the target takes no writes, but not past a prune", async () => {
    const local = new LocalBackend(newDir());
    const full = Object.assign(Object.create(local) as LocalBackend, {
      create: async () => {
        throw new BuckyError("E_IO", "the backup target is full");
      },
    });
    // A backup, which writes, is refused as before, and a prune, saying it cannot start
    // there; a verify is told why, and goes on.
    await expect(takeSharedLock(full, "backup", { waitMs: 0 })).rejects.toThrow("full");
    await expect(takeExclusiveLock(full, "prune")).rejects.toThrow(
      "the backup target is full: a prune cannot start there",
    );
    const told: string[] = [];
    const reading = await takeSharedLock(full, "verify", {
      waitMs: 0,
      onUnwritable: (error) => told.push(error.message),
    });
    expect(told).toEqual(["the backup target is full"]);
    await reading.release();
    // A prune that holds the repository is waited for all the same.
    const prune = await takeExclusiveLock(local, "prune");
    await expect(
      takeSharedLock(full, "verify", { waitMs: 0, onUnwritable: () => {} }),
    ).rejects.toThrow("a prune runs on");
    await prune.release();
  });

  test("a lock a prune took away (stale, removed) fails its check", async () => {
    const backend = new LocalBackend(newDir());
    const held = await takeSharedLock(backend, "backup");
    await held.check();
    // Its holder paused past the stale bound: a prune ten minutes on removes it.
    const prune = await takeExclusiveLock(backend, "prune", { now: () => Date.now() + 600_000 });
    expect(readdirSync(join(backend.location, "locks"))).toEqual(["exclusive"]);
    await prune.release();
    await expect(held.check()).rejects.toThrow("a prune took it over");
    await held.release();
  });

  test("a prune's lock is held only while no one could have taken it for stale, nor did", async () => {
    const backend = new LocalBackend(newDir());
    let clock = Date.now();
    const prune = await takeExclusiveLock(backend, "prune", { now: () => clock });
    await prune.check();
    // Paused past the stale bound (a laptop asleep), by its own clock: no trace needed.
    clock += 100_000;
    await expect(prune.check()).rejects.toThrow("it deleted nothing more");
    await prune.release();

    // A backup that went on past it, judging by a clock ten minutes ahead.
    const second = await takeExclusiveLock(backend, "prune");
    const backup = await takeSharedLock(backend, "backup", {
      waitMs: 0,
      now: () => Date.now() + 600_000,
    });
    await expect(second.check()).rejects.toThrow("lost its hold");
    await backup.release();
    await second.release();

    // Another prune took it over: its lock is left to it.
    const third = await takeExclusiveLock(backend, "prune");
    const fourth = await takeExclusiveLock(backend, "prune", { now: () => Date.now() + 600_000 });
    await expect(third.check()).rejects.toThrow("lost its hold");
    await third.release();
    await fourth.check();
    expect(readdirSync(join(backend.location, "locks"))).toEqual(["exclusive"]);
    await fourth.release();
  });

  test("locks whose process died, or that went stale, stop counting", async () => {
    const backend = new LocalBackend(newDir());
    const dead = (purpose: string, refreshedAt = Date.now()) =>
      new TextEncoder().encode(
        JSON.stringify({
          hostname: hostname(),
          pid: 2 ** 22 + 1,
          purpose,
          refreshedAt,
        }),
      );
    await backend.write("locks/exclusive", dead("prune"));
    const shared = await takeSharedLock(backend, "backup", { waitMs: 0 });
    await shared.release();
    await backend.write(`locks/shared-${"0".repeat(32)}`, dead("backup"));
    // Another device's lock (relayed, so no pid to check) counts until it is stale.
    await backend.write(
      `locks/shared-${"1".repeat(32)}`,
      new TextEncoder().encode(
        JSON.stringify({ hostname: "x", pid: 1, purpose: "backup", refreshedAt: 0, device: "b" }),
      ),
    );
    const prune = await takeExclusiveLock(backend, "prune");
    expect(readdirSync(join(backend.location, "locks"))).toEqual(["exclusive"]);
    await prune.release();
  });

  test("a lock file larger than one can be is no lock: it holds no backup back", async () => {
    const backend = new LocalBackend(newDir());
    // A live prune's lock, by its words, padded past what a lock holds.
    const padded = JSON.stringify({
      hostname: "elsewhere",
      pid: 1,
      purpose: "prune",
      refreshedAt: Date.now(),
      device: "b",
      pad: "x".repeat(MAX_LOCK_FILE_BYTES),
    });
    await backend.write("locks/exclusive", new TextEncoder().encode(padded));
    const shared = await takeSharedLock(backend, "backup", { waitMs: 0 });
    await shared.release();
  });

  test("an age written into a lock file on a target reached directly is not believed", async () => {
    const backend = new LocalBackend(newDir());
    // A backup's lock an hour old by its time, that says it is 0 ms old: only a via, as it
    // reads a lock out, says how old it is.
    const planted = JSON.stringify({
      hostname: "elsewhere",
      pid: 1,
      purpose: "backup",
      refreshedAt: Date.now() - 3600_000,
      device: "b",
      ageMs: 0,
    });
    await backend.write(`locks/shared-${"ab".repeat(16)}`, new TextEncoder().encode(planted));
    const prune = await takeExclusiveLock(backend, "prune");
    await prune.release();
  });
});

/** A backend whose pack writes wait until it is opened: a target slower than sealing. */
class HeldBackend implements Backend {
  /** Pack writes waiting. */
  waiting = 0;
  open: () => void = () => {};
  private readonly gate = new Promise<void>((resolve) => {
    this.open = resolve;
  });
  constructor(private readonly inner: Backend) {}
  get location() {
    return this.inner.location;
  }
  async write(path: string, data: Uint8Array | readonly Uint8Array[]) {
    if (path.startsWith("data/")) {
      this.waiting++;
      await this.gate;
    }
    return this.inner.write(path, data);
  }
  create = (path: string, data: Uint8Array) => this.inner.create(path, data);
  read = (path: string, maxBytes: number) => this.inner.read(path, maxBytes);
  readRange = (path: string, offset: number, length: number) =>
    this.inner.readRange(path, offset, length);
  list = (dir: string) => this.inner.list(dir);
  listCut = (dir: string) => this.inner.listCut(dir);
  remove = (path: string) => this.inner.remove(path);
  close = () => this.inner.close();
}

describe("memory while backing up", () => {
  test("a target slower than sealing holds the adding back: packs do not pile up", async () => {
    const backend = new HeldBackend(new LocalBackend(newDir()));
    const repository = await Repository.openOrCreate(backend, root);
    const blobBytes = 1024 * 1024;
    const blobs = 160;
    let added = 0;
    const adding = (async () => {
      for (let i = 0; i < blobs; i++) {
        await repository.add("data", new Uint8Array(randomBytes(blobBytes)));
        await repository.room();
        added++;
      }
    })();
    // Until the adding stands still (or ends) with pack writes held: seen twice alike.
    for (let last = -1; added !== last || backend.waiting === 0; ) {
      last = added;
      if (await Promise.race([adding.then(() => true), Bun.sleep(250).then(() => false)])) break;
    }
    // What may wait unwritten: the sealing window, the packs being written, the one filling.
    expect(added * blobBytes).toBeLessThan(100 * 1024 * 1024);
    backend.open();
    await adding;
    await repository.flush();
    repository.close();
    expect(added).toBe(blobs);
  }, 120_000);
});
