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

/**
 * The device's public key ("ssh-ed25519 AAAA… bucky@<device>"), or null before it has one,
 * or when the one it has is not whole (made before newEd25519KeyPair checked its keys: no
 * server took it, and a new one is made in its place).
 */
export function deviceSshPublicKey(paths: HomePaths): string | null {
  const file = `${deviceSshKeyFile(paths)}.pub`;
  if (!existsSync(file)) return null;
  const line = readFileSync(file, "utf8").trim();
  return isWholeEd25519(line) ? line : null;
}

/** Whether an OpenSSH public key line holds a whole Ed25519 key ("ssh-ed25519", 32 bytes). */
function isWholeEd25519(line: string): boolean {
  const [kind, blob] = line.split(" ");
  // string "ssh-ed25519", string key: 4 + 11 + 4 + 32 bytes.
  return kind === "ssh-ed25519" && Buffer.from(blob ?? "", "base64").length === 51;
}

/** Makes the device's key if it has none; its public key either way. */
export async function makeDeviceSshKey(paths: HomePaths, device: string): Promise<string> {
  const existing = deviceSshPublicKey(paths);
  if (existing) return existing;
  const pair = await newEd25519KeyPair(`bucky@${device}`);
  const file = deviceSshKeyFile(paths);
  mkdirSync(join(paths.backupDir, "ssh"), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, pair.private, 0o600);
  writeFileAtomic(`${file}.pub`, `${pair.public}\n`, 0o644);
  return pair.public;
}

/**
 * How many times a key is made before giving up: each is whole but for one chance in 256
 * (newEd25519KeyPair), so the last is never reached.
 */
const KEY_TRIES = 8;

/**
 * A new Ed25519 key pair in OpenSSH's formats. ssh2 (1.17.0) strips every leading zero
 * byte of the public key it makes, where only the bit string's first byte should go: one
 * key in 256 came out 31 bytes long, which no SSH server, nor ssh2 itself, reads (the
 * device's SFTP backups would never log in). A key made so is made again.
 */
export async function newEd25519KeyPair(
  comment?: string,
): Promise<{ readonly private: string; readonly public: string }> {
  // Loaded when wanted: the SSH library is a large part of what the daemon would load.
  const { utils } = await import("ssh2");
  for (let tries = 0; tries < KEY_TRIES; tries++) {
    const pair = utils.generateKeyPairSync("ed25519", comment ? { comment } : {});
    if (!(utils.parseKey(pair.private) instanceof Error)) return pair;
  }
  throw new Error(`no readable Ed25519 key in ${KEY_TRIES} tries`);
}
