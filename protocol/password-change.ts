/**
 * A password changed by its person. A password credential is made under an enrollment
 * the owner key signed, and a person holds no owner key: so the change is signed by the
 * key the password it replaces gives (protocol/accounts.ts), which only someone who knew
 * that password can make, and every device checks it from the record alone:
 *
 *   users/<user>/password-changes/<id>   the change: which credential (its enrollment's
 *                                        nonce), the public key it replaces (`prev`), the
 *                                        new password's salt, cost and public key, and
 *                                        `prev`'s signature over all of it. `<id>` is a
 *                                        digest of what is signed, so no record takes
 *                                        another's key (a later one would win it), and
 *                                        none is ever deleted.
 *
 * A credential's password is the end of its chain of changes from the key it was made
 * with (lib/users/directory.ts). A key changed twice (two changes signed by it: the
 * person and someone else who knew the password, racing) ends the chain there and the
 * password no longer counts at all: neither side gets in, and an admin's new link
 * (`bucky user reset`) is the way back. So a thief who knew an old password can take
 * the person's password away, never keep one of their own past the person's change.
 */
import { createHash } from "node:crypto";
import { MAX_PASSWORD_COST, type PasswordCost } from "./accounts.ts";
import { type SigningKey, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url, utf8 } from "./encoding.ts";
import { check, ProtocolError } from "./errors.ts";
import type { ZoneId } from "./ids.ts";
import { isRecord, requireOnlyFields, requireString, requireUint } from "./shape.ts";

export interface PasswordChange extends PasswordCost {
  readonly v: 1;
  readonly user: string;
  /** The credential changed: the nonce of the enrollment that made it. */
  readonly cred: string;
  /** The public key of the password it replaces, base64url. */
  readonly prev: string;
  /** The new password's salt and public key, base64url. */
  readonly salt: string;
  readonly publicKey: string;
  readonly changedAt: string;
  /** `prev`'s signature over the rest, base64url. */
  readonly sig: string;
}

const FIELDS = [
  "v",
  "user",
  "cred",
  "prev",
  "salt",
  "publicKey",
  "memoryKiB",
  "passes",
  "parallelism",
  "changedAt",
  "sig",
] as const;

/** The bytes `prev` signs: every field but the signature, in a fixed order, for one zone. */
export function passwordChangeBytes(change: Omit<PasswordChange, "sig">, zone: ZoneId): Uint8Array {
  return utf8(
    `bucky-password-change/1\n${JSON.stringify([
      zone,
      change.user,
      change.cred,
      change.prev,
      change.salt,
      change.publicKey,
      change.memoryKiB,
      change.passes,
      change.parallelism,
      change.changedAt,
    ])}`,
  );
}

/** A change's id, the last segment of its key: the SHA-256 of what is signed, base64url. */
export function passwordChangeId(change: Omit<PasswordChange, "sig">, zone: ZoneId): string {
  return toBase64url(createHash("sha256").update(passwordChangeBytes(change, zone)).digest());
}

/** Signs a change with the key of the password it replaces (whose public key is `prev`). */
export function signPasswordChange(
  change: Omit<PasswordChange, "sig" | "v" | "prev">,
  zone: ZoneId,
  previous: SigningKey,
): PasswordChange {
  const unsigned = { v: 1 as const, ...change, prev: toBase64url(previous.publicKey) };
  return { ...unsigned, sig: toBase64url(previous.sign(passwordChangeBytes(unsigned, zone))) };
}

/** Reads a change and checks its signature. Throws ProtocolError when it does not hold. */
export function decodePasswordChange(value: unknown, zone: ZoneId): PasswordChange {
  const change = readPasswordChange(value);
  checkPasswordChangeSignature(change, zone);
  return change;
}

/**
 * Reads a change's fields, checking their shape but not its signature: any member may
 * record a change signed with a key of its own making, as many as it likes, so a reader
 * checks the signature only of a change that continues a chain (lib/users/directory.ts),
 * and no other costs it more than a parse.
 */
export function readPasswordChange(value: unknown): PasswordChange {
  check(isRecord(value), "a password change is an object");
  requireOnlyFields(value, [...FIELDS], "password change");
  check(value.v === 1, "a password change is of version 1");
  const key = (field: string) => {
    const text = requireString(value[field], `password change ${field}`, 44);
    check(fromBase64url(text)?.length === 32, `a password change's ${field} is a public key`);
    return text;
  };
  const salt = requireString(value.salt, "password change salt", 88);
  const saltBytes = fromBase64url(salt)?.length ?? 0;
  check(saltBytes >= 16 && saltBytes <= 64, "a password's salt is 16 to 64 bytes");
  const cred = requireString(value.cred, "password change cred", 32);
  check(fromBase64url(cred) !== undefined, "a password change's cred is base64url");
  const change: PasswordChange = {
    v: 1,
    user: requireString(value.user, "password change user", 64),
    cred,
    prev: key("prev"),
    salt,
    publicKey: key("publicKey"),
    memoryKiB: requireUint(value.memoryKiB, "password memoryKiB", MAX_PASSWORD_COST.memoryKiB),
    passes: requireUint(value.passes, "password passes", MAX_PASSWORD_COST.passes),
    parallelism: requireUint(
      value.parallelism,
      "password parallelism",
      MAX_PASSWORD_COST.parallelism,
    ),
    changedAt: requireString(value.changedAt, "password change changedAt", 40),
    sig: requireString(value.sig, "password change sig", 88),
  };
  return change;
}

/** Throws ProtocolError unless `prev` signed the change, for this zone, to a usable key. */
export function checkPasswordChangeSignature(change: PasswordChange, zone: ZoneId): void {
  verifyKeyFromPublicKey(fromBase64url(change.publicKey) as Uint8Array);
  const signature = fromBase64url(change.sig);
  check(
    signature !== undefined &&
      verifyKeyFromPublicKey(fromBase64url(change.prev) as Uint8Array).verify(
        passwordChangeBytes(change, zone),
        signature,
      ),
    "it is not signed by the password it replaces",
  );
}

/**
 * Why `value` may not be written at `users/<user>/password-changes/<id>`, or undefined
 * when it may (protocol/write-rules.ts): a change of that user's password, signed by the
 * password it replaces, whose id is the key's. Any member may record one (the signature
 * is what counts); none may delete one.
 */
export function passwordChangeWriteProblem(
  key: string,
  value: string | null,
  zone: ZoneId,
): string | undefined {
  const [, user, , id, ...rest] = key.split("/");
  if (user === undefined || id === undefined || rest.length > 0) return `${key} is reserved`;
  if (value === null) return `${key} cannot be deleted`;
  try {
    const change = decodePasswordChange(JSON.parse(value), zone);
    check(change.user === user, `it changes the password of ${change.user}`);
    check(passwordChangeId(change, zone) === id, "its id is not the digest of what it says");
    return undefined;
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError)
      return `${key} must hold a password change signed by the password it replaces: ${error.message}`;
    throw error;
  }
}
