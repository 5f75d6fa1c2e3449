/**
 * The keys of a backup repository, all derived from the zone's backup root (itself
 * derived from the recovery phrase) and the repository's random id: one to encrypt, one
 * to name blobs (a keyed hash, so the target learns nothing from ids, not even which
 * files are equal to a file it can guess), and one to seed the chunker's gear table (so
 * chunk boundaries do not reveal file contents either).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from "node:crypto";
import { utf8 } from "../encoding.ts";
import { check, ProtocolError } from "../errors.ts";

export interface RepositoryKeys {
  readonly encrypt: Uint8Array;
  readonly id: Uint8Array;
  readonly chunker: Uint8Array;
  /**
   * The keys of the zone's earlier key epochs (protocol/backup/key-epoch.ts), newest
   * first: what they sealed is read with them, nothing new is sealed under them.
   */
  readonly earlier?: readonly RepositoryKeys[];
}

export function repositoryKeys(backupRoot: Uint8Array, repositoryId: string): RepositoryKeys {
  check(backupRoot.length === 32, "the backup root is 32 bytes");
  const derive = (purpose: string) =>
    new Uint8Array(
      hkdfSync("sha256", backupRoot, utf8(repositoryId), utf8(`bucky backup ${purpose} v1`), 32),
    );
  return { encrypt: derive("encrypt"), id: derive("blob id"), chunker: derive("chunker") };
}

/**
 * The keys of a repository under several key epochs' roots, newest first: the newest
 * seals, and every one opens (open() tries each).
 */
export function repositoryKeyring(
  roots: readonly Uint8Array[],
  repositoryId: string,
): RepositoryKeys {
  const [newest, ...earlier] = roots;
  check(newest !== undefined, "a keyring has a root");
  const keys = repositoryKeys(newest, repositoryId);
  if (earlier.length === 0) return keys;
  return { ...keys, earlier: earlier.map((root) => repositoryKeys(root, repositoryId)) };
}

/** A blob's id: the keyed hash of its plaintext, 64 hex digits. */
export function blobId(keys: Pick<RepositoryKeys, "id">, plaintext: Uint8Array): string {
  return createHmac("sha256", keys.id).update(plaintext).digest("hex");
}

export const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/**
 * AES-256-GCM: nonce ‖ ciphertext ‖ tag. The nonce must be fresh random bytes for every
 * seal (the caller draws them: this module stays free of randomness). `context` is bound
 * in as associated data (a blob's id, a file's name), so a sealed piece cannot be passed
 * off as another one.
 */
export function seal(
  keys: Pick<RepositoryKeys, "encrypt">,
  plaintext: Uint8Array | readonly Uint8Array[],
  context: string,
  nonce: Uint8Array,
): Uint8Array {
  check(nonce.length === NONCE_BYTES, `a nonce is ${NONCE_BYTES} bytes`);
  const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
  const cipher = createCipheriv("aes-256-gcm", keys.encrypt, nonce);
  cipher.setAAD(utf8(context));
  const length = parts.reduce((n, part) => n + part.length, 0);
  const out = new Uint8Array(NONCE_BYTES + length + TAG_BYTES);
  out.set(nonce, 0);
  let at = NONCE_BYTES;
  for (const part of [...parts.map((p) => cipher.update(p)), cipher.final()]) {
    out.set(part, at);
    at += part.length;
  }
  out.set(cipher.getAuthTag(), at);
  return out;
}

/** Opens what seal() made; a ProtocolError if it was altered, or sealed under other keys. */
export function open(keys: RepositoryKeys, sealed: Uint8Array, context: string): Uint8Array {
  return openWith(keys, sealed, context).plaintext;
}

/**
 * Opens what seal() made under `keys` or one of its earlier epochs' (newest first), and
 * says which keys opened it: a blob's id is checked with that epoch's id key.
 */
export function openWith(
  keys: RepositoryKeys,
  sealed: Uint8Array,
  context: string,
): { plaintext: Uint8Array; keys: RepositoryKeys } {
  check(sealed.length >= SEAL_OVERHEAD, "a sealed piece is too short");
  const plaintext = openUnder(keys, sealed, context);
  if (plaintext) return { plaintext, keys };
  for (const earlier of keys.earlier ?? []) {
    const opened = openUnder(earlier, sealed, context);
    if (opened) return { plaintext: opened, keys: earlier };
  }
  throw new ProtocolError(`${context} does not decrypt: it was altered, or made with other keys`);
}

function openUnder(
  keys: Pick<RepositoryKeys, "encrypt">,
  sealed: Uint8Array,
  context: string,
): Uint8Array | undefined {
  const decipher = createDecipheriv("aes-256-gcm", keys.encrypt, sealed.subarray(0, NONCE_BYTES));
  decipher.setAAD(utf8(context));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
    const rest = decipher.final();
    if (rest.length === 0) return new Uint8Array(body.buffer, body.byteOffset, body.length);
    return new Uint8Array(Buffer.concat([body, rest]));
  } catch {
    return undefined;
  }
}
