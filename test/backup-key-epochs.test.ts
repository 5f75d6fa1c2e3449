/**
 * Backups after a device is revoked, end to end with real daemons: the laptop is stolen
 * and revoked on the NAS, which renews the zone's backup key (a key epoch, sealed to the
 * devices that stay and to the owner). The NAS's next backup is sealed under the new key:
 * the laptop's key, tried on every piece that backup added, opens none of it, while the
 * snapshot from before still opens with it (what it could read already). With the NAS
 * killed, the tablet restores both snapshots, and so does a box recovered from the phrase;
 * a device the new key was never sealed to does not back up under the old one, and says so.
 * And the NAS killed before any device synced the revocation: the key is on the target,
 * where a device it was sealed to opens it.
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { homeKeyring } from "../lib/backup/home-keyring.ts";
import { LocalBackend } from "../lib/backup/local-backend.ts";
import { Repository } from "../lib/backup/repository.ts";
import { openBlob, openChangesets, openIndex, openSnapshot } from "../lib/backup/sealed.ts";
import { readPayload } from "../lib/facts/payload.ts";
import { homePaths } from "../lib/home.ts";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { heldFacts } from "../lib/sync/facts.ts";
import { readKeyEpoch } from "../protocol/backup/key-epoch.ts";
import { repositoryKeyring, repositoryKeys } from "../protocol/backup/keys.ts";
import { decodeChangeset } from "../protocol/changeset.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { fromBase64url } from "../protocol/encoding.ts";
import { deviceIdFromPublicKey, type ZoneId, zoneIdFromPublicKey } from "../protocol/ids.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  newHomePath,
  scratchDir,
  startDaemon,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

/** Restores `snapshot` (by its first 8 characters) from `repo` with `home`'s keys into a fresh directory named `name`; that directory. */
async function restoredTo(
  name: string,
  snapshot: string,
  repo: string,
  home: string,
): Promise<string> {
  const to = join(scratchDir(), name);
  await buckyJson([
    "backup",
    "restore",
    snapshot.slice(0, 8),
    "--from",
    repo,
    "--to",
    to,
    "--home",
    home,
  ]);
  return to;
}

const log = createLog({ level: "warn" });
const BEFORE = "written before the laptop was stolen\n";
const AFTER = "written after the laptop was revoked: the thief must not read this\n";

/** Whether the snapshot file `name` in `repo` opens with the phrase's root (epoch 0). */
function decryptsWithOldIn(repo: string, root: Uint8Array, name: string): boolean {
  const config = JSON.parse(readFileSync(join(repo, "config"), "utf8")) as { id: string };
  const sealed = new Uint8Array(readFileSync(join(repo, "snapshots", name)));
  try {
    openSnapshot(repositoryKeys(root, config.id), name, sealed);
    return true;
  } catch (error) {
    if (error instanceof Error && error.message.includes("does not decrypt")) return false;
    throw error;
  }
}

/** The zone id of the home that made the zone (its owner key's). */
function zoneOf(home: string): ZoneId {
  return zoneIdFromPublicKey(
    signingKeyFromSeed(readKeyFile(join(home, "identity", "owner.key"), "owner", log)).publicKey,
  );
}

/** The names in `dir`, none if it is not there yet. */
function filesIn(dir: string): Set<string> {
  return new Set(existsSync(dir) ? readdirSync(dir) : []);
}

/** The files under `dir` of `repo` (relative names, recursive). */
function filesOf(repo: string, dir: string): Set<string> {
  try {
    return new Set(
      (readdirSync(join(repo, dir), { recursive: true }) as string[]).filter((name) =>
        /[0-9a-f]{32}$/.test(name),
      ),
    );
  } catch {
    return new Set();
  }
}

describe("the backup key after a device is revoked", () => {
  let phrase: string;
  let nas: Daemon;
  let tablet: Daemon;
  let laptopHome: string;
  let repo: string;
  let before: string;
  let after: string;
  let revoked: { backupKeyEpoch: number | null; heldBackupKey: boolean };
  /** The hot files shipped before the revocation. */
  let hotBefore: Set<string>;
  /** Whether the laptop's key (the phrase's root) opens the snapshot `name`. */
  const decryptsWithOld = (name: string) =>
    decryptsWithOldIn(
      repo,
      readKeyFile(join(laptopHome, "identity", "backup.key"), "backup", log),
      name,
    );
  /** Snapshots the tablet and devices joined later took, under the new key. */
  const laterSnapshots: string[] = [];
  const added = {
    index: new Set<string>(),
    snapshots: new Set<string>(),
    packs: new Set<string>(),
  };

  beforeAll(async () => {
    const nasHome = newHomePath();
    phrase = (
      await buckyJson<{ recoveryPhrase: string }>(["init", "--home", nasHome, "--device", "nas"])
    ).recoveryPhrase;
    nas = await startDaemon(nasHome);
    const join1 = async (name: string) => {
      const { token } = await buckyJson<{ token: string }>(["invite", "--home", nasHome]);
      const home = newHomePath();
      await buckyJson(["join", token, "--home", home, "--device", name, "--no-start"]);
      return home;
    };
    laptopHome = await join1("laptop");
    tablet = await startDaemon(await join1("tablet"));
    mkdirSync(join(nasHome, "data"), { recursive: true });
    writeFileSync(join(nasHome, "data", "before.txt"), BEFORE);
    repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", nasHome, "--no-backup"]);
    before = (await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome])).snapshot;

    // The NAS ships hot changes to the target already (its repository open for them).
    await buckyJson(["state", "set", "apps/notes/volume", "6", "--home", nasHome]);
    hotBefore = await waitFor("a hot file shipped before the revocation", () => {
      const names = filesIn(join(repo, "hot"));
      return names.size > 0 ? names : undefined;
    });
    // The laptop is stolen (never started here: it holds the key it joined with).
    revoked = await buckyJson(["devices", "revoke", "laptop", "--home", nasHome]);
    // The tablet learns of the new epoch by sync, before the NAS backs up under it.
    await waitFor("the tablet to hold the new key epoch", async () => {
      const { entries } = await buckyJson<{ entries: { key: string }[] }>([
        "state",
        "list",
        "system/backup/key-epochs/",
        "--home",
        tablet.home,
      ]);
      return entries.some((e) => /^system\/backup\/key-epochs\/1-[0-9a-f]{16}$/.test(e.key))
        ? true
        : undefined;
    });
    writeFileSync(join(nasHome, "data", "after.txt"), AFTER);
    const was = {
      index: filesOf(repo, "index"),
      snapshots: filesOf(repo, "snapshots"),
      packs: filesOf(repo, "data"),
    };
    after = (await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome])).snapshot;
    for (const kind of ["index", "snapshots", "packs"] as const)
      for (const name of filesOf(repo, kind === "packs" ? "data" : kind))
        if (!was[kind].has(name)) added[kind].add(name);
  }, 120_000);

  test("revoking a device that held the key begins a new key epoch, filed on the target", () => {
    expect(revoked).toMatchObject({ heldBackupKey: true, backupKeyEpoch: 1 });
    expect(readdirSync(join(repo, "keys"))).toEqual([expect.stringMatching(/^1-[0-9a-f]{16}$/)]);
  });

  test("the revoked device's key opens nothing the next backup added, only what it could read before", async () => {
    const root = readKeyFile(join(laptopHome, "identity", "backup.key"), "backup", log);
    const config = JSON.parse(readFileSync(join(repo, "config"), "utf8")) as { id: string };
    const old = repositoryKeys(root, config.id);
    expect(added.snapshots).toEqual(new Set([after]));
    expect(added.index.size).toBeGreaterThan(0);
    expect(added.packs.size).toBeGreaterThan(0);
    const sealed = (dir: string, name: string) =>
      new Uint8Array(readFileSync(join(repo, dir, name)));
    // The snapshot from before opens with it; the one after does not, nor its index files.
    expect(openSnapshot(old, before, sealed("snapshots", before)).device).toBe("nas");
    expect(() => openSnapshot(old, after, sealed("snapshots", after))).toThrow("does not decrypt");
    for (const name of added.index)
      expect(() => openIndex(old, name, sealed("index", name))).toThrow("does not decrypt");
    // Every blob in the packs it added, located with the NAS's keys (epoch 1 among them):
    // each opens with those, none with the laptop's.
    const nasRoot = readKeyFile(join(nas.home, "identity", "backup.key"), "backup", log);
    expect(nasRoot).toEqual(root); // the phrase's root: the same on every device
    const backend = new LocalBackend(repo);
    const keyring = await homeKeyring(homePaths(nas.home), nasRoot, backend, log, {
      sealing: false,
    });
    expect(keyring.epoch).toBe(1);
    const owner = await Repository.open(backend, keyring.roots);
    const packNames = new Set([...added.packs].map((path) => path.split("/").at(-1)));
    const blobs = [...owner.blobs()].filter((blob) => packNames.has(blob.pack));
    expect(blobs.length).toBeGreaterThan(0);
    for (const blob of blobs) {
      const pack = readFileSync(join(repo, "data", blob.pack.slice(0, 2), blob.pack));
      const piece = new Uint8Array(pack.subarray(blob.offset, blob.offset + blob.length));
      expect(openBlob(owner.keys, blob.id, piece, blob.size).length).toBe(blob.size);
      expect(() => openBlob(old, blob.id, piece, blob.size)).toThrow("does not decrypt");
    }
    owner.close();
    // As the thief lists the repository: the new snapshot does not open, and the index
    // it reads names none of those blobs.
    const thief = await Repository.open(backend, root);
    expect(thief.unreadableSnapshots.map((s) => s.name)).toEqual([]);
    await thief.snapshots();
    expect(thief.unreadableSnapshots.map((s) => s.name)).toEqual([after]);
    expect([...thief.blobs()].filter((blob) => packNames.has(blob.pack))).toEqual([]);
    thief.close();
  });

  test("hot changes the NAS ships after the revocation are sealed under the new key too", async () => {
    const root = readKeyFile(join(laptopHome, "identity", "backup.key"), "backup", log);
    const config = JSON.parse(readFileSync(join(repo, "config"), "utf8")) as { id: string };
    const old = repositoryKeys(root, config.id);
    const keyring = await homeKeyring(homePaths(nas.home), root, new LocalBackend(repo), log, {
      sealing: false,
    });
    const ring = repositoryKeyring(keyring.roots, config.id);
    // A change made now, after the new epoch, which the NAS ships within seconds: the hot
    // file that carries it (found with the new keys) does not open with the old ones.
    await buckyJson(["state", "set", "apps/notes/volume", "7", "--home", nas.home]);
    const carrying = (name: string) => {
      try {
        return openChangesets(ring, name, new Uint8Array(readFileSync(join(repo, "hot", name))))
          .flatMap((bytes) => decodeChangeset(bytes).ops)
          .some((op) => op.key === "apps/notes/volume" && op.value === "7");
      } catch {
        return false;
      }
    };
    const shipped = await waitFor("the change shipped hot", () =>
      [...filesIn(join(repo, "hot"))].find((name) => !hotBefore.has(name) && carrying(name)),
    );
    const sealed = new Uint8Array(readFileSync(join(repo, "hot", shipped)));
    expect(() => openChangesets(old, shipped, sealed)).toThrow("does not decrypt");
  });

  test("the tablet backs up through the NAS under the new key", async () => {
    const root = readKeyFile(join(laptopHome, "identity", "backup.key"), "backup", log);
    const config = JSON.parse(readFileSync(join(repo, "config"), "utf8")) as { id: string };
    await waitFor("the tablet to see the target", async () =>
      (await bucky(["backup", "target", "list", "--home", tablet.home])).stdout.includes("usb")
        ? true
        : undefined,
    );
    const run = await buckyJson<{ snapshot: string; via: string }>([
      "backup",
      "run",
      "--home",
      tablet.home,
    ]);
    expect(run.via).toBe("nas");
    laterSnapshots.push(run.snapshot);
    const sealed = new Uint8Array(readFileSync(join(repo, "snapshots", run.snapshot)));
    expect(() => openSnapshot(repositoryKeys(root, config.id), run.snapshot, sealed)).toThrow(
      "does not decrypt",
    );
  });

  test("a device that joins after is given the new key with the old, and backs up under it", async () => {
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", nas.home]);
    const phone = newHomePath();
    await buckyJson(["join", token, "--home", phone, "--device", "phone", "--no-start"]);
    const run = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", phone]);
    expect(decryptsWithOld(run.snapshot)).toBe(false);
    laterSnapshots.push(run.snapshot);
  });

  test("a device without the key: the phrase gives it the new epoch's too, and it backs up under it", async () => {
    const { token } = await buckyJson<{ token: string }>([
      "invite",
      "--no-backup-key",
      "--home",
      nas.home,
    ]);
    const watch = newHomePath();
    await buckyJson(["join", token, "--home", watch, "--device", "watch", "--no-start"]);
    const given = await buckyJson<{ written: boolean; epochs: number[] }>(
      ["backup", "key", "--home", watch],
      { stdin: `${phrase}\n` },
    );
    expect(given).toMatchObject({ written: true, epochs: [1] });
    const run = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", watch]);
    expect(decryptsWithOld(run.snapshot)).toBe(false);
    laterSnapshots.push(run.snapshot);
  });

  test("verify --read-data reads every snapshot back, of both key epochs", async () => {
    const verified = await buckyJson<{ ok: boolean; snapshots: number }>([
      "backup",
      "verify",
      "--read-data",
      "--home",
      nas.home,
    ]);
    expect(verified).toMatchObject({ ok: true, snapshots: 2 + laterSnapshots.length });
  });

  test("with the NAS killed, the tablet restores the snapshots from before and after", async () => {
    await nas.kill();
    for (const [snapshot, files] of [
      [before, { "before.txt": BEFORE }],
      [after, { "before.txt": BEFORE, "after.txt": AFTER }],
    ] as const) {
      const to = await restoredTo(`tablet-${snapshot.slice(0, 8)}`, snapshot, repo, tablet.home);
      const restored = Object.fromEntries(
        readdirSync(join(to, "data")).map((name) => [
          name,
          readFileSync(join(to, "data", name), "utf8"),
        ]),
      );
      expect(restored).toEqual(files);
    }
  });

  test("a box recovered from the phrase alone restores the newest, sealed under the new key", async () => {
    const fresh = newHomePath();
    await buckyJson(["init", "--recover", "--device", "newbox", "--home", fresh], {
      stdin: `${phrase}\n`,
    });
    const to = await restoredTo("recovered", after, repo, fresh);
    expect(readFileSync(join(to, "data", "after.txt"), "utf8")).toBe(AFTER);
  });

  test("a device the new key is not sealed to backs up nothing under the old one, and says so", async () => {
    // The laptop's home, its state from before, pointed at the target itself: it holds the
    // old key, finds epoch 1 there, and cannot open it.
    const refused = await bucky([
      "backup",
      "target",
      "add",
      "usb",
      repo,
      "--home",
      laptopHome,
      "--no-backup",
      "--json",
    ]);
    expect([refused.exitCode, jsonError(refused).code]).toEqual([1, "E_PERMISSION"]);
    expect(jsonError(refused).message).toContain(
      "the zone's backup key was renewed (epoch 1) when laptop was revoked, and the new key is not sealed to this device",
    );
    expect(filesOf(repo, "snapshots")).toEqual(new Set([before, after, ...laterSnapshots]));
  });

  test("keys/ deleted from the target: a box recovered from the phrase alone still restores every snapshot, and a device left out still refuses", async () => {
    // Each snapshot since the revocation has its epoch's record beside it.
    const besides = readdirSync(join(repo, "snapshot-keys"));
    for (const snapshot of [after, ...laterSnapshots])
      expect(besides).toContainEqual(
        expect.stringMatching(new RegExp(`^${snapshot}-1-[0-9a-f]{16}$`)),
      );
    // Someone who can write to the target (or a careless clean-up) deletes keys/.
    rmSync(join(repo, "keys"), { recursive: true });
    const fresh = newHomePath();
    await buckyJson(["init", "--recover", "--device", "newbox2", "--home", fresh], {
      stdin: `${phrase}\n`,
    });
    for (const snapshot of [before, after, ...laterSnapshots]) {
      const to = await restoredTo(`no-keys-${snapshot.slice(0, 8)}`, snapshot, repo, fresh);
      if (snapshot === after)
        expect(readFileSync(join(to, "data", "after.txt"), "utf8")).toBe(AFTER);
    }
    // The laptop's home, which never heard of epoch 1, learns of it beside the snapshots:
    // it seals nothing under the old key the thief holds.
    const refused = await bucky([
      "backup",
      "target",
      "add",
      "usb2",
      repo,
      "--home",
      laptopHome,
      "--no-backup",
      "--json",
    ]);
    expect([refused.exitCode, jsonError(refused).code]).toEqual([1, "E_PERMISSION"]);
    expect(jsonError(refused).message).toContain("the zone's backup key was renewed (epoch 1)");
  }, 60_000);
});

describe("the device that renewed the key killed before any other device heard of it", () => {
  test("the key is on the target: a device that never synced the revocation restores the new snapshot", async () => {
    const nasHome = newHomePath();
    await buckyJson(["init", "--home", nasHome, "--device", "nas"]);
    const nas = await startDaemon(nasHome);
    const homes: string[] = [];
    for (const name of ["laptop", "tablet"]) {
      const { token } = await buckyJson<{ token: string }>(["invite", "--home", nasHome]);
      const home = newHomePath();
      // Never started: it hears of nothing after it joined.
      await buckyJson(["join", token, "--home", home, "--device", name, "--no-start"]);
      homes.push(home);
    }
    const [, tabletHome] = homes as [string, string];
    mkdirSync(join(nasHome, "data"), { recursive: true });
    writeFileSync(join(nasHome, "data", "after.txt"), AFTER);
    const repo = join(scratchDir(), "usb");
    // Not waited for: no other device runs to hold it, and what is checked is the restore.
    await buckyJson(["devices", "revoke", "laptop", "--no-wait", "--home", nasHome]);
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", nasHome, "--no-backup"]);
    const { snapshot } = await buckyJson<{ snapshot: string }>([
      "backup",
      "run",
      "--home",
      nasHome,
    ]);
    await nas.kill();
    const to = await restoredTo("tablet", snapshot, repo, tabletHome);
    expect(readFileSync(join(to, "data", "after.txt"), "utf8")).toBe(AFTER);
  }, 60_000);
});

describe("a device left out of a key epoch, its facts stale when the owner drew it", () => {
  test("is given it by a device that holds it, the revoker killed, and backs up under it once back", async () => {
    const nasHome = newHomePath();
    const { recoveryPhrase } = await buckyJson<{ recoveryPhrase: string }>([
      "init",
      "--home",
      nasHome,
      "--device",
      "nas",
    ]);
    let nas = await startDaemon(nasHome);
    const join1 = async (name: string, withKey: boolean) => {
      const { token } = await buckyJson<{ token: string }>([
        "invite",
        ...(withKey ? [] : ["--no-backup-key"]),
        "--home",
        nasHome,
      ]);
      const home = newHomePath();
      await buckyJson(["join", token, "--home", home, "--device", name, "--no-start"]);
      return home;
    };
    const tablet = await startDaemon(await join1("tablet", true));
    await join1("laptop", true);
    const watchHome = await join1("watch", false);
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", nasHome, "--no-backup"]);
    const watchId = deviceIdFromPublicKey(
      signingKeyFromSeed(readKeyFile(join(watchHome, "identity", "device.key"), "device", log))
        .publicKey,
    );
    // The watch says it holds no backup key, and the NAS hears it.
    let watch = await startDaemon(watchHome);
    await waitFor("the NAS to hold the watch's facts", () => {
      const db = new Database(join(nasHome, "state.db"), { readonly: true });
      try {
        const said = heldFacts(db).find((record) => record.device === watchId);
        return said && readPayload(said.facts).backup?.key === false ? true : undefined;
      } finally {
        db.close();
      }
    });
    // Given the key while its daemon is down: the zone still has its old word.
    await watch.kill();
    await buckyJson(["backup", "key", "--home", watchHome], { stdin: `${recoveryPhrase}\n` });
    await buckyJson(["devices", "revoke", "laptop", "--home", nasHome]);
    const epochOf = async (home: string) => {
      const { entries } = await buckyJson<{ entries: { key: string; value: string }[] }>([
        "state",
        "list",
        "system/backup/key-epochs/",
        "--home",
        home,
      ]);
      const [entry] = entries;
      return entry
        ? readKeyEpoch(fromBase64url(entry.value) as Uint8Array, zoneOf(nasHome))
        : undefined;
    };
    // Sealed to the NAS and the tablet, not the watch; the tablet holds it.
    const epoch = await waitFor("the tablet to hold the new key epoch", () => epochOf(tablet.home));
    expect(epoch.devices.has(watchId)).toBe(false);
    // The revoker dies; the watch comes back, hears of the epoch from the tablet, and its
    // facts prove it holds the key now.
    await nas.kill();
    watch = await startDaemon(watchHome);
    await waitFor("the watch to hear of the new key epoch", () => epochOf(watchHome), 20_000);
    await waitFor(
      "the tablet's grant of the epoch to reach the watch",
      async () => {
        const { entries } = await buckyJson<{ entries: { key: string }[] }>([
          "state",
          "list",
          "nodes/tablet/backup-epoch-grants/",
          "--home",
          watchHome,
        ]);
        return entries.some((e) => e.key.endsWith(`/${watchId}`)) ? entries : undefined;
      },
      20_000,
    );
    // Given to the watch alone: never to the device the epoch shuts out.
    const grants = await buckyJson<{ entries: { key: string }[] }>([
      "state",
      "list",
      "nodes/",
      "--home",
      watchHome,
    ]);
    expect(
      grants.entries
        .filter((e) => e.key.includes("/backup-epoch-grants/"))
        .every((e) => e.key.endsWith(`/${watchId}`)),
    ).toBe(true);
    // The NAS back (the target is reached through it): the watch backs up under epoch 1,
    // which the laptop's key does not open.
    nas = await startDaemon(nasHome);
    const run = await waitFor(
      "the watch's backup through the NAS",
      async () => {
        const result = await bucky(["backup", "run", "--home", watchHome, "--json"]);
        return result.exitCode === 0
          ? (JSON.parse(result.stdout) as { snapshot: string })
          : undefined;
      },
      20_000,
    );
    const phraseRoot = readKeyFile(join(watchHome, "identity", "backup.key"), "backup", log);
    expect(decryptsWithOldIn(repo, phraseRoot, run.snapshot)).toBe(false);
    await watch.stop();
  }, 90_000);
});

describe("a join cut short once admitted, and a revocation renewing the key", () => {
  test("resumed, whether the key was renewed before or after it was admitted, the device backs up under the new epoch", async () => {
    const nasHome = newHomePath();
    await buckyJson(["init", "--home", nasHome, "--device", "nas"]);
    const nas = await startDaemon(nasHome);
    const invite = async () =>
      (await buckyJson<{ token: string }>(["invite", "--home", nasHome])).token;
    const cutShort = async (name: string) => {
      const home = newHomePath();
      const args = ["join", await invite(), "--home", home, "--device", name, "--no-start"];
      const killed = await bucky(args, { env: { BUCKY_TEST_KILL_AFTER: "admitted" } });
      expect(killed.signal).toBe("SIGKILL");
      return { home, resume: () => buckyJson(args) };
    };
    await buckyJson([
      "join",
      await invite(),
      "--home",
      newHomePath(),
      "--device",
      "laptop",
      "--no-start",
    ]);
    const before = await cutShort("phone");
    await buckyJson(["devices", "revoke", "laptop", "--home", nasHome]);
    const after = await cutShort("tablet");
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", nasHome, "--no-backup"]);
    for (const [name, joined] of [
      ["phone", before],
      ["tablet", after],
    ] as const) {
      await joined.resume();
      expect(nas.log()).toMatch(new RegExp(`device admission resumed.*device=${name}`));
      const run = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", joined.home]);
      const phraseRoot = readKeyFile(join(joined.home, "identity", "backup.key"), "backup", log);
      expect(decryptsWithOldIn(repo, phraseRoot, run.snapshot)).toBe(false);
    }
  }, 60_000);
});
