/**
 * Whose word a snapshot is, on a real repository: snapshots written in a device's name by
 * another holder of the backup key (a member, a revoked device, an older bucky) are told
 * apart from the device's own, a home restore's sources are the trusted ones, and verify
 * counts a forged snapshot against the repository.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Snapshot } from "../../protocol/backup/formats.ts";
import { signSnapshot } from "../../protocol/backup/snapshot-signature.ts";
import { signDeviceDocument, signRevocation } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { foundingOps, seed, testOwner, testZone } from "../state/test-db.ts";
import { membershipFromRows } from "../sync/membership.ts";
import { Archiver, type Entry } from "./archiver.ts";
import { HOT_DIR, hotFileName } from "./hot.ts";
import { LocalBackend } from "./local-backend.ts";
import { DEFAULT_RETENTION, pruneRepository } from "./prune.ts";
import { Repository } from "./repository.ts";
import { restoreTree } from "./restorer.ts";
import { checkSnapshot, type SnapshotJudge, trustedNewest } from "./snapshot-trust.ts";
import { verifyRepository } from "./verify.ts";
import { gatherFromDevices } from "./zone-restore.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-trust-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => {
  const dir = join(scratch, `d${dirs++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

const nas = signingKeyFromSeed(seed(2));
const laptop = signingKeyFromSeed(seed(3));
const stolen = signingKeyFromSeed(seed(4));
const outsider = signingKeyFromSeed(seed(5));

/** The zone: nas, laptop and phone (revoked: it was stolen), by owner-signed documents. */
const judge: SnapshotJudge = {
  zone: testZone.id,
  membership: membershipFromRows(
    [
      ...foundingOps({ nas, laptop, phone: stolen }),
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
    new Set(),
    new Map(),
  ),
};

/** A device's own owner-signed document (the outsider's: by an owner of its own). */
function documentOf(key: SigningKey): string {
  const names = new Map([
    [nas, "nas"],
    [laptop, "laptop"],
    [stolen, "phone"],
  ]);
  return signDeviceDocument(
    {
      name: (names.get(key) ?? "nas") as DeviceName,
      devicePublicKey: key.publicKey,
      issuedAt: 1,
    },
    names.has(key) ? testOwner : outsider,
  ).jws;
}

async function newRepository(): Promise<Repository> {
  return Repository.openOrCreate(new LocalBackend(newDir()), new Uint8Array(randomBytes(32)));
}

/**
 * Writes a snapshot, filed under `device`, of a home whose notes app holds `notes`: signed
 * by `signer` (none: unsigned, as an older bucky wrote them).
 */
async function write(
  repository: Repository,
  options: { device: string; time: string; notes: string; signer?: SigningKey },
): Promise<string> {
  const home = newDir();
  mkdirSync(join(home, "notes", "data"), { recursive: true });
  writeFileSync(join(home, "notes", "data", "notes.txt"), options.notes);
  const archived = await new Archiver(repository, undefined).archive(
    new Map<string, Entry>([["apps", { kind: "dir", path: home }]]),
  );
  await repository.flush();
  const snapshot: Snapshot = {
    version: 1,
    time: options.time,
    zone: testZone.id,
    device: options.device,
    hostname: "box",
    tree: archived.tree,
    parent: null,
    stats: { files: archived.files, bytes: archived.bytes, addedBytes: 0, durationMs: 1 },
  };
  const { signer } = options;
  return repository.writeSnapshot((name) =>
    signer
      ? { ...snapshot, signed: signSnapshot(name, snapshot, signer, documentOf(signer)) }
      : snapshot,
  );
}

/** Where a home restore takes the notes app's data from, and what it holds once taken. */
async function restoredNotes(repository: Repository): Promise<{ from: string; text: string }> {
  const all = await repository.snapshots();
  const { newest } = trustedNewest(all, judge);
  const chosen = newest.get("laptop");
  if (!chosen) throw new Error("no trusted snapshot of the laptop");
  // The chosen snapshot is restored first, as a home restore does; the rest is gathered.
  const staging = newDir();
  await restoreTree(repository, chosen.snapshot.tree, staging);
  const apps = await gatherFromDevices(repository, chosen, newest, staging, new Map());
  const notes = apps.find((a) => a.app === "notes");
  return {
    from: notes?.snapshot ?? "",
    text: readFileSync(join(staging, "apps", "notes", "data", "notes.txt"), "utf8"),
  };
}

describe("a snapshot in a device's name, by another holder of the backup key", () => {
  test("a member's, signed with its own key: forged, left out, and the device's own is taken", async () => {
    const repository = await newRepository();
    try {
      await write(repository, {
        device: "laptop",
        time: "2026-01-01T09:00:00.000Z",
        notes: "old",
        signer: laptop,
      });
      const genuine = await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "the nas's own",
        signer: nas,
      });
      const planted = await write(repository, {
        device: "nas",
        time: "2026-01-01T11:00:00.000Z",
        notes: "planted",
        signer: laptop,
      });
      const all = await repository.snapshots();
      const byName = new Map(all.map((s) => [s.name, s]));
      expect(checkSnapshot(byName.get(planted) as (typeof all)[number], judge)).toEqual({
        trust: "forged",
        signedBy: "laptop",
        why: "it is signed by laptop, not by nas",
      });
      expect(checkSnapshot(byName.get(genuine) as (typeof all)[number], judge)).toEqual({
        trust: "signed",
        signedBy: "nas",
        why: "",
      });
      expect(trustedNewest(all, judge).leftOut).toEqual([
        {
          snapshot: planted,
          device: "nas",
          time: "2026-01-01T11:00:00.000Z",
          trust: "forged",
          signedBy: "laptop",
          why: "it is signed by laptop, not by nas",
        },
      ]);
      expect(await restoredNotes(repository)).toEqual({ from: genuine, text: "the nas's own" });
    } finally {
      repository.close();
    }
  });

  test("one signed by a key of no device of the zone: forged", async () => {
    const repository = await newRepository();
    try {
      await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "x",
        signer: outsider,
      });
      const [entry] = await repository.snapshots();
      expect(checkSnapshot(entry as NonNullable<typeof entry>, judge)).toMatchObject({
        trust: "forged",
        why: expect.stringContaining("its device document is not the owner's"),
      });
    } finally {
      repository.close();
    }
  });

  test("a revoked device's own, signed: left out, though newer", async () => {
    const repository = await newRepository();
    try {
      await write(repository, {
        device: "laptop",
        time: "2026-01-01T09:00:00.000Z",
        notes: "the laptop's",
        signer: laptop,
      });
      const own = await write(repository, {
        device: "phone",
        time: "2026-01-01T12:00:00.000Z",
        notes: "from the stolen phone",
        signer: stolen,
      });
      const { newest, leftOut } = trustedNewest(await repository.snapshots(), judge);
      expect([...newest.keys()]).toEqual(["laptop"]);
      expect(leftOut).toEqual([
        expect.objectContaining({
          snapshot: own,
          device: "phone",
          trust: "revoked",
          signedBy: "phone",
        }),
      ]);
      expect((await restoredNotes(repository)).text).toBe("the laptop's");
    } finally {
      repository.close();
    }
  });

  test("an unsigned one (an older bucky's, or anyone's): left out of a zone restore, and said", async () => {
    const repository = await newRepository();
    try {
      await write(repository, {
        device: "laptop",
        time: "2026-01-01T09:00:00.000Z",
        notes: "the laptop's",
        signer: laptop,
      });
      const unsigned = await write(repository, {
        device: "nas",
        time: "2026-01-01T12:00:00.000Z",
        notes: "unchecked",
      });
      const { newest, leftOut } = trustedNewest(await repository.snapshots(), judge);
      expect([...newest.keys()]).toEqual(["laptop"]);
      expect(leftOut).toEqual([
        expect.objectContaining({ snapshot: unsigned, trust: "unsigned", signedBy: null }),
      ]);
      expect((await restoredNotes(repository)).text).toBe("the laptop's");
    } finally {
      repository.close();
    }
  });

  test("a good zone's snapshots are all trusted, and each device's newest is taken", async () => {
    const repository = await newRepository();
    try {
      await write(repository, {
        device: "laptop",
        time: "2026-01-01T09:00:00.000Z",
        notes: "a",
        signer: laptop,
      });
      const newer = await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "b",
        signer: nas,
      });
      const { newest, leftOut } = trustedNewest(await repository.snapshots(), judge);
      expect([...newest.keys()].sort()).toEqual(["laptop", "nas"]);
      expect(leftOut).toEqual([]);
      expect(await restoredNotes(repository)).toEqual({ from: newer, text: "b" });
      const verified = await verifyRepository(repository, { kind: "none" }, undefined, judge);
      expect(verified).toMatchObject({ ok: true, untrusted: [] });
    } finally {
      repository.close();
    }
  });

  test("verify: a forged snapshot makes the repository unsound; an unsigned one is said", async () => {
    const repository = await newRepository();
    try {
      const unsigned = await write(repository, {
        device: "nas",
        time: "2026-01-01T08:00:00.000Z",
        notes: "old",
      });
      await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "own",
        signer: nas,
      });
      const verifiedBefore = await verifyRepository(repository, { kind: "none" }, undefined, judge);
      expect(verifiedBefore.ok).toBe(true);
      expect(verifiedBefore.untrusted.map((s) => [s.snapshot, s.trust])).toEqual([
        [unsigned, "unsigned"],
      ]);
      const planted = await write(repository, {
        device: "nas",
        time: "2026-01-01T11:00:00.000Z",
        notes: "planted",
        signer: laptop,
      });
      const verified = await verifyRepository(repository, { kind: "none" }, undefined, judge);
      expect(verified.ok).toBe(false);
      expect(verified.damaged).toEqual([]);
      expect(verified.untrusted.map((s) => [s.snapshot, s.trust])).toEqual([
        [unsigned, "unsigned"],
        [planted, "forged"],
      ]);
    } finally {
      repository.close();
    }
  });

  test("prune: newer forged snapshots never push the device's own out, nor its hot changes", async () => {
    const repository = await newRepository();
    try {
      const own = await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "own",
        signer: nas,
      });
      // Shipped hot after the NAS's snapshot: not in it.
      const hot = hotFileName("2026-01-01T10:30:00.000Z", "nas");
      await repository.backend.write(`${HOT_DIR}/${hot}`, new Uint8Array([1]));
      // A member fills the NAS's history with newer ones of its own, and one dated a day on.
      const planted: string[] = [];
      for (let hour = 11; hour < 16; hour++)
        planted.push(
          await write(repository, {
            device: "nas",
            time: `2026-01-0${hour === 15 ? 2 : 1}T${hour}:00:00.000Z`,
            notes: "planted",
            signer: laptop,
          }),
        );
      await pruneRepository(
        repository,
        { last: 2, hourly: 0, daily: 0, weekly: 0, monthly: 0 },
        judge,
      );
      const left = (await repository.snapshots()).map((s) => s.name);
      expect(left).toContain(own);
      expect(left.filter((name) => planted.includes(name))).toHaveLength(2);
      expect(await repository.backend.list(HOT_DIR)).toEqual([hot]);
    } finally {
      repository.close();
    }
  });

  test("prune: a snapshot whose time is no time stops nothing, and the device's own stay", async () => {
    const repository = await newRepository();
    try {
      const own = await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "own",
        signer: nas,
      });
      await write(repository, { device: "nas", time: "not a time", notes: "junk" });
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      expect((await repository.snapshots()).map((s) => s.name)).toContain(own);
    } finally {
      repository.close();
    }
  });
});
