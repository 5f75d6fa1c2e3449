/**
 * Whose word a snapshot is, on a real repository: snapshots written in a device's name by
 * another holder of the backup key (a member, a revoked device, an older bucky) are told
 * apart from the device's own, a home restore's sources are the trusted ones, and verify
 * counts a forged snapshot against the repository.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkSnapshotSignature, signSnapshot } from "../../protocol/backup/snapshot-signature.ts";
import { signChangeset } from "../../protocol/changeset.ts";
import { signRevocation } from "../../protocol/documents.ts";
import type { SigningKey } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { foundingOps, testOwner, testZone } from "../state/test-db.ts";
import { closeWhole, openStateDb } from "../store/db.ts";
import { Archiver, type Entry } from "./archiver.ts";
import { type Backend, tooManyNames } from "./backend.ts";
import { HOT_DIR, hotFileName } from "./hot.ts";
import { LocalBackend } from "./local-backend.ts";
import { DEFAULT_RETENTION, pruneRepository, snapshotsToKeep } from "./prune.ts";
import { Repository } from "./repository.ts";
import { restoreTree } from "./restorer.ts";
import { chooseSnapshot } from "./snapshot-choice.ts";
import {
  checkSnapshot,
  type NamedSnapshot,
  type SnapshotJudge,
  trustedNewest,
} from "./snapshot-trust.ts";
import { StateImages } from "./state-images.ts";
import {
  deviceDocument,
  judgeOf,
  laptop,
  nas,
  outsider,
  phoneRevoked,
  scratchDirs,
  snapshotOf,
  stolen,
} from "./test-repository.ts";
import { verifyRepository } from "./verify.ts";
import { gatherFromDevices } from "./zone-restore.ts";
import { revocationsIn, withRevocations } from "./zone-revocations.ts";

const newDir = scratchDirs("bucky-trust-test-");

/** The zone: nas, laptop and phone (revoked: it was stolen), by owner-signed documents. */
const judge = judgeOf({ nas, laptop, phone: stolen }, [phoneRevoked]);

/** A device's own owner-signed document (the outsider's: by an owner of its own). */
function documentOf(key: SigningKey): string {
  const names = new Map([
    [nas, "nas"],
    [laptop, "laptop"],
    [stolen, "phone"],
  ]);
  return deviceDocument(key, names.get(key) ?? "nas", names.has(key) ? testOwner : outsider);
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

/** A snapshot to write: filed under `device`, of a home whose notes app holds `notes`. */
interface Planned {
  device: string;
  time: string;
  notes: string;
  /** Who signs it (none: unsigned, as an older bucky wrote them). */
  signer?: SigningKey;
  /** The zone state's rows the snapshot holds (none: no state.db). */
  state?: readonly { key: string; value: string }[];
}

/** Writes the snapshot `planned` describes: its name. */
async function write(repository: Repository, planned: Planned): Promise<string> {
  const home = newDir();
  mkdirSync(join(home, "notes", "data"), { recursive: true });
  writeFileSync(join(home, "notes", "data", "notes.txt"), planned.notes);
  const archived = await new Archiver(repository, undefined).archive(
    new Map<string, Entry>([
      ["apps", { kind: "dir", path: home }],
      ...(planned.state
        ? ([
            [
              "state.db",
              { kind: "bytes", bytes: stateBytes(planned.state), mode: 0o600, mtimeNs: 0n },
            ],
          ] as const)
        : []),
    ]),
  );
  await repository.flush();
  const snapshot = snapshotOf(archived, planned.time, planned.device);
  const { signer } = planned;
  return repository.writeSnapshot((name) =>
    signer
      ? { ...snapshot, signed: signSnapshot(name, snapshot, signer, documentOf(signer)) }
      : snapshot,
  );
}

/** Writes each of `planned` in turn: their names, in that order. */
async function writeAll<const P extends readonly Planned[]>(
  repository: Repository,
  planned: P,
): Promise<{ [K in keyof P]: string }> {
  const names: string[] = [];
  for (const one of planned) names.push(await write(repository, one));
  return names as { [K in keyof P]: string };
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

/** The zone's founding rows, as every device's state holds them. */
const founding = foundingOps({ nas, laptop, phone: stolen });

/** Each device's newest trusted snapshot in `repository`, and the ones left out. */
async function trusted(repository: Repository) {
  return trustedNewest(await repository.snapshots(), judge);
}

/** Verifies `repository` against the zone, reading no data. */
const verify = (repository: Repository) =>
  verifyRepository(repository, { kind: "none" }, undefined, judge);

/** The names of the devices whose revocations `snapshots` (and `hot`) hold. */
async function revokedIn(
  repository: Repository,
  snapshots: readonly NamedSnapshot[],
  hot: readonly Uint8Array[] = [],
): Promise<string[]> {
  const found = await revocationsIn(snapshots, hot, testZone.id, imagesOf(repository));
  return found.map((r) => r.name as string);
}

/** What `latest` chooses among `all` for a home restore from "usb" at `nowMs`. */
function chooseLatest(all: readonly NamedSnapshot[], device: string | undefined, nowMs: number) {
  return chooseSnapshot(all, "latest", {
    device,
    home: undefined,
    intoHome: true,
    location: "usb",
    signatures: new Map(
      all.map((s) => [s.name, checkSnapshotSignature(s.name, s.snapshot, testZone.id)] as const),
    ),
    nowMs,
  });
}

/** Where a home restore takes the notes app's data from, and what it holds once taken. */
async function restoredNotes(repository: Repository): Promise<{ from: string; text: string }> {
  const { newest } = await trusted(repository);
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

/** The snapshot named `name` among `all`. */
const named = (all: readonly NamedSnapshot[], name: string) =>
  all.find((s) => s.name === name) as NamedSnapshot;

describe("a snapshot in a device's name, by another holder of the backup key", () => {
  test("a member's, signed with its own key: forged, left out, and the device's own is taken", async () => {
    await withRepository(async (repository) => {
      const [, genuine, planted] = await writeAll(repository, [
        { device: "laptop", time: "2026-01-01T09:00:00.000Z", notes: "old", signer: laptop },
        { device: "nas", time: "2026-01-01T10:00:00.000Z", notes: "the nas's own", signer: nas },
        { device: "nas", time: "2026-01-01T11:00:00.000Z", notes: "planted", signer: laptop },
      ]);
      const all = await repository.snapshots();
      expect(checkSnapshot(named(all, planted), judge)).toEqual({
        trust: "forged",
        signedBy: "laptop",
        why: "it is signed by laptop, not by nas",
      });
      expect(checkSnapshot(named(all, genuine), judge)).toEqual({
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
      expect(checkSnapshot(entry as NamedSnapshot, judge)).toMatchObject({
        trust: "forged",
        why: expect.stringContaining("its device document is not the owner's"),
      });
    });
  });

  /** The laptop's own snapshot at 09:00, then `newer` at 12:00: what the restore takes. */
  const laptopsThen = (newer: Omit<Planned, "time">): Planned[] => [
    { device: "laptop", time: "2026-01-01T09:00:00.000Z", notes: "the laptop's", signer: laptop },
    { ...newer, time: "2026-01-01T12:00:00.000Z" },
  ];

  test("a revoked device's own, signed: left out, though newer", async () => {
    await withRepository(async (repository) => {
      const [, own] = await writeAll(
        repository,
        laptopsThen({ device: "phone", notes: "from the stolen phone", signer: stolen }),
      );
      const { newest, leftOut } = await trusted(repository);
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
      const [, unsigned] = await writeAll(
        repository,
        laptopsThen({ device: "nas", notes: "unchecked" }),
      );
      const { newest, leftOut } = await trusted(repository);
      expect([...newest.keys()]).toEqual(["laptop"]);
      expect(leftOut).toEqual([
        expect.objectContaining({ snapshot: unsigned, trust: "unsigned", signedBy: null }),
      ]);
      expect((await restoredNotes(repository)).text).toBe("the laptop's");
    });
  });

  test("a good zone's snapshots are all trusted, and each device's newest is taken", async () => {
    await withRepository(async (repository) => {
      const [, newer] = await writeAll(repository, [
        { device: "laptop", time: "2026-01-01T09:00:00.000Z", notes: "a", signer: laptop },
        { device: "nas", time: "2026-01-01T10:00:00.000Z", notes: "b", signer: nas },
      ]);
      const { newest, leftOut } = await trusted(repository);
      expect([...newest.keys()].sort()).toEqual(["laptop", "nas"]);
      expect(leftOut).toEqual([]);
      expect(await restoredNotes(repository)).toEqual({ from: newer, text: "b" });
      expect(await verify(repository)).toMatchObject({ ok: true, untrusted: [] });
    });
  });

  test("verify: a forged snapshot makes the repository unsound; an unsigned one is said", async () => {
    await withRepository(async (repository) => {
      const [unsigned] = await writeAll(repository, [
        { device: "nas", time: "2026-01-01T08:00:00.000Z", notes: "old" },
        { device: "nas", time: "2026-01-01T10:00:00.000Z", notes: "own", signer: nas },
      ]);
      const verifiedBefore = await verify(repository);
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
      const verified = await verify(repository);
      expect(verified.ok).toBe(false);
      expect(verified.damaged).toEqual([]);
      expect(verified.untrusted.map((s) => [s.snapshot, s.trust])).toEqual([
        [unsigned, "unsigned"],
        [planted, "forged"],
      ]);
    });
  });

  /** The NAS's own signed snapshot at 10:00 (what a prune must keep). */
  const nasOwn: Planned = {
    device: "nas",
    time: "2026-01-01T10:00:00.000Z",
    notes: "own",
    signer: nas,
  };

  test("prune: newer forged snapshots never push the device's own out, nor its hot changes, and go", async () => {
    await withRepository(async (repository) => {
      const own = await write(repository, nasOwn);
      // Shipped hot after the NAS's snapshot: not in it.
      const hot = hotFileName("2026-01-01T10:30:00.000Z", "nas");
      await repository.backend.write(`${HOT_DIR}/${hot}`, new Uint8Array([1]));
      // A member fills the NAS's history with newer ones of its own, and one dated a day on.
      await writeAll(
        repository,
        [11, 12, 13, 14, 15].map((hour) => ({
          device: "nas",
          time: `2026-01-0${hour === 15 ? 2 : 1}T${hour}:00:00.000Z`,
          notes: "planted",
          signer: laptop,
        })),
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

  test("prune: hot/ past the listing cap is cleared a listing at a time, not refused", async () => {
    // hot/ past MAX_DIRECTORY_NAMES, as an honest one grows while backups do not finish:
    // its whole listing is refused, and a cut one holds one file at a time here.
    const local = new LocalBackend(newDir());
    const pastCap: Backend = {
      location: local.location,
      write: (path, data) => local.write(path, data),
      create: (path, data) => local.create(path, data),
      read: (path, maxBytes) => local.read(path, maxBytes),
      readRange: (path, offset, length) => local.readRange(path, offset, length),
      remove: (path) => local.remove(path),
      close: () => local.close(),
      list: (dir) =>
        dir === HOT_DIR ? Promise.reject(tooManyNames(local.location, dir)) : local.list(dir),
      listCut: async (dir) => {
        const { names } = await local.listCut(dir);
        return { names: names.sort(compareCodeUnits).slice(0, 1), cut: names.length > 1 };
      },
    };
    const repository = await Repository.openOrCreate(pastCap, new Uint8Array(randomBytes(32)));
    try {
      await write(repository, nasOwn);
      // Shipped hours before the NAS's snapshot: in it, so a prune removes them.
      const old = ["08:00", "08:01"].map((at) => hotFileName(`2026-01-01T${at}:00.000Z`, "nas"));
      for (const name of old) await local.write(`${HOT_DIR}/${name}`, new Uint8Array([1]));
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      expect(await local.list(HOT_DIR)).toEqual([old[1] as string]);
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      expect(await local.list(HOT_DIR)).toEqual([]);
    } finally {
      repository.close();
    }
  });

  test("prune: a forged snapshot is forgotten, so the target is sound again and stays so", async () => {
    await withRepository(async (repository) => {
      const [own] = await writeAll(repository, [
        nasOwn,
        // Older than the NAS's own, and the only one of its kind: the policy alone keeps it.
        { device: "nas", time: "2026-01-01T09:00:00.000Z", notes: "planted", signer: laptop },
        {
          device: "laptop",
          time: "2026-01-01T09:30:00.000Z",
          notes: "a stranger's",
          signer: outsider,
        },
      ]);
      expect((await verify(repository)).ok).toBe(false);
      const pruned = await pruneRepository(repository, DEFAULT_RETENTION, judge);
      expect(pruned.removedSnapshots).toBe(2);
      expect((await repository.snapshots()).map((s) => s.name)).toEqual([own]);
      const verified = await verify(repository);
      expect({ ok: verified.ok, untrusted: verified.untrusted }).toEqual({
        ok: true,
        untrusted: [],
      });
    });
  });

  test("prune: a device's own unsigned snapshots (before signing) are not pushed out by newer planted unsigned ones", async () => {
    await withRepository(async (repository) => {
      const honest = await writeAll(
        repository,
        [1, 2, 3].map((day) => ({
          device: "nas",
          time: `2026-01-0${day}T10:00:00.000Z`,
          notes: "the nas's own, before signing",
        })),
      );
      // Enough newer ones, a fortnight apart, to fill every slot of the policy: the newest
      // few, and the newest of each hour, day, week and month it keeps.
      await writeAll(
        repository,
        Array.from({ length: 24 }, (_, i) => ({
          device: "nas",
          time: new Date(
            Date.parse("2026-02-01T10:00:00.000Z") + i * 15 * 86_400_000,
          ).toISOString(),
          notes: "planted",
        })),
      );
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      const left = new Set((await repository.snapshots()).map((s) => s.name));
      expect(honest.filter((name) => left.has(name))).toEqual(honest);
    });
  });

  test("prune: once a device signs its own, its unsigned ones (its key in the clear) age out by the policy", async () => {
    await withRepository(async (repository) => {
      // Forty months of unsigned snapshots, from before signing (and sealed keys): more than
      // the policy keeps (the newest 24 hours of them, 12 months…).
      const unsigned = await writeAll(
        repository,
        Array.from({ length: 40 }, (_, month) => ({
          device: "nas",
          time: new Date(Date.UTC(2024, month, 1, 10)).toISOString(),
          notes: "before signing",
        })),
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
      const [own] = await writeAll(repository, [
        nasOwn,
        { device: "nas", time: "not a time", notes: "junk" },
      ]);
      await pruneRepository(repository, DEFAULT_RETENTION, judge);
      expect((await repository.snapshots()).map((s) => s.name)).toContain(own);
    });
  });
});

describe("a restore judges with what every snapshot says, not the chosen one's word alone", () => {
  /** The zone as a state that left the phone's revocation out says it is. */
  const unrevoked: SnapshotJudge = judgeOf({ nas, laptop, phone: stolen });

  /** The NAS's own snapshot at 10:00, its state holding the phone's revocation. */
  const nasRevoking: Planned = {
    device: "nas",
    time: "2026-01-01T10:00:00.000Z",
    notes: "the nas's own",
    signer: nas,
    state: [...founding, phoneRevoked],
  };

  test("a revocation in another device's snapshot, or in the hot changes, revokes the phone", async () => {
    await withRepository(async (repository) => {
      /** The thief's snapshot at 11:00, its state holding `rows` besides the founding ones. */
      const thiefs = (rows: readonly { key: string; value: string }[] = []): Planned => ({
        device: "phone",
        time: "2026-01-01T11:00:00.000Z",
        notes: "the thief's",
        signer: stolen,
        state: [...founding, ...rows],
      });
      const [, phone] = await writeAll(repository, [nasRevoking, thiefs()]);
      const all = await repository.snapshots();
      const thief = named(all, phone);
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
      expect(await revokedIn(repository, thiefOnly)).toEqual([]);
      expect(await revokedIn(repository, thiefOnly, [hot])).toEqual(["phone"]);
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
        await write(other, thiefs([{ key: "devices/nas/revoked", value: fake }]));
        expect(await revokedIn(other, await other.snapshots())).toEqual([]);
      } finally {
        other.close();
      }
    });
  });

  test("a newer snapshot filed in the NAS's name by another key does not hide the NAS's revocation", async () => {
    await withRepository(async (repository) => {
      await writeAll(repository, [
        nasRevoking,
        ...[11, 12, 13, 14].map((hour) => ({
          device: "nas",
          time: `2026-01-01T${hour}:00:00.000Z`,
          notes: "planted",
          signer: stolen,
          state: founding,
        })),
      ]);
      expect(await revokedIn(repository, await repository.snapshots())).toEqual(["phone"]);
    });
  });

  test("`latest` is not a snapshot dated past the restore's now: its own device's key can date one so", async () => {
    await withRepository(async (repository) => {
      const now = Date.parse("2026-06-01T12:00:00.000Z");
      const [genuine] = await writeAll(repository, [
        {
          device: "laptop",
          time: "2026-06-01T11:00:00.000Z",
          notes: "the laptop's own",
          signer: laptop,
        },
        {
          device: "laptop",
          time: "2027-06-01T11:00:00.000Z",
          notes: "dated ahead",
          signer: laptop,
        },
      ]);
      expect(chooseLatest(await repository.snapshots(), undefined, now).name).toBe(genuine);
      // Within the allowance for clocks, it is the newest.
      const slightly = await write(repository, {
        device: "laptop",
        time: "2026-06-01T12:05:00.000Z",
        notes: "a clock a little ahead",
        signer: laptop,
      });
      expect(chooseLatest(await repository.snapshots(), undefined, now).name).toBe(slightly);
    });
  });
});

describe("what a restore says of a device with no signed snapshot", () => {
  test("it names none of them to restore: the newest unsigned one is what a key holder plants", async () => {
    await withRepository(async (repository) => {
      const [, planted] = await writeAll(repository, [
        { device: "nas", time: "2026-01-01T10:00:00.000Z", notes: "the nas's own, before signing" },
        { device: "nas", time: "2026-01-02T10:00:00.000Z", notes: "planted" },
      ]);
      const all = await repository.snapshots();
      let refused: unknown;
      try {
        chooseLatest(all, "nas", Date.parse("2026-01-03T00:00:00.000Z"));
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
