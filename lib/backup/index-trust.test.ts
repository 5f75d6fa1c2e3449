/**
 * Whose word an index file is, on a real repository: index files planted by a holder of
 * the backup key (junk, forged signatures, a revoked device's or an unsigned one naming
 * the live blobs somewhere else) neither stop a prune nor move a blob, and an older
 * bucky's unsigned index files are still read.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BlobLocation } from "../../protocol/backup/formats.ts";
import type { SigningKey } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { testOwner, testZone } from "../state/test-db.ts";
import { indexSigner } from "./index-trust.ts";
import { LocalBackend } from "./local-backend.ts";
import { DEFAULT_RETENTION, pruneRepository } from "./prune.ts";
import { type OpenOptions, Repository } from "./repository.ts";
import { restoreTree } from "./restorer.ts";
import { openIndex, sealIndex } from "./sealed.ts";
import {
  archiveDir,
  deviceDocument,
  judgeOf,
  nas,
  outsider,
  phoneRevoked,
  scratchDirs,
  snapshotOf,
  stolen,
} from "./test-repository.ts";
import { verifyRepository } from "./verify.ts";

const newDir = scratchDirs("bucky-index-trust-test-");
const root = new Uint8Array(randomBytes(32));

/** The zone: nas, and phone (revoked: it was stolen), by owner-signed documents. */
const judge = judgeOf({ nas, phone: stolen }, [phoneRevoked]);

/** The index signer of device `name` with `key` (the outsider's: by an owner of its own). */
const signerOf = (key: SigningKey, name: string) =>
  indexSigner({
    zone: testZone.id,
    key,
    document: deviceDocument(key, name, key === outsider ? outsider : testOwner),
  });

/** The pack a planted index file names every blob in: none by that name is there. */
const NOWHERE = "ee".repeat(32);

/** Runs `test` on the repository at `location`, closed after whatever it does. */
async function withRepository<T>(
  location: string,
  test: (repository: Repository) => Promise<T>,
  options: OpenOptions = {},
): Promise<T> {
  const repository = await Repository.open(new LocalBackend(location), root, options);
  try {
    return await test(repository);
  } finally {
    repository.close();
  }
}

/** A repository with one snapshot of a small tree, its index files signed by `signer`. */
async function repositoryWithSnapshot(
  signer?: SigningKey,
): Promise<{ location: string; tree: string }> {
  const location = newDir();
  const repository = await Repository.openOrCreate(
    new LocalBackend(location),
    root,
    signer ? { signer: signerOf(signer, "nas") } : {},
  );
  try {
    const dir = newDir();
    writeFileSync(join(dir, "notes.txt"), "a note ".repeat(10_000));
    writeFileSync(join(dir, "random.bin"), randomBytes(200_000));
    const archived = await archiveDir(repository, dir);
    await repository.writeSnapshot(snapshotOf(archived, "2026-01-01T00:00:00.000Z"));
    return { location, tree: archived.tree };
  } finally {
    repository.close();
  }
}

/**
 * What a holder of the backup key plants: an index file naming every blob the repository
 * holds, each in a pack of its own making (none there), signed by `by` (none: unsigned),
 * under `name` (index files are read in name order: one named 000… comes first).
 */
function plantRelocating(
  location: string,
  by?: { key: SigningKey; name: string },
  name = randomBytes(16).toString("hex"),
  move: (blobs: readonly BlobLocation[]) => BlobLocation[] = (blobs) =>
    blobs.map((blob) => ({ ...blob, pack: NOWHERE })),
) {
  return withRepository(location, async (repository) => {
    const elsewhere = move([...repository.blobs()]);
    const signer = by && signerOf(by.key, by.name);
    await repository.backend.write(
      `index/${name}`,
      sealIndex(
        repository.keys,
        name,
        elsewhere,
        signer && ((ordered) => signer({ name, repository: repository.id, ...ordered })),
      ),
    );
    return name;
  });
}

async function restores(repository: Repository, tree: string): Promise<void> {
  const restored = await restoreTree(repository, tree, newDir());
  expect(restored.damaged).toEqual([]);
}

/** Whether verify, reading all data, finds `repository` sound. */
const verifiesWhole = async (repository: Repository) =>
  (await verifyRepository(repository, { kind: "all" }, undefined, judge)).ok;

/** The blobs `repository` places in the planted pack. */
const relocated = (repository: Repository) =>
  [...repository.blobs()].filter((b) => b.pack === NOWHERE);

const files = (location: string, dir: string) =>
  readdirSync(join(location, dir), { recursive: true })
    .map(String)
    .filter((f) => !/^[0-9a-f]{2}$/.test(f))
    .sort();

describe("index files, checked against the zone", () => {
  test("one forged (a key the owner never admitted) is left out, said by verify, and deleted by prune", async () => {
    const { location, tree } = await repositoryWithSnapshot(nas);
    const forged = await plantRelocating(location, { key: outsider, name: "nas" });
    const packs = files(location, "data");
    await withRepository(location, async (repository) => {
      await repository.loadIndex(judge);
      expect(repository.forgedIndexFiles).toEqual([
        {
          name: forged,
          why: expect.stringContaining("its device document is not the owner's"),
          signedBy: deviceIdFromPublicKey(outsider.publicKey),
        },
      ]);
      await restores(repository, tree);
      const verified = await verifyRepository(repository, { kind: "all" }, undefined, judge);
      expect({ ok: verified.ok, damaged: verified.damaged }).toEqual({ ok: false, damaged: [] });
      expect(verified.forgedIndex.map((f) => f.file)).toEqual([forged]);

      const pruned = await pruneRepository(repository, DEFAULT_RETENTION, judge);
      expect(pruned.removedIndexFiles).toEqual([
        {
          file: forged,
          problem: expect.stringContaining("not the owner's"),
          signedBy: deviceIdFromPublicKey(outsider.publicKey),
        },
      ]);
      expect(files(location, "index")).not.toContain(forged);
      expect(files(location, "data")).toEqual(packs);
      expect(await verifiesWhole(repository)).toBe(true);
      await restores(repository, tree);
    });
  });

  test("an unsigned one, or a revoked device's, naming the live blobs elsewhere moves none of them", async () => {
    const { location, tree } = await repositoryWithSnapshot(nas);
    // Read before the honest file: were either's word taken as a trusted file's, its
    // places would be chosen.
    await plantRelocating(location, undefined, "0".repeat(32));
    await plantRelocating(location, { key: stolen, name: "phone" }, `${"0".repeat(31)}1`);
    await withRepository(location, async (repository) => {
      await repository.loadIndex(judge);
      expect(repository.forgedIndexFiles).toEqual([]);
      expect(relocated(repository)).toEqual([]);
      await restores(repository, tree);
      // A prune keeps the packs the signed index names, and verify finds all whole.
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      expect(await verifiesWhole(repository)).toBe(true);
      await restores(repository, tree);
    });
  });

  test("a revoked device's, read first, naming each live blob at another's place in a pack that is there, is not taken at its word: a prune keeps what a restore needs", async () => {
    const { location, tree } = await repositoryWithSnapshot(nas);
    // Each blob placed where the next one is: a place that opens, holding other bytes.
    const swapped = (blobs: readonly BlobLocation[]) =>
      blobs.map((blob, i) => {
        const next = blobs[(i + 1) % blobs.length] as BlobLocation;
        return { ...blob, pack: next.pack, offset: next.offset, length: next.length };
      });
    await plantRelocating(location, { key: stolen, name: "phone" }, "0".repeat(32), swapped);
    await withRepository(location, async (repository) => {
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      await restores(repository, tree);
      expect(await verifiesWhole(repository)).toBe(true);
    });
    await withRepository(location, async (reopened) => {
      await reopened.loadIndex(judge);
      await restores(reopened, tree);
    });
  });

  test("an older bucky's unsigned index files are still read, and a prune writes them signed", async () => {
    const { location, tree } = await repositoryWithSnapshot();
    await withRepository(
      location,
      async (repository) => {
        await repository.loadIndex(judge);
        expect(repository.forgedIndexFiles).toEqual([]);
        await restores(repository, tree);
        expect(await verifiesWhole(repository)).toBe(true);
        await pruneRepository(repository, DEFAULT_RETENTION, judge);
        await restores(repository, tree);
      },
      { signer: signerOf(nas, "nas") },
    );
    // Now signed: an index file planted unsigned naming the blobs elsewhere moves none.
    await plantRelocating(location);
    await withRepository(location, async (reopened) => {
      await reopened.loadIndex(judge);
      expect(relocated(reopened)).toEqual([]);
      await restores(reopened, tree);
    });
  });

  test("one carrying a copy of a member's signature, made for another file, blames no device", async () => {
    const { location } = await repositoryWithSnapshot(nas);
    const copy = randomBytes(16).toString("hex");
    await withRepository(location, async (repository) => {
      const [genuine] = files(location, "index");
      const { signed } = openIndex(
        repository.keys,
        genuine as string,
        readFileSync(join(location, "index", genuine as string)),
      );
      const elsewhere = [...repository.blobs()].map((blob) => ({ ...blob, pack: NOWHERE }));
      await repository.backend.write(
        `index/${copy}`,
        sealIndex(repository.keys, copy, elsewhere, () => signed as string),
      );
      await repository.loadIndex(judge);
      expect(repository.forgedIndexFiles).toEqual([
        {
          name: copy,
          why: expect.stringContaining("a copy of nas's signature"),
          signedBy: null,
        },
      ]);
    });
  });
});
