/**
 * A snapshot is the word of the device that took it, end to end through `dist/bucky`: a
 * member of the zone, holding the backup key as every device that backs up does, files a
 * newer snapshot in the NAS's name with its own planted data. `backup list` names who
 * signed it, `backup verify` finds the repository unsound, and the owner's disaster
 * restore on a new box takes the NAS's own snapshot, leaving the planted one out and
 * saying so.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { indexSigner } from "../lib/backup/index-trust.ts";
import { LocalBackend } from "../lib/backup/local-backend.ts";
import { Repository } from "../lib/backup/repository.ts";
import { sealIndex, sealSnapshot } from "../lib/backup/sealed.ts";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import {
  CHANGESET_COLUMNS,
  type ChangesetRecord,
  changesetRowOf,
  StateSeal,
} from "../lib/state/seal.ts";
import { openZone } from "../lib/zone/open.ts";
import { decodeTree, encodeTree, type TreeNode } from "../protocol/backup/formats.ts";
import { sealDeviceKey } from "../protocol/backup/sealed-device-key.ts";
import { signSnapshot } from "../protocol/backup/snapshot-signature.ts";
import { signDeviceDocument } from "../protocol/documents.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "../protocol/ids.ts";
import type { DeviceName } from "../protocol/names.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  newHomePath,
  scratchDir,
  startDaemon,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

/**
 * A zone of a NAS (its node running, a file of its own in data/, a USB target added) and a
 * laptop that joined it, holding the backup key as every device given it at its
 * invitation does.
 */
async function nasWithLaptop() {
  const nasHome = newHomePath();
  const { recoveryPhrase } = await buckyJson<{ recoveryPhrase: string }>([
    "init",
    "--home",
    nasHome,
    "--device",
    "nas",
  ]);
  const nas = await startDaemon(nasHome);
  const { token } = await buckyJson<{ token: string }>(["invite", "--home", nasHome]);
  const laptopHome = newHomePath();
  await buckyJson(["join", token, "--home", laptopHome, "--device", "laptop", "--no-start"]);
  mkdirSync(join(nasHome, "data"), { recursive: true });
  writeFileSync(join(nasHome, "data", "mine.txt"), "the nas's own file\n");
  const repo = join(scratchDir(), "usb");
  // Not waited for: the laptop has not started, so none would hold it for 3 s.
  await buckyJson([
    ...["backup", "target", "add", "usb", repo, "--home", nasHome, "--no-backup", "--no-wait"],
  ]);
  return { nasHome, recoveryPhrase, nas, laptopHome, repo };
}

const log = createLog({ level: "warn" });

/**
 * As the device at `home`: files in `repo` a snapshot in the name of `of`'s device (or
 * `device`), `aheadMs` (an hour) newer than `of`, whose home is that snapshot's but for
 * `data/mine.txt`, which says `planted`. Signed with the device's own key (it has no
 * other), with its own document. Returns the snapshot's name.
 */
async function plant(
  home: string,
  repo: string,
  of: string,
  planted: string,
  device?: string,
  aheadMs = 3_600_000,
): Promise<string> {
  const root = readKeyFile(join(home, "identity", "backup.key"), "backup", log);
  const zone = openZone(home, log);
  const key = zone.deviceKey;
  const document = zone.device.jws;
  zone.close();
  const repository = await Repository.open(new LocalBackend(repo), root);
  try {
    const genuine = (await repository.snapshots()).find((s) => s.name === of);
    if (!genuine) throw new Error(`no snapshot ${of}`);
    const bytes = new TextEncoder().encode(planted);
    const chunk = await repository.add("data", bytes);
    const data = await repository.add(
      "tree",
      encodeTree([
        {
          name: "mine.txt",
          type: "file",
          mode: 0o644,
          mtimeNs: "0",
          size: bytes.length,
          content: [chunk.id],
        },
      ]),
    );
    const top = decodeTree(await repository.readBlob(genuine.snapshot.tree)).map(
      (node): TreeNode =>
        node.name === "data" && node.type === "dir" ? { ...node, subtree: data.id } : node,
    );
    const tree = await repository.add("tree", encodeTree(top));
    await repository.flush();
    const forged = {
      ...genuine.snapshot,
      time: new Date(Date.parse(genuine.snapshot.time) + aheadMs).toISOString(),
      tree: tree.id,
      parent: of,
      ...(device ? { device } : {}),
    };
    delete (forged as { signed?: string }).signed;
    // Written as any holder of the backup key can: sealed, under a name of its choosing.
    return await repository.writeSnapshot((name) => ({
      ...forged,
      signed: signSnapshot(name, forged, key, document),
    }));
  } finally {
    repository.close();
  }
}

interface ListedJson {
  id: string;
  device: string;
  signedBy: string | null;
  trust: string;
  why: string;
}

describe("a member files a snapshot in the NAS's name", () => {
  test("list and verify flag it, and a disaster restore leaves it out and says so", async () => {
    const { nasHome, recoveryPhrase, nas, laptopHome, repo } = await nasWithLaptop();
    // The laptop holds the backup key, as every device given it at its invitation does.
    expect(existsSync(join(laptopHome, "identity", "backup.key"))).toBe(true);

    const run = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome]);
    const planted = await plant(laptopHome, repo, run.snapshot, "planted by the laptop\n");

    const listed = await buckyJson<{ snapshots: ListedJson[] }>([
      "backup",
      "list",
      "--home",
      nasHome,
    ]);
    expect(
      listed.snapshots.map(({ id, device, signedBy, trust, why }) => ({
        id,
        device,
        signedBy,
        trust,
        why,
      })),
    ).toEqual([
      { id: run.snapshot, device: "nas", signedBy: "nas", trust: "signed", why: "" },
      {
        id: planted,
        device: "nas",
        signedBy: "laptop",
        trust: "forged",
        why: "it is signed by laptop, not by nas",
      },
    ]);
    const text = await bucky(["backup", "list", "--home", nasHome]);
    expect(text.stdout).toContain(
      `${planted.slice(0, 8)} is FORGED: it is signed by laptop, not by nas.`,
    );

    const verify = await bucky(["backup", "verify", "--home", nasHome, "--json"]);
    expect(verify.exitCode).toBe(4);
    const verified = JSON.parse(verify.stdout) as {
      ok: boolean;
      damaged: unknown[];
      untrusted: ListedJson[];
    };
    expect(verified.ok).toBe(false);
    expect(verified.damaged).toEqual([]);
    expect(verified.untrusted).toEqual([
      expect.objectContaining({
        snapshot: planted,
        device: "nas",
        trust: "forged",
        signedBy: "laptop",
      }),
    ]);

    // The zone is told, in the NAS's words: a forgery, not damage to back up again.
    const warned = await waitFor("status to say the verify found a forgery", async () => {
      const status = await buckyJson<{ reliability: { warnings: string[] } }>([
        "status",
        "--home",
        nasHome,
      ]);
      return status.reliability.warnings.find((w) => w.includes("filed in a device's name"));
    });
    expect(warned).toBe(
      "the last verify of nas's backups to usb found a snapshot filed in a device's name by someone else holding the backup key (restores leave them out): run `bucky backup verify` there to see which, and revoke the device that wrote them",
    );
    // The NAS's next backup follows its own history, not the one filed in its name an hour
    // ahead.
    const next = await buckyJson<{ snapshot: string; sinceMs: number }>([
      "backup",
      "run",
      "--home",
      nasHome,
    ]);
    expect(next.sinceMs).toBeGreaterThanOrEqual(0);
    await nas.kill(); // the NAS is lost
    const { fresh, restored } = await recoverLatest<{
      snapshot: string;
      device: string;
      trust: string;
      signedBy: string;
      leftOut: unknown[];
    }>(recoveryPhrase, repo);
    expect(restored).toMatchObject({
      snapshot: next.snapshot,
      device: "nas",
      trust: "signed",
      signedBy: "nas",
    });
    expect(restored.leftOut).toEqual([
      {
        snapshot: planted,
        device: "nas",
        time: expect.any(String),
        trust: "forged",
        signedBy: "laptop",
        why: "it is signed by laptop, not by nas",
      },
    ]);
    expect(readFileSync(join(fresh, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");

    // Named by its id, the planted snapshot is refused for the home, which stays as it was.
    const named = await bucky([
      "backup",
      "restore",
      planted.slice(0, 8),
      "--from",
      repo,
      "--home",
      fresh,
      "--json",
    ]);
    expect(named.exitCode).toBe(4);
    expect(readFileSync(join(fresh, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
  }, 120_000);
});

describe("a revoked device that kept the backup key", () => {
  test("its own newest snapshot is left out: a recovered box becomes the NAS, not it", async () => {
    const { nasHome, recoveryPhrase, nas, laptopHome, repo } = await nasWithLaptop();
    const before = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome]);
    // The laptop is stolen: the owner revokes it, and the NAS backs up again.
    await buckyJson(["devices", "revoke", "laptop", "--home", nasHome]);
    const after = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome]);
    // The thief files a snapshot of the laptop, the newest, signed with its own key, over
    // a home whose zone state is from before the revocation.
    const stolen = await plant(laptopHome, repo, before.snapshot, "the thief's\n", "laptop");

    const listed = await buckyJson<{ snapshots: ListedJson[] }>([
      "backup",
      "list",
      "--home",
      nasHome,
    ]);
    expect(listed.snapshots.find((s) => s.id === stolen)).toMatchObject({
      device: "laptop",
      signedBy: "laptop",
      trust: "revoked",
      why: "laptop was revoked",
    });

    await nas.kill();
    const { fresh, restored } = await recoverLatest<{
      snapshot: string;
      device: string;
      trust: string;
      leftOut: { snapshot: string; device: string; trust: string }[];
    }>(recoveryPhrase, repo);
    expect(restored).toMatchObject({ snapshot: after.snapshot, device: "nas", trust: "signed" });
    expect(restored.leftOut).toEqual([
      expect.objectContaining({ snapshot: stolen, device: "laptop", trust: "revoked" }),
    ]);
    expect(readFileSync(join(fresh, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
  }, 120_000);
});

describe("a member's home whose zone state is damaged, with no owner key to tell its zone", () => {
  test("is restored from a snapshot its own key signed, not a newer one filed in its name", async () => {
    const nasHome = newHomePath();
    await buckyJson(["init", "--home", nasHome, "--device", "nas"]);
    await startDaemon(nasHome);
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", nasHome]);
    const laptopHome = newHomePath();
    await buckyJson(["join", token, "--home", laptopHome, "--device", "laptop", "--no-start"]);
    expect(existsSync(join(laptopHome, "identity", "owner.key"))).toBe(false);
    mkdirSync(join(laptopHome, "data"), { recursive: true });
    writeFileSync(join(laptopHome, "data", "mine.txt"), "the laptop's own file\n");
    const repo = join(scratchDir(), "disk");
    await buckyJson(["backup", "target", "add", "disk", repo, "--home", laptopHome, "--no-backup"]);
    const own = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", laptopHome]);
    // The NAS, a member holding the backup key, files a newer one in the laptop's name.
    await plant(nasHome, repo, own.snapshot, "planted by the nas\n");
    const db = join(laptopHome, "state.db");
    writeFileSync(db, Buffer.concat([Buffer.alloc(100, 0xff), readFileSync(db).subarray(100)]));

    const restored = await buckyJson<{ snapshot: string; device: string; trust: string }>([
      "backup",
      "restore",
      "latest",
      "--home",
      laptopHome,
    ]);
    expect(restored).toMatchObject({ snapshot: own.snapshot, device: "laptop", trust: "signed" });
    expect(readFileSync(join(laptopHome, "data", "mine.txt"), "utf8")).toBe(
      "the laptop's own file\n",
    );
  }, 120_000);
});

describe("a snapshot file made to be unreadable, by anyone holding the backup key", () => {
  test("stops no backup, list or restore; verify names it", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "nas"]);
    mkdirSync(join(home, "data"), { recursive: true });
    writeFileSync(join(home, "data", "mine.txt"), "the nas's own file\n");
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    const first = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", home]);
    // Sealed under the repository's keys, so it opens, but is no snapshot.
    const root = readKeyFile(join(home, "identity", "backup.key"), "backup", log);
    const repository = await Repository.open(new LocalBackend(repo), root, { withIndex: false });
    const junk = randomBytes(16).toString("hex");
    try {
      await repository.backend.write(
        `snapshots/${junk}`,
        sealSnapshot(repository.keys, junk, {} as Parameters<typeof sealSnapshot>[2]),
      );
    } finally {
      repository.close();
    }

    const second = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", home]);
    const listed = await buckyJson<{ snapshots: { id: string }[] }>([
      "backup",
      "list",
      "--home",
      home,
    ]);
    expect(listed.snapshots.map((s) => s.id)).toEqual([first.snapshot, second.snapshot]);
    const verify = await bucky(["backup", "verify", "--home", home, "--json"]);
    expect(verify.exitCode).toBe(4);
    expect(JSON.parse(verify.stdout)).toMatchObject({
      ok: false,
      damaged: [],
      unreadable: [{ snapshot: junk, problem: `snapshot ${junk} is malformed` }],
    });
    const to = join(scratchDir(), "restored");
    await buckyJson(["backup", "restore", "latest", "--to", to, "--home", home]);
    expect(readFileSync(join(to, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
  }, 60_000);
});

describe("index files planted by anyone holding the backup key", () => {
  test("a forged and a junk one stop no prune, which deletes them; an unsigned one moves no blob", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "nas"]);
    mkdirSync(join(home, "data"), { recursive: true });
    writeFileSync(join(home, "data", "mine.txt"), "the nas's own file\n");
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    await buckyJson(["backup", "run", "--home", home]);
    // Each naming every blob in a pack that is not there, as a key holder can write them:
    // signed by a key of its own (with a device document of its own owner), unsigned (as
    // an older bucky writes them), and one that does not open at all.
    const root = readKeyFile(join(home, "identity", "backup.key"), "backup", log);
    const outsider = signingKeyFromSeed(new Uint8Array(randomBytes(32)));
    const zone = openZone(home, log);
    const zoneId = zone.zone.id;
    zone.close();
    const sign = indexSigner({
      zone: zoneId,
      key: outsider,
      document: signDeviceDocument(
        { name: "nas" as DeviceName, devicePublicKey: outsider.publicKey, issuedAt: 1 },
        outsider,
      ).jws,
    });
    const forged = randomBytes(16).toString("hex");
    const unsigned = randomBytes(16).toString("hex");
    const junk = randomBytes(16).toString("hex");
    const repository = await Repository.open(new LocalBackend(repo), root);
    try {
      const elsewhere = [...repository.blobs()].map((b) => ({ ...b, pack: "ee".repeat(32) }));
      const id = repository.id;
      await repository.backend.write(
        `index/${forged}`,
        sealIndex(repository.keys, forged, elsewhere, (o) =>
          sign({ name: forged, repository: id, ...o }),
        ),
      );
      await repository.backend.write(
        `index/${unsigned}`,
        sealIndex(repository.keys, unsigned, elsewhere),
      );
      await repository.backend.write(`index/${junk}`, randomBytes(200));
    } finally {
      repository.close();
    }

    const verify = await bucky(["backup", "verify", "--home", home, "--json"]);
    expect(verify.exitCode).toBe(4);
    expect(JSON.parse(verify.stdout)).toMatchObject({
      ok: false,
      damaged: [],
      unreadableIndex: [{ file: junk }],
      forgedIndex: [
        {
          file: forged,
          why: expect.stringContaining("its device document is not the owner's"),
          signedBy: deviceIdFromPublicKey(outsider.publicKey),
        },
      ],
    });
    const text = await bucky(["backup", "verify", "--home", home]);
    expect(text.stdout).toContain(`index file ${forged.slice(0, 8)} is FORGED`);

    const pruned = await buckyJson<{ removedIndexFiles: { file: string }[] }>([
      "backup",
      "prune",
      "--home",
      home,
    ]);
    expect(pruned.removedIndexFiles.map((f) => f.file).sort()).toEqual([forged, junk].sort());
    const after = await bucky(["backup", "verify", "--read-data", "--home", home, "--json"]);
    expect(after.exitCode).toBe(0);
    const to = join(scratchDir(), "restored");
    await buckyJson(["backup", "restore", "latest", "--to", to, "--home", home]);
    expect(readFileSync(join(to, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
  }, 60_000);
});

describe("an index file signed by a key the owner never admitted, in a disaster restore", () => {
  test("is left out though no zone state judges it: the home comes back whole", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "nas"]);
    mkdirSync(join(home, "data"), { recursive: true });
    writeFileSync(join(home, "data", "mine.txt"), "the nas's own file\n");
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    await buckyJson(["backup", "run", "--home", home]);
    // Every blob named at a wrong place of its pack, signed by a key of its own, named to
    // come first of the index files.
    const root = readKeyFile(join(home, "identity", "backup.key"), "backup", log);
    const outsider = signingKeyFromSeed(new Uint8Array(randomBytes(32)));
    const zone = openZone(home, log);
    const zoneId = zone.zone.id;
    zone.close();
    const sign = indexSigner({
      zone: zoneId,
      key: outsider,
      document: signDeviceDocument(
        { name: "nas" as DeviceName, devicePublicKey: outsider.publicKey, issuedAt: 1 },
        outsider,
      ).jws,
    });
    const forged = `00${randomBytes(15).toString("hex")}`;
    const repository = await Repository.open(new LocalBackend(repo), root);
    try {
      const misplaced = [...repository.blobs()].map((b) => ({ ...b, offset: 0, length: 40 }));
      const id = repository.id;
      await repository.backend.write(
        `index/${forged}`,
        sealIndex(repository.keys, forged, misplaced, (o) =>
          sign({ name: forged, repository: id, ...o }),
        ),
      );
    } finally {
      repository.close();
    }
    // The zone state damaged: the restore has no state to judge by, only the owner key.
    const db = join(home, "state.db");
    writeFileSync(db, Buffer.concat([Buffer.alloc(100, 0xff), readFileSync(db).subarray(100)]));
    await buckyJson(["backup", "restore", "latest", "--home", home]);
    expect(readFileSync(join(home, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
  }, 60_000);
});

/**
 * As the thief holding `home` (a device's key, and its zone state): adds to its state a
 * changeset row in the name of the device `of` with a seq far past any it wrote, so a
 * restore that takes this state would take none of that device's real changesets (its
 * owner's revocation of the thief among them); the state is sealed again with the thief's
 * own key, as it can.
 */
function fakeFarRow(home: string, of: string): void {
  const zone = openZone(home, log);
  const id = zone.devices.find((d) => d.name === of)?.id;
  const seed = readKeyFile(join(home, "identity", "device.key"), "device", log);
  zone.close();
  if (!id) throw new Error(`no device ${of}`);
  const seal = StateSeal.fromSeed(seed, deviceIdFromPublicKey(signingKeyFromSeed(seed).publicKey));
  const sqlite = new Database(join(home, "state.db"));
  try {
    sqlite.transaction(() => {
      const tally = seal.tally(sqlite);
      const real = sqlite
        .query<{ bytes: Uint8Array; hash: Uint8Array }, [string]>(
          "SELECT bytes, hash FROM changesets WHERE author = ? ORDER BY seq LIMIT 1",
        )
        .get(id);
      if (!real) throw new Error(`no changeset of ${of}`);
      const row = sqlite
        .query<ChangesetRecord, [string, number, Uint8Array, Uint8Array, number]>(
          `INSERT INTO changesets (author, seq, hash, bytes, received_at) VALUES (?, ?, ?, ?, ?) RETURNING ${CHANGESET_COLUMNS}`,
        )
        .get(id, 1_000_000, real.hash, real.bytes, Date.now()) as ChangesetRecord;
      tally.addChangesetRow(changesetRowOf(row));
      tally.save();
    })();
  } finally {
    sqlite.close();
  }
}

describe("a revoked device that kept the backup key files a snapshot made to come first", () => {
  test("its state, which leaves its revocation out, is not what judges it: a recovered box becomes the NAS", async () => {
    const { nasHome, recoveryPhrase, nas, laptopHome, repo } = await nasWithLaptop();
    await buckyJson(["devices", "revoke", "laptop", "--home", nasHome]);
    const after = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome]);
    await nas.kill();
    // The thief: a state of its own from before the revocation, made to take none of the
    // NAS's changesets, backed up with its own key, after the NAS's last backup.
    fakeFarRow(laptopHome, "nas");
    mkdirSync(join(laptopHome, "data"), { recursive: true });
    writeFileSync(join(laptopHome, "data", "mine.txt"), "the thief's\n");
    // Its bucky refuses to back up under the old key once the target holds a newer epoch
    // (test/backup-key-epochs.test.ts), in keys/ or beside a snapshot: the thief, who can
    // write to the target, hides both.
    const hidden = ["keys", "snapshot-keys"];
    for (const dir of hidden) renameSync(join(repo, dir), join(repo, `${dir}.hidden`));
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", laptopHome, "--no-backup"]);
    const stolen = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", laptopHome]);
    for (const dir of hidden) renameSync(join(repo, `${dir}.hidden`), join(repo, dir));

    const { fresh, restored } = await recoverLatest<{
      snapshot: string;
      device: string;
      trust: string;
      leftOut: { snapshot: string; device: string; trust: string }[];
    }>(recoveryPhrase, repo);
    expect(restored).toMatchObject({ snapshot: after.snapshot, device: "nas", trust: "signed" });
    expect(restored.leftOut).toEqual([
      expect.objectContaining({ snapshot: stolen.snapshot, device: "laptop", trust: "revoked" }),
    ]);
    expect(readFileSync(join(fresh, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
  }, 120_000);
});

describe("a member files, in its own name, a snapshot of another device's home", () => {
  test("its key is not the one that signed it: a recovered box becomes the NAS, not a second NAS under the laptop's name", async () => {
    const { nasHome, recoveryPhrase, nas, laptopHome, repo } = await nasWithLaptop();
    const run = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome]);
    await nas.kill();
    // The NAS's home (its key, its state), filed as the laptop's, signed by the laptop.
    await plant(laptopHome, repo, run.snapshot, "planted by the laptop\n", "laptop", 1000);

    const { fresh, restored } = await recoverLatest<{
      snapshot: string;
      device: string;
      trust: string;
    }>(recoveryPhrase, repo);
    expect(restored).toMatchObject({ snapshot: run.snapshot, device: "nas", trust: "signed" });
    expect(readFileSync(join(fresh, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
  }, 120_000);
});

describe("a device's next backup", () => {
  test("follows its own signed history, not an unsigned snapshot filed in its name since", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "nas"]);
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    const first = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", home]);
    // Anyone holding the backup key: an unsigned copy of it, newer, as an older bucky's.
    const root = readKeyFile(join(home, "identity", "backup.key"), "backup", log);
    const repository = await Repository.open(new LocalBackend(repo), root, { withIndex: false });
    const planted = randomBytes(16).toString("hex");
    try {
      const genuine = (await repository.snapshots()).find((s) => s.name === first.snapshot);
      if (!genuine) throw new Error("the nas's snapshot is not there");
      const copy = {
        ...genuine.snapshot,
        time: new Date(Date.parse(genuine.snapshot.time) + 1).toISOString(),
      };
      delete (copy as { signed?: string }).signed;
      await repository.backend.write(
        `snapshots/${planted}`,
        sealSnapshot(repository.keys, planted, copy),
      );
    } finally {
      repository.close();
    }
    const second = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", home]);
    const reopened = await Repository.open(new LocalBackend(repo), root, { withIndex: false });
    try {
      const taken = (await reopened.snapshots()).find((s) => s.name === second.snapshot);
      expect(taken?.snapshot.parent).toBe(first.snapshot);
    } finally {
      reopened.close();
    }
  }, 60_000);
});

/**
 * As the device at `home`: files in `repo`, in its own name and signed by it, a copy of
 * the snapshot `of`, dated now, whose `identity/` holds `sealedKey` as its sealed device
 * key, or no device key at all (`null`). Returns the snapshot's name.
 */
async function fileWithKey(
  home: string,
  repo: string,
  of: string,
  sealedKey: Uint8Array | null,
): Promise<string> {
  const root = readKeyFile(join(home, "identity", "backup.key"), "backup", log);
  const zone = openZone(home, log);
  const key = zone.deviceKey;
  const document = zone.device.jws;
  const device = zone.device.name;
  zone.close();
  const repository = await Repository.open(new LocalBackend(repo), root);
  try {
    const genuine = (await repository.snapshots()).find((s) => s.name === of);
    if (!genuine) throw new Error(`no snapshot ${of}`);
    const top = decodeTree(await repository.readBlob(genuine.snapshot.tree));
    const identity = top.find((node) => node.name === "identity");
    if (identity?.type !== "dir") throw new Error("no identity/ in the snapshot");
    const nodes = decodeTree(await repository.readBlob(identity.subtree)).filter(
      (node) => node.name !== "device.key" && node.name !== "device.key.sealed",
    );
    if (sealedKey) {
      const chunk = await repository.add("data", sealedKey);
      nodes.push({
        name: "device.key.sealed",
        type: "file",
        mode: 0o600,
        mtimeNs: "0",
        size: sealedKey.length,
        content: [chunk.id],
      });
    }
    const subtree = await repository.add("tree", encodeTree(nodes));
    const tree = await repository.add(
      "tree",
      encodeTree(
        top.map((node): TreeNode => (node === identity ? { ...node, subtree: subtree.id } : node)),
      ),
    );
    await repository.flush();
    const filed = {
      ...genuine.snapshot,
      device,
      // Dated now, after the NAS's: newest, and not ahead of any clock.
      time: new Date(Math.max(Date.now(), Date.parse(genuine.snapshot.time) + 1)).toISOString(),
      tree: tree.id,
      parent: null,
    };
    delete (filed as { signed?: string }).signed;
    return await repository.writeSnapshot((name) => ({
      ...filed,
      signed: signSnapshot(name, filed, key, document),
    }));
  } finally {
    repository.close();
  }
}

/** `latest` restored on a box just recovered from `phrase`: what it says, and its data/mine.txt. */
async function recoverLatest<T extends { snapshot: string; device: string; trust: string }>(
  phrase: string,
  repo: string,
): Promise<{ fresh: string; restored: T }> {
  const fresh = newHomePath();
  await buckyJson(["init", "--recover", "--device", "newbox", "--home", fresh], {
    stdin: `${phrase}\n`,
  });
  const restored = await buckyJson<T>([
    "backup",
    "restore",
    "latest",
    "--from",
    repo,
    "--home",
    fresh,
  ]);
  return { fresh, restored };
}

/**
 * `keyRefusal` (lib/backup/restore.ts): a snapshot not taken for its key gives way on a box
 * just recovered. Before, anyone holding the backup key could file a signed snapshot of
 * its own, dated now and holding no key, and stop every restore from the phrase.
 */
describe("a snapshot refused for its key, filed newest to stop every restore", () => {
  test("a member's, holding no device key, gives way: a recovered box becomes the NAS", async () => {
    const { nasHome, recoveryPhrase, nas, laptopHome, repo } = await nasWithLaptop();
    const run = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome]);
    await nas.kill();
    await fileWithKey(laptopHome, repo, run.snapshot, null);

    const { fresh, restored } = await recoverLatest(recoveryPhrase, repo);
    expect(restored).toMatchObject({ snapshot: run.snapshot, device: "nas", trust: "signed" });
    expect(readFileSync(join(fresh, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
  }, 120_000);

  test("a revoked device's, its sealed key not opening with the owner's, gives way: a recovered box becomes the NAS", async () => {
    const { nasHome, recoveryPhrase, nas, laptopHome, repo } = await nasWithLaptop();
    const before = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome]);
    await buckyJson(["devices", "revoke", "laptop", "--home", nasHome]);
    const after = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome]);
    await nas.kill();
    // The thief seals its own key, as a snapshot's is, but to a zone of its own making, in
    // a copy of the NAS's snapshot from before the revocation (the one after is sealed
    // under a key epoch it never held).
    const sealedKey = sealDeviceKey({
      zone: zoneIdFromPublicKey(signingKeyFromSeed(randomBytes(32)).publicKey),
      seed: readKeyFile(join(laptopHome, "identity", "device.key"), "device", log),
      ephemeral: randomBytes(32),
      nonce: randomBytes(12),
    });
    await fileWithKey(laptopHome, repo, before.snapshot, sealedKey);

    const { fresh, restored } = await recoverLatest(recoveryPhrase, repo);
    expect(restored).toMatchObject({ snapshot: after.snapshot, device: "nas", trust: "signed" });
    expect(readFileSync(join(fresh, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
  }, 120_000);
});
