/**
 * What a password leaves in the zone state: not the password, nor even its hash as such,
 * but an Ed25519 public key whose private half is derived from it. Argon2id (memory-hard:
 * 64 MiB and two passes by default, Bun.password's own cost) of the password and a salt of
 * its own, then HKDF-SHA256: a gateway that is given the right password gets the key back,
 * proves it by signing the session's claims, and every other gateway checks that signature
 * with the public key alone. Guessing the password from the state costs an Argon2id per
 * guess, as with any such hash.
 *
 * Argon2id runs on the runtime's thread pool (node:crypto's argon2), never on the event
 * loop; through a HashGate, at most MAX_AT_ONCE derivations run at once, so a flood of
 * sign-ins cannot take the device's memory.
 */
import { argon2, hkdfSync, randomBytes } from "node:crypto";
import type { PasswordCost } from "../../protocol/accounts.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { fromBase64url, toBase64url } from "../../protocol/encoding.ts";
import { BuckyError } from "../errors.ts";

export const PASSWORD_COST: PasswordCost = { memoryKiB: 65_536, passes: 2, parallelism: 1 };
export const SALT_BYTES = 16;
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 256;
/** Derivations at once: each takes `memoryKiB` of memory while it runs. */
const MAX_AT_ONCE = 2;
const KEY_LABEL = "bucky password key/1";

/** Lets at most MAX_AT_ONCE derivations run at once; one more is refused, not queued. */
export class HashGate {
  private running = 0;

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= MAX_AT_ONCE)
      throw new BuckyError(
        "E_UNAVAILABLE",
        "this gateway is busy checking other passwords",
        "Try again in a moment.",
      );
    this.running++;
    try {
      return await work();
    } finally {
      this.running--;
    }
  }
}

/** The signing key a password gives with this salt and cost. */
export function passwordKey(
  password: string,
  salt: string,
  cost: PasswordCost,
  gate: HashGate,
): Promise<SigningKey> {
  const saltBytes = fromBase64url(salt);
  if (!saltBytes) throw new BuckyError("E_INTERNAL", "a password's salt is not base64url");
  return gate.run(async () => {
    const tag = await new Promise<Buffer>((resolve, reject) =>
      argon2(
        "argon2id",
        {
          message: password,
          nonce: saltBytes,
          parallelism: cost.parallelism,
          tagLength: 32,
          memory: cost.memoryKiB,
          passes: cost.passes,
        },
        (error, derived) => (error ? reject(error) : resolve(derived)),
      ),
    );
    const seed = new Uint8Array(hkdfSync("sha256", tag, saltBytes, KEY_LABEL, 32));
    return signingKeyFromSeed(seed);
  });
}

/** Why a new password will not do, or undefined when it will. */
export function passwordProblem(password: string, user: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH)
    return `a password has at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH)
    return `a password has at most ${MAX_PASSWORD_LENGTH} characters`;
  if (password.toLowerCase() === user.toLowerCase()) return "a password is not your name";
  return undefined;
}

/** A new password's salt, cost and public key (what its credential records), and its key. */
export async function newPassword(
  password: string,
  gate: HashGate,
  cost: PasswordCost = PASSWORD_COST,
): Promise<{ record: { salt: string; publicKey: string } & PasswordCost; key: SigningKey }> {
  const salt = toBase64url(new Uint8Array(randomBytes(SALT_BYTES)));
  const key = await passwordKey(password, salt, cost, gate);
  return { record: { salt, publicKey: toBase64url(key.publicKey), ...cost }, key };
}
