/**
 * Secret key files: one line `bucky-<kind>-key-v1:<base64url secret>`, mode 0600,
 * written atomically. The type prefix means a key can never be loaded as the wrong kind.
 */
import { chmodSync, readFileSync, statSync } from "node:fs";
import { fromBase64url, toBase64url } from "../../protocol/encoding.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import type { Log } from "../log.ts";

export type KeyKind = "owner" | "device" | "backup" | "publisher";

const SECRET_BYTES = 32;
const MAX_KEY_FILE_BYTES = 256;

function prefix(kind: KeyKind): string {
  return `bucky-${kind}-key-v1:`;
}

export function writeKeyFile(path: string, kind: KeyKind, secret: Uint8Array): void {
  writeFileAtomic(path, `${prefix(kind)}${toBase64url(secret)}\n`, 0o600);
}

/**
 * Reads a key file. A key readable by others is tightened back to 0600 (and said so):
 * the fix is safe and obvious, and a user cannot be expected to run chmod.
 */
export function readKeyFile(path: string, kind: KeyKind, log: Log): Uint8Array {
  let text: string;
  try {
    if ((statSync(path).mode & 0o077) !== 0) {
      chmodSync(path, 0o600);
      log.warn("key file was readable by others; restricted it to its owner", { path });
    }
    const bytes = readFileSync(path);
    if (bytes.length > MAX_KEY_FILE_BYTES) throw damaged(path, kind, "it is too large");
    text = bytes.toString("utf8");
  } catch (error) {
    throw fileSystemError(error, "read", path) ?? error;
  }
  if (!text.startsWith(prefix(kind)) || !text.endsWith("\n")) {
    throw damaged(path, kind, `it does not start with "${prefix(kind)}"`);
  }
  const secret = fromBase64url(text.slice(prefix(kind).length, -1));
  if (secret?.length !== SECRET_BYTES)
    throw damaged(path, kind, "its key is not 32 bytes of base64url");
  return secret;
}

function damaged(path: string, kind: KeyKind, why: string): BuckyError {
  return new BuckyError(
    "E_INTEGRITY",
    `the ${kind} key file ${path} is damaged: ${why}`,
    kind === "device"
      ? "This device's key cannot be rebuilt. Restore the file from a backup, or join the zone again as a new device."
      : "Restore the file from a backup. The owner key can also be rebuilt from the recovery phrase: `bucky init --recover --home <new home>`.",
  );
}
