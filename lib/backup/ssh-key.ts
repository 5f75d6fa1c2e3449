/**
 * The SSH key a device logs in to SFTP targets with when they are added from the panel:
 * made on the device (`<home>/backup/ssh/id_ed25519`, mode 0600) and never leaving it; its
 * public half is what the owner adds to the server's authorized_keys. (The command line
 * uses the user's own key by default, or the one `--identity` names.)
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic-file.ts";
import type { HomePaths } from "../home.ts";

export function deviceSshKeyFile(paths: HomePaths): string {
  return join(paths.backupDir, "ssh", "id_ed25519");
}

/** The device's public key ("ssh-ed25519 AAAA… bucky@<device>"), or null before it has one. */
export function deviceSshPublicKey(paths: HomePaths): string | null {
  const file = `${deviceSshKeyFile(paths)}.pub`;
  return existsSync(file) ? readFileSync(file, "utf8").trim() : null;
}

/** Makes the device's key if it has none; its public key either way. */
export async function makeDeviceSshKey(paths: HomePaths, device: string): Promise<string> {
  const existing = deviceSshPublicKey(paths);
  if (existing) return existing;
  // Loaded when wanted: the SSH library is a large part of what the daemon would load.
  const { utils } = await import("ssh2");
  const pair = utils.generateKeyPairSync("ed25519", { comment: `bucky@${device}` });
  const file = deviceSshKeyFile(paths);
  mkdirSync(join(paths.backupDir, "ssh"), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, pair.private, 0o600);
  writeFileAtomic(`${file}.pub`, `${pair.public}\n`, 0o644);
  return pair.public;
}
