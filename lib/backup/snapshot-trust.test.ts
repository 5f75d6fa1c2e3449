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
import { checkSnapshotSignature, signSnapshot } from "../../protocol/backup/snapshot-signature.ts";
import { signChangeset } from "../../protocol/changeset.ts";
import { signDeviceDocument, signRevocation } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { foundingOps, seed, testOwner, testZone } from "../state/test-db.ts";
import { closeWhole, openStateDb } from "../store/db.ts";
import { membershipFromRows } from "../sync/membership.ts";
import { Archiver, type Entry } from "./archiver.ts";
import { HOT_DIR, hotFileName } from "./hot.ts";
import { LocalBackend } from "./local-backend.ts";
import { DEFAULT_RETENTION, pruneRepository, snapshotsToKeep } from "./prune.ts";
import { Repository } from "./repository.ts";
import { restoreTree } from "./restorer.ts";
import { chooseSnapshot } from "./snapshot-choice.ts";
import { checkSnapshot, type SnapshotJudge, trustedNewest } from "./snapshot-trust.ts";
import { StateImages } from "./state-images.ts";
import { verifyRepository } from "./verify.ts";
import { gatherFromDevices } from "./zone-restore.ts";
import { revocationsIn, withRevocations } from "./zone-revocations.ts";

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
    new Map(),
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

/** Where a test's state images are restored. */
const imagesOf = (repository: Repository) => new StateImages(repository, newDir());

async function newRepository(): Promise<Repository> {
  return Repository.openOrCreate(new LocalBackend(newDir()), new Uint8Array(randomBytes(32)));
}

/** Runs `test` on a new repository, closed after whatever it does. */
async function withRepository(test: (repository: Repository) => Promise<void>): Promise<void> {
  const repository = await newRepository();
  try {
    await test(repository);
  } finally {
    repository.close();
  }
}

/**
 * Writes a snapshot, filed under `device`, of a home whose notes app holds `notes`: signed
 * by `signer` (none: unsigned, as an older bucky wrote them).
 */
async function write(
  repository: Repository,
  options: {
    device: string;
    time: string;
    notes: string;
    signer?: SigningKey;
    /** The zone state's rows the snapshot holds (none: no state.db). */
    state?: readonly { key: string; value: string }[];
  },
): Promise<string> {
  const home = newDir();
  mkdirSync(join(home, "notes", "data"), { recursive: true });
  writeFileSync(join(home, "notes", "data", "notes.txt"), options.notes);
  const archived = await new Archiver(repository, undefined).archive(
    new Map<string, Entry>([
      ["apps", { kind: "dir", path: home }],
      ...(options.state
        ? ([
            [
              "state.db",
              { kind: "bytes", bytes: stateBytes(options.state), mode: 0o600, mtimeNs: 0n },
            ],
          ] as const)
        : []),
    ]),
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

/** A zone state database holding `rows` in its state table, as the bytes of its file. */
function stateBytes(rows: readonly { key: string; value: string }[]): Uint8Array {
  const path = join(newDir(), "state.db");
  const db = openStateDb(path, { create: true });
  const insert = db.$client.query(
    "INSERT INTO state (key, value, hlc_ms, hlc_counter, author, seq) VALUES (?, ?, 1, 0, 'x', 1)",
  );
  for (const row of rows) insert.run(row.key, row.value);
  closeWhole(db);
  return new Uint8Array(readFileSync(path));
}

/** The owner's revocation of the phone (stolen), as a state row. */
const phoneRevoked = {
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

/** Where a home restore takes the notes app's data from, and what it holds once taken. */
async function restoredNotes(repository: Repository): Promise<{ from: string; text: string }> {
  const all = await repository.snapshots();
  const { newest } = trustedNewest(all, judge);
  const chosen = newest.get("laptop");
  if (!chosen) throw new Error("no trusted snapshot of the laptop");
  // The chosen snapshot is restored first, as a home restore does; the rest is gathered.
  const staging = newDir();
  await restoreTree(repository, chosen.snapshot.tree, staging);
  // Every device of the zone kept the notes app (here: the planted ones' names too).
  const keepers = new Map([["notes", { devices: new Set(["nas", "laptop", "phone"]) }]]);
  const { apps } = await gatherFromDevices(
    repository,
    chosen,
    newest,
    staging,
    keepers,
    Date.parse("2027-01-01T00:00:00.000Z"),
  );
  const notes = apps.find((a) => a.app === "notes");
  return {
    from: notes?.snapshot ?? "",
    text: readFileSync(join(staging, "apps", "notes", "data", "notes.txt"), "utf8"),
  };
}

describe("a snapshot in a device's name, by another holder of the backup key", () => {
  test("a member's, signed with its own key: forged, left out, and the device's own is taken", async () => {
    await withRepository(async (repository) => {
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
    });
  });

  test("one signed by a key of no device of the zone: forged", async () => {
    await withRepository(async (repository) => {
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
    });
  });

  test("a revoked device's own, signed: left out, though newer", async () => {
    await withRepository(async (repository) => {
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
    });
  });

  test("an unsigned one (an older bucky's, or anyone's): left out of a zone restore, and said", async () => {
    await withRepository(async (repository) => {
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
    });
  });

  test("a good zone's snapshots are all trusted, and each device's newest is taken", async () => {
    await withRepository(async (repository) => {
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
    });
  });

  test("verify: a forged snapshot makes the repository unsound; an unsigned one is said", async () => {
    await withRepository(async (repository) => {
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
    });
  });

  test("prune: newer forged snapshots never push the device's own out, nor its hot changes, and go", async () => {
    await withRepository(async (repository) => {
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
      expect(left).toEqual([own]);
      expect(await repository.backend.list(HOT_DIR)).toEqual([hot]);
    });
  });

  test("prune: a forged snapshot is forgotten, so the target is sound again and stays so", async () => {
    await withRepository(async (repository) => {
      const own = await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "own",
        signer: nas,
      });
      // Older than the NAS's own, and the only one of its kind: the policy alone keeps it.
      await write(repository, {
        device: "nas",
        time: "2026-01-01T09:00:00.000Z",
        notes: "planted",
        signer: laptop,
      });
      await write(repository, {
        device: "laptop",
        time: "2026-01-01T09:30:00.000Z",
        notes: "a stranger's",
        signer: outsider,
      });
      expect((await verifyRepository(repository, { kind: "none" }, undefined, judge)).ok).toBe(
        false,
      );
      const pruned = await pruneRepository(repository, DEFAULT_RETENTION, judge);
      expect(pruned.removedSnapshots).toBe(2);
      expect((await repository.snapshots()).map((s) => s.name)).toEqual([own]);
      const verified = await verifyRepository(repository, { kind: "none" }, undefined, judge);
      expect({ ok: verified.ok, untrusted: verified.untrusted }).toEqual({
        ok: true,
        untrusted: [],
      });
    });
  });

  test("prune: a device's own unsigned snapshots (before signing) are not pushed out by newer planted unsigned ones", async () => {
    await withRepository(async (repository) => {
      const honest: string[] = [];
      for (let day = 1; day <= 3; day++)
        honest.push(
          await write(repository, {
            device: "nas",
            time: `2026-01-0${day}T10:00:00.000Z`,
            notes: "the nas's own, before signing",
          }),
        );
      // Enough newer ones, a fortnight apart, to fill every slot of the policy: the newest
      // few, and the newest of each hour, day, week and month it keeps.
      for (let i = 0; i < 24; i++)
        await write(repository, {
          device: "nas",
          time: new Date(
            Date.parse("2026-02-01T10:00:00.000Z") + i * 15 * 86_400_000,
          ).toISOString(),
          notes: "planted",
        });
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      const left = new Set((await repository.snapshots()).map((s) => s.name));
      expect(honest.filter((name) => left.has(name))).toEqual(honest);
    });
  });

  test("prune: once a device signs its own, its unsigned ones (its key in the clear) age out by the policy", async () => {
    await withRepository(async (repository) => {
      // Forty months of unsigned snapshots, from before signing (and sealed keys): more than
      // the policy keeps (the newest 24 hours of them, 12 months…).
      const unsigned: string[] = [];
      for (let month = 0; month < 40; month++)
        unsigned.push(
          await write(repository, {
            device: "nas",
            time: new Date(Date.UTC(2024, month, 1, 10)).toISOString(),
            notes: "before signing",
          }),
        );
      await write(repository, {
        device: "nas",
        time: "2026-02-01T10:00:00.000Z",
        notes: "signed",
        signer: nas,
      });
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      const left = new Set((await repository.snapshots()).map((s) => s.name));
      const kept = unsigned.filter((name) => left.has(name));
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThan(unsigned.length);
      // The newest are the ones kept.
      expect(kept).toEqual(unsigned.slice(unsigned.length - kept.length));
    });
  });

  test("prune: once a device's signed history fills the policy, none of its unsigned ones is kept", () => {
    const at = (start: string, i: number, days: number) =>
      new Date(Date.parse(start) + i * days * 86_400_000).toISOString();
    const snapshots = [
      ...Array.from({ length: 40 }, (_, i) => ({
        name: `u${i}`,
        time: at("2024-01-01T10:00:00.000Z", i, 30),
        device: "nas",
        trust: "unsigned" as const,
      })),
      // A year of fortnightly signed ones, newer than all of them: every slot of the policy.
      ...Array.from({ length: 26 }, (_, i) => ({
        name: `s${i}`,
        time: at("2027-06-01T10:00:00.000Z", i, 14),
        device: "nas",
        trust: "signed" as const,
      })),
    ];
    const kept = snapshotsToKeep(snapshots, DEFAULT_RETENTION);
    expect([...kept].filter((name) => name.startsWith("u"))).toEqual([]);
    expect([...kept].filter((name) => name.startsWith("s")).length).toBeGreaterThan(0);
  });

  test("prune: a snapshot whose time is no time stops nothing, and the device's own stay", async () => {
    await withRepository(async (repository) => {
      const own = await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "own",
        signer: nas,
      });
      await write(repository, { device: "nas", time: "not a time", notes: "junk" });
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      expect((await repository.snapshots()).map((s) => s.name)).toContain(own);
    });
  });
});

describe("a restore judges with what every snapshot says, not the chosen one's word alone", () => {
  /** The zone as a state that left the phone's revocation out says it is. */
  const unrevoked: SnapshotJudge = {
    zone: testZone.id,
    membership: membershipFromRows(
      foundingOps({ nas, laptop, phone: stolen }),
      testZone.id,
      new Map(),
      new Map(),
    ),
  };

  test("a revocation in another device's snapshot, or in the hot changes, revokes the phone", async () => {
    await withRepository(async (repository) => {
      await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "the nas's own",
        signer: nas,
        state: [...foundingOps({ nas, laptop, phone: stolen }), phoneRevoked],
      });
      const phone = await write(repository, {
        device: "phone",
        time: "2026-01-01T11:00:00.000Z",
        notes: "the thief's",
        signer: stolen,
        state: foundingOps({ nas, laptop, phone: stolen }),
      });
      const all = await repository.snapshots();
      const thief = all.find((s) => s.name === phone) as (typeof all)[number];
      expect(checkSnapshot(thief, unrevoked).trust).toBe("signed");
      const found = await revocationsIn(all, [], testZone.id, imagesOf(repository));
      expect(found.map((r) => r.name as string)).toEqual(["phone"]);
      const judged = { ...unrevoked, membership: withRevocations(unrevoked.membership, found) };
      expect(checkSnapshot(thief, judged)).toMatchObject({ trust: "revoked" });
      // The same, shipped hot by the nas (in no snapshot yet).
      const hot = signChangeset(
        {
          zone: testZone.id,
          author: deviceIdFromPublicKey(nas.publicKey),
          seq: 1,
          prev: null,
          hlc: { ms: 5, counter: 0 },
          ops: [phoneRevoked],
        },
        nas,
      ).bytes;
      const thiefOnly = all.filter((s) => s.name === phone);
      expect(await revocationsIn(thiefOnly, [], testZone.id, imagesOf(repository))).toEqual([]);
      const fromHot = await revocationsIn(thiefOnly, [hot], testZone.id, imagesOf(repository));
      expect(fromHot.map((r) => r.name as string)).toEqual(["phone"]);
      // Only the owner's word counts: a revocation it did not sign is passed over.
      const other = await newRepository();
      try {
        const fake = JSON.stringify(
          signRevocation(
            {
              id: deviceIdFromPublicKey(nas.publicKey),
              name: "nas" as DeviceName,
              lastSeq: 1,
              issuedAt: 2,
            },
            outsider,
          ).jws,
        );
        await write(other, {
          device: "phone",
          time: "2026-01-01T11:00:00.000Z",
          notes: "the thief's",
          signer: stolen,
          state: [
            ...foundingOps({ nas, laptop, phone: stolen }),
            { key: "devices/nas/revoked", value: fake },
          ],
        });
        expect(
          await revocationsIn(await other.snapshots(), [], testZone.id, imagesOf(other)),
        ).toEqual([]);
      } finally {
        other.close();
      }
    });
  });

  test("a newer snapshot filed in the NAS's name by another key does not hide the NAS's revocation", async () => {
    await withRepository(async (repository) => {
      await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "the nas's own",
        signer: nas,
        state: [...foundingOps({ nas, laptop, phone: stolen }), phoneRevoked],
      });
      for (const hour of [11, 12, 13, 14])
        await write(repository, {
          device: "nas",
          time: `2026-01-01T${hour}:00:00.000Z`,
          notes: "planted",
          signer: stolen,
          state: foundingOps({ nas, laptop, phone: stolen }),
        });
      const found = await revocationsIn(
        await repository.snapshots(),
        [],
        testZone.id,
        imagesOf(repository),
      );
      expect(found.map((r) => r.name as string)).toEqual(["phone"]);
    });
  });

  test("`latest` is not a snapshot dated past the restore's now: its own device's key can date one so", async () => {
    await withRepository(async (repository) => {
      const now = Date.parse("2026-06-01T12:00:00.000Z");
      const genuine = await write(repository, {
        device: "laptop",
        time: "2026-06-01T11:00:00.000Z",
        notes: "the laptop's own",
        signer: laptop,
      });
      await write(repository, {
        device: "laptop",
        time: "2027-06-01T11:00:00.000Z",
        notes: "dated ahead",
        signer: laptop,
      });
      const all = await repository.snapshots();
      const signatures = new Map(
        all.map((s) => [s.name, checkSnapshotSignature(s.name, s.snapshot, testZone.id)] as const),
      );
      const chosen = chooseSnapshot(all, "latest", {
        device: undefined,
        home: undefined,
        intoHome: true,
        location: "usb",
        signatures,
        nowMs: now,
      });
      expect(chosen.name).toBe(genuine);
      // Within the allowance for clocks, it is the newest.
      const slightly = await write(repository, {
        device: "laptop",
        time: "2026-06-01T12:05:00.000Z",
        notes: "a clock a little ahead",
        signer: laptop,
      });
      const more = await repository.snapshots();
      const chosenAgain = chooseSnapshot(more, "latest", {
        device: undefined,
        home: undefined,
        intoHome: true,
        location: "usb",
        signatures: new Map(
          more.map(
            (s) => [s.name, checkSnapshotSignature(s.name, s.snapshot, testZone.id)] as const,
          ),
        ),
        nowMs: now,
      });
      expect(chosenAgain.name).toBe(slightly);
    });
  });
});

describe("what a restore says of a device with no signed snapshot", () => {
  test("it names none of them to restore: the newest unsigned one is what a key holder plants", async () => {
    await withRepository(async (repository) => {
      await write(repository, {
        device: "nas",
        time: "2026-01-01T10:00:00.000Z",
        notes: "the nas's own, before signing",
      });
      const planted = await write(repository, {
        device: "nas",
        time: "2026-01-02T10:00:00.000Z",
        notes: "planted",
      });
      const all = await repository.snapshots();
      let refused: unknown;
      try {
        chooseSnapshot(all, "latest", {
          device: "nas",
          home: undefined,
          intoHome: true,
          location: "usb",
          signatures: new Map(
            all.map(
              (s) => [s.name, checkSnapshotSignature(s.name, s.snapshot, testZone.id)] as const,
            ),
          ),
          nowMs: Date.parse("2026-01-03T00:00:00.000Z"),
        });
      } catch (error) {
        refused = error;
      }
      expect(refused).toMatchObject({
        code: "E_INTEGRITY",
        message: "no snapshot of nas in usb is signed: which are nas's cannot be checked",
      });
      const hint = (refused as { hint: string }).hint;
      expect(hint).toContain("`bucky backup list`");
      expect(hint).not.toContain(planted.slice(0, 8));
    });
  });
});
