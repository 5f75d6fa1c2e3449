import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Snapshot } from "../../protocol/backup/formats.ts";
import { SEALED_DEVICE_KEY_FILE, sealDeviceKey } from "../../protocol/backup/sealed-device-key.ts";
import { homePaths } from "../home.ts";
import { writeKeyFile } from "../identity/key-file.ts";
import { createLog } from "../log.ts";
import { seed, testZone } from "../state/test-db.ts";
import { leaveOutOtherKeys, stageDeviceKey } from "./sealed-device-key.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const newDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "bucky-sealed-key-"));
  dirs.push(dir);
  return dir;
};

describe("a home restore's device key", () => {
  test("a sealed key in an unsigned snapshot is not opened: only this bucky seals, and it signs", () => {
    // A box recovered from the phrase: it holds the owner key, and no device key yet.
    const home = newDir();
    const paths = homePaths(home);
    mkdirSync(paths.identityDir, { recursive: true });
    writeKeyFile(paths.ownerKey, "owner", seed(1)); // the test zone's owner
    // A key holder's unsigned snapshot in the NAS's name, beside the NAS's real sealed key.
    const staged = join(newDir(), "identity");
    mkdirSync(staged, { recursive: true });
    writeFileSync(
      join(staged, SEALED_DEVICE_KEY_FILE),
      sealDeviceKey({
        zone: testZone.id,
        seed: seed(2),
        ephemeral: new Uint8Array(randomBytes(32)),
        nonce: new Uint8Array(randomBytes(12)),
      }),
    );
    const snapshot: Snapshot = {
      version: 1,
      time: "2026-11-29T10:00:00.000Z",
      zone: testZone.id,
      device: "nas",
      hostname: "box",
      tree: "ab",
      parent: null,
      stats: { files: 1, bytes: 1, addedBytes: 0, durationMs: 1 },
    };
    const result = stageDeviceKey(
      staged,
      { name: "ab".repeat(32), snapshot },
      { paths, zone: testZone.id, log: createLog({ level: "error" }) },
    );
    expect(result.how).toBe("refused");
    expect(result.refused?.message).toContain("is not signed");
    expect(existsSync(join(staged, "device.key"))).toBe(false);
  });
});

describe("a restored home's identity/", () => {
  test("keeps the device key and nothing a genuine snapshot never holds: no owner or backup key, no hidden file", () => {
    const identity = join(newDir(), "identity");
    mkdirSync(join(identity, ".hidden"), { recursive: true });
    for (const name of ["device.key", "owner.key", "backup.key", ".x"])
      writeFileSync(join(identity, name), "planted or kept\n");
    leaveOutOtherKeys(identity);
    expect(readdirSync(identity)).toEqual(["device.key"]);
  });
});
