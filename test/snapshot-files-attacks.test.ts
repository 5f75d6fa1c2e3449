/**
 * Putting a file of a snapshot back from the panel, against a tree someone else controls:
 * an app owns its data directory and can put a symbolic link anywhere in it before the
 * owner presses "restore". What is put back must land inside the home, where it says,
 * never through a link to somewhere else (/etc, bucky's own keys). And nothing is put back
 * from a snapshot another holder of the backup key wrote in the device's name.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LocalBackend } from "../lib/backup/local-backend.ts";
import { Repository } from "../lib/backup/repository.ts";
import { sealSnapshot } from "../lib/backup/sealed.ts";
import { listSnapshotDir, restoreSnapshotPath } from "../lib/backup/snapshot-files.ts";
import { homePaths } from "../lib/home.ts";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { signSnapshot } from "../protocol/backup/snapshot-signature.ts";
import { signDeviceDocument } from "../protocol/documents.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import type { DeviceName } from "../protocol/names.ts";
import { buckyJson, cleanUp, newHomePath, scratchDir } from "./harness.ts";

afterAll(cleanUp);

const log = createLog({ level: "silent" });

describe("a file put back from a snapshot", () => {
  let home: string;
  let snapshot: string;
  let repo: string;
  const where = () => ({ paths: homePaths(home), target: "usb", snapshot, log });

  beforeAll(async () => {
    home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "box"]);
    mkdirSync(join(home, "data", "photos", "2026"), { recursive: true });
    writeFileSync(join(home, "data", "photos", "cat.bin"), "a cat\n");
    writeFileSync(join(home, "data", "photos", "2026", "dog.bin"), "a dog\n");
    repo = join(scratchDir(), "repo");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    ({ snapshot } = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", home]));
  }, 60_000);

  test("lands beside what is there, inside the home", async () => {
    const restored = await restoreSnapshotPath(where(), "data/photos/cat.bin", () => {}, Date.now);
    expect(restored.restoredAs).toMatch(/^data\/photos\/cat \(restored \d{4}-\d{2}-\d{2}\)\.bin$/);
    expect(readFileSync(join(home, restored.restoredAs), "utf8")).toBe("a cat\n");
  });

  test("never through a folder that became a link to somewhere else", async () => {
    const outside = join(scratchDir(), "outside");
    mkdirSync(outside);
    rmSync(join(home, "data", "photos"), { recursive: true });
    symlinkSync(outside, join(home, "data", "photos"));
    await expect(
      restoreSnapshotPath(where(), "data/photos/cat.bin", () => {}, Date.now),
    ).rejects.toMatchObject({ code: "E_INVALID_INPUT" });
    await expect(
      restoreSnapshotPath(where(), "data/photos/2026", () => {}, Date.now),
    ).rejects.toMatchObject({ code: "E_INVALID_INPUT" });
    expect(readdirSync(outside)).toEqual([]);
  });

  test("never through a link deeper down either", async () => {
    const outside = join(scratchDir(), "outside-deeper");
    mkdirSync(outside);
    rmSync(join(home, "data", "photos"), { force: true });
    mkdirSync(join(home, "data", "photos"));
    symlinkSync(outside, join(home, "data", "photos", "2026"));
    await expect(
      restoreSnapshotPath(where(), "data/photos/2026/dog.bin", () => {}, Date.now),
    ).rejects.toMatchObject({ code: "E_INVALID_INPUT" });
    expect(readdirSync(outside)).toEqual([]);
  });

  test("never from a snapshot filed in the device's name by another key", async () => {
    // Anyone holding the backup key, with a key and a document of a zone of its own: a
    // copy of the box's snapshot, newer, signed by it.
    const thief = signingKeyFromSeed(new Uint8Array(randomBytes(32)));
    const document = signDeviceDocument(
      { name: "box" as DeviceName, devicePublicKey: thief.publicKey, issuedAt: 1 },
      thief,
    ).jws;
    const root = readKeyFile(join(home, "identity", "backup.key"), "backup", log);
    const repository = await Repository.open(new LocalBackend(repo), root, { withIndex: false });
    const forged = randomBytes(16).toString("hex");
    try {
      const genuine = (await repository.snapshots()).find((s) => s.name === snapshot);
      if (!genuine) throw new Error("the box's snapshot is not there");
      const copy = { ...genuine.snapshot, time: new Date(Date.now() + 60_000).toISOString() };
      delete (copy as { signed?: string }).signed;
      const signed = { ...copy, signed: signSnapshot(forged, copy, thief, document) };
      await repository.backend.write(
        `snapshots/${forged}`,
        sealSnapshot(repository.keys, forged, signed),
      );
    } finally {
      repository.close();
    }
    const at = { ...where(), snapshot: forged };
    const listing = await listSnapshotDir(at, "data/photos");
    expect(listing.snapshot).toMatchObject({ id: forged, device: "box", trust: "forged" });
    rmSync(join(home, "data", "photos"), { recursive: true, force: true });
    mkdirSync(join(home, "data", "photos"));
    await expect(
      restoreSnapshotPath(at, "data/photos/cat.bin", () => {}, Date.now),
    ).rejects.toMatchObject({ code: "E_INTEGRITY" });
    expect(readdirSync(join(home, "data", "photos"))).toEqual([]);
    // The box's own still is.
    const own = await restoreSnapshotPath(where(), "data/photos/cat.bin", () => {}, Date.now);
    expect(readFileSync(join(home, own.restoredAs), "utf8")).toBe("a cat\n");
  });

  test("never from an unsigned one filed in the name of a device that signs its own", async () => {
    // Anyone holding the backup key: a copy of the box's snapshot, unsigned, as an older
    // bucky's would be.
    const root = readKeyFile(join(home, "identity", "backup.key"), "backup", log);
    const repository = await Repository.open(new LocalBackend(repo), root, { withIndex: false });
    const planted = randomBytes(16).toString("hex");
    try {
      const genuine = (await repository.snapshots()).find((s) => s.name === snapshot);
      if (!genuine) throw new Error("the box's snapshot is not there");
      const copy = { ...genuine.snapshot, time: new Date(Date.now() + 60_000).toISOString() };
      delete (copy as { signed?: string }).signed;
      await repository.backend.write(
        `snapshots/${planted}`,
        sealSnapshot(repository.keys, planted, copy),
      );
    } finally {
      repository.close();
    }
    const at = { ...where(), snapshot: planted };
    const listing = await listSnapshotDir(at, "data/photos");
    expect(listing.snapshot).toMatchObject({
      id: planted,
      device: "box",
      trust: "unsigned",
      mayPutBack: false,
    });
    rmSync(join(home, "data", "photos"), { recursive: true, force: true });
    mkdirSync(join(home, "data", "photos"));
    await expect(
      restoreSnapshotPath(at, "data/photos/cat.bin", () => {}, Date.now),
    ).rejects.toMatchObject({ code: "E_INTEGRITY" });
    expect(readdirSync(join(home, "data", "photos"))).toEqual([]);
  });
});
