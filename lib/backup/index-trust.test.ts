/**
 * Whose word an index file is, on a real repository: index files planted by a holder of
 * the backup key (junk, forged signatures, a revoked device's or an unsigned one naming
 * the live blobs somewhere else) neither stop a prune nor move a blob, and an older
 * bucky's unsigned index files are still read.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BlobLocation } from "../../protocol/backup/formats.ts";
import { signDeviceDocument, signRevocation } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { foundingOps, seed, testOwner, testZone } from "../state/test-db.ts";
import { membershipFromRows } from "../sync/membership.ts";
import { Archiver, type Entry } from "./archiver.ts";
import { indexSigner } from "./index-trust.ts";
import { LocalBackend } from "./local-backend.ts";
import { DEFAULT_RETENTION, pruneRepository } from "./prune.ts";
import { Repository } from "./repository.ts";
import { restoreTree } from "./restorer.ts";
import { openIndex, sealIndex } from "./sealed.ts";
import type { SnapshotJudge } from "./snapshot-trust.ts";
import { verifyRepository } from "./verify.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-index-trust-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => {
  const dir = join(scratch, `d${dirs++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

const root = new Uint8Array(randomBytes(32));
const nas = signingKeyFromSeed(seed(2));
const stolen = signingKeyFromSeed(seed(4));
const outsider = signingKeyFromSeed(seed(5));

/** The zone: nas, and phone (revoked: it was stolen), by owner-signed documents. */
const judge: SnapshotJudge = {
  zone: testZone.id,
  membership: membershipFromRows(
    [
      ...foundingOps({ nas, phone: stolen }),
      {
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
      },
    ],
    testZone.id,
    new Map(),
    new Map(),
  ),
};

/** A device's owner-signed document (the outsider's: by an owner of its own). */
function documentOf(key: SigningKey, name: string): string {
  return signDeviceDocument(
    { name: name as DeviceName, devicePublicKey: key.publicKey, issuedAt: 1 },
    key === outsider ? outsider : testOwner,
  ).jws;
}

const signerOf = (key: SigningKey, name: string) =>
  indexSigner({ zone: testZone.id, key, document: documentOf(key, name) });

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
    const archived = await new Archiver(repository, undefined).archive(
      new Map<string, Entry>([["data", { kind: "dir", path: dir }]]),
    );
    await repository.writeSnapshot({
      version: 1,
      time: "2026-01-01T00:00:00.000Z",
      zone: testZone.id,
      device: "nas",
      hostname: "h",
      tree: archived.tree,
      parent: null,
      stats: { files: 2, bytes: 0, addedBytes: 0, durationMs: 0 },
    });
    return { location, tree: archived.tree };
  } finally {
    repository.close();
  }
}

/**
 * What a holder of the backup key plants: an index file naming every blob the repository
 * holds, each in a pack of its own making (none there), signed by `by` (none: unsigned).
 */
async function plantRelocating(
  location: string,
  by?: { key: SigningKey; name: string },
): Promise<string> {
  const repository = await Repository.open(new LocalBackend(location), root);
  try {
    const elsewhere: BlobLocation[] = [...repository.blobs()].map((blob) => ({
      ...blob,
      pack: "ee".repeat(32),
    }));
    const name = randomBytes(16).toString("hex");
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
  } finally {
    repository.close();
  }
}

async function restores(repository: Repository, tree: string): Promise<void> {
  const restored = await restoreTree(repository, tree, newDir());
  expect(restored.damaged).toEqual([]);
}

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
    const repository = await Repository.open(new LocalBackend(location), root);
    try {
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
      const after = await verifyRepository(repository, { kind: "all" }, undefined, judge);
      expect(after.ok).toBe(true);
      await restores(repository, tree);
    } finally {
      repository.close();
    }
  });

  test("an unsigned one, or a revoked device's, naming the live blobs elsewhere moves none of them", async () => {
    const { location, tree } = await repositoryWithSnapshot(nas);
    await plantRelocating(location);
    await plantRelocating(location, { key: stolen, name: "phone" });
    const repository = await Repository.open(new LocalBackend(location), root);
    try {
      await repository.loadIndex(judge);
      expect(repository.forgedIndexFiles).toEqual([]);
      expect([...repository.blobs()].filter((b) => b.pack === "ee".repeat(32))).toEqual([]);
      await restores(repository, tree);
      // A prune keeps the packs the signed index names, and verify finds all whole.
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      expect((await verifyRepository(repository, { kind: "all" }, undefined, judge)).ok).toBe(true);
      await restores(repository, tree);
    } finally {
      repository.close();
    }
  });

  test("an older bucky's unsigned index files are still read, and a prune writes them signed", async () => {
    const { location, tree } = await repositoryWithSnapshot();
    const repository = await Repository.open(new LocalBackend(location), root, {
      signer: signerOf(nas, "nas"),
    });
    try {
      await repository.loadIndex(judge);
      expect(repository.forgedIndexFiles).toEqual([]);
      await restores(repository, tree);
      expect((await verifyRepository(repository, { kind: "all" }, undefined, judge)).ok).toBe(true);
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      await restores(repository, tree);
    } finally {
      repository.close();
    }
    // Now signed: an index file planted unsigned naming the blobs elsewhere moves none.
    await plantRelocating(location);
    const reopened = await Repository.open(new LocalBackend(location), root);
    try {
      await reopened.loadIndex(judge);
      expect([...reopened.blobs()].filter((b) => b.pack === "ee".repeat(32))).toEqual([]);
      await restores(reopened, tree);
    } finally {
      reopened.close();
    }
  });

  test("one carrying a copy of a member's signature, made for another file, blames no device", async () => {
    const { location } = await repositoryWithSnapshot(nas);
    const repository = await Repository.open(new LocalBackend(location), root);
    const copy = randomBytes(16).toString("hex");
    try {
      const [genuine] = files(location, "index");
      const { signed } = openIndex(
        repository.keys,
        genuine as string,
        readFileSync(join(location, "index", genuine as string)),
      );
      const elsewhere = [...repository.blobs()].map((blob) => ({ ...blob, pack: "ee".repeat(32) }));
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
    } finally {
      repository.close();
    }
  });
});
