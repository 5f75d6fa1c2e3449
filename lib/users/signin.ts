/**
 * Signing people in at a gateway, with a password or a passkey, and enrolling them. Every
 * attempt is limited per client address at this gateway (token buckets: a burst, then one
 * every few seconds); a password's also per name at this gateway, and wrong passwords per
 * person across the whole zone (sign-in-failures.ts: more gateways give an attacker no more
 * guesses). A passkey cannot be guessed, so no one's password attempts hold a person's
 * passkey back. Each is logged: one info line for each way in opened, one warning for
 * each refused, saying why. A password is never logged, and never leaves this process
 * but as what Argon2id makes of it. A refusal says only "wrong name or password", however
 * it failed, and takes as long; a name's limit and a busy gateway answer alike whether
 * the name is a person's or not: that is no one's business.
 */
import { randomBytes } from "node:crypto";
import {
  type Credential,
  checkUserName,
  type UserName,
  userKeys,
} from "../../protocol/accounts.ts";
import { fromBase64url, toBase64url } from "../../protocol/encoding.ts";
import { passwordChangeId, signPasswordChange } from "../../protocol/password-change.ts";
import { passkeyChallenge, signPasswordProof } from "../../protocol/user-session.ts";
import { BuckyError } from "../errors.ts";
import { ceremonyId } from "../gateway/fellow-sign-in.ts";
import { TokenBucket } from "../gateway/limits.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { Enrollments } from "./enrollment.ts";
import {
  assertionOf,
  authenticationOptions,
  checkAssertion,
  checkRegistration,
  registrationOptions,
} from "./passkey.ts";
import { HashGate, newPassword, PASSWORD_COST, passwordKey, passwordProblem } from "./password.ts";
import { newClaims, signSession } from "./sessions.ts";
import { recordFailure, zoneFailureWaitMs } from "./sign-in-failures.ts";

/** Attempts per person: a burst of this many, then one per PERSON_REFILL_S. */
export const PERSON_BURST = 10;
export const PERSON_REFILL_S = 30;
/** Attempts per client address. */
export const ADDRESS_BURST = 30;
export const ADDRESS_REFILL_S = 5;
/** How long a passkey's challenge waits for the browser's answer. */
const CEREMONY_MS = 5 * 60_000;
const MAX_CEREMONIES = 1024;
const MAX_BUCKETS = 10_000;
/** What a refusal says, whatever went wrong. */
export const WRONG = "wrong name or password";

/** Where a person is signing in: the page's origin, and the host name passkeys belong to. */
export interface Place {
  readonly client: string;
  readonly origin: string;
  /** The gateway's host name, when it has one: passkeys need it. */
  readonly rpId: string | null;
}

/** Over a limit: try again after `retryAfterS`. */
export class TooManyAttempts extends Error {
  constructor(readonly retryAfterS: number) {
    super(`too many sign-in attempts: try again in ${retryAfterS} s`);
  }
}

type Ceremony =
  | {
      readonly kind: "signin";
      readonly user: UserName;
      readonly challenge: string;
      readonly claims: ReturnType<typeof newClaims>;
      readonly place: Place;
      readonly expiresAtMs: number;
    }
  | {
      readonly kind: "enroll";
      readonly token: string;
      readonly challenge: string;
      readonly place: Place;
      readonly expiresAtMs: number;
    };

export class SignIn {
  private readonly people = new Map<string, TokenBucket>();
  private readonly addresses = new Map<string, TokenBucket>();
  private readonly ceremonies = new Map<string, Ceremony>();
  private readonly hashing = new HashGate();
  readonly enrollments: Enrollments;

  constructor(
    private readonly node: NodeContext,
    private readonly log: Log,
  ) {
    this.enrollments = new Enrollments(node);
  }

  /** Signs `name` in with a password; the session cookie, or E_PERMISSION (WRONG). */
  async withPassword(name: string, password: string, place: Place): Promise<string> {
    const user = this.admit(name, place, "password");
    const person = user ? this.node.people().people.get(user) : undefined;
    const credential = [...(person?.credentials ?? new Map<string, Credential>()).entries()].find(
      ([, c]) => c.kind === "password",
    );
    if (user && person) this.limitZoneWide(user, place);
    if (!user || !person || !credential || credential[1].kind !== "password") {
      // As long as a real check, and as busy: neither the answer's time nor a busy gateway
      // says whether the name is a person's with a password.
      await passwordKey(password.slice(0, 1024), DUMMY_SALT, PASSWORD_COST, this.hashing);
      throw this.refuse(name, "password", place, !person ? "no such person" : "no password set up");
    }
    const [nonce, record] = credential;
    const key = await passwordKey(password.slice(0, 1024), record.salt, record, this.hashing);
    if (toBase64url(key.publicKey) !== record.publicKey) {
      recordFailure(this.node, user);
      throw this.refuse(user, "password", place, "wrong password");
    }
    const claims = newClaims(this.node, user);
    const cookie = signSession(this.node, claims, {
      k: "password",
      cred: nonce,
      sig: signPasswordProof(claims, key),
    });
    this.log.info("signed in", { user, with: "password", client: place.client });
    return cookie;
  }

  /**
   * Changes a signed-in person's password, given the one they have now: limited and
   * counted as a sign-in is (a stolen session must not be a way to guess the password).
   * The change is signed by the old password's key (protocol/password-change.ts), so every
   * gateway takes the new password and refuses the old one, and the sessions opened with
   * the old one, as soon as it hears of it. Returns a new session cookie for this browser,
   * whose session the change would end too.
   */
  async changePassword(
    user: UserName,
    current: string,
    next: string,
    place: Place,
  ): Promise<string> {
    this.admit(user, place, "password");
    this.limitZoneWide(user, place);
    const held = this.passwordOf(user);
    if (!held)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${user} has no password (a passkey, or a login link, signs them in): there is none to change`,
        "Ask an admin of the zone for a new link to set up a password (`bucky user reset`).",
      );
    const problem = passwordProblem(next, user);
    if (problem) throw new BuckyError("E_INVALID_INPUT", `that password will not do: ${problem}`);
    const [nonce, record] = held;
    const old = await passwordKey(current.slice(0, 1024), record.salt, record, this.hashing);
    if (toBase64url(old.publicKey) !== record.publicKey) {
      recordFailure(this.node, user);
      this.log.warn("password change refused", {
        user,
        client: place.client,
        reason: "wrong password",
      });
      throw new BuckyError(
        "E_PERMISSION",
        "that is not your password now",
        "Type the password you signed in with.",
      );
    }
    const { record: fresh, key } = await newPassword(next, this.hashing);
    // Looked at again: while the hashes ran, another change or a reset may have come in.
    if (this.passwordOf(user)?.[1].publicKey !== record.publicKey)
      throw new BuckyError(
        "E_UNAVAILABLE",
        `${user}'s password changed meanwhile`,
        "Sign in again, then try once more.",
      );
    const change = signPasswordChange(
      { user, cred: nonce, ...fresh, changedAt: new Date(this.node.now()).toISOString() },
      this.node.zoneId,
      old,
    );
    this.node.write([
      {
        key: userKeys.passwordChange(user, passwordChangeId(change, this.node.zoneId)),
        value: JSON.stringify(change),
      },
    ]);
    this.log.info("password changed", { user, client: place.client });
    const claims = newClaims(this.node, user);
    return signSession(this.node, claims, {
      k: "password",
      cred: nonce,
      sig: signPasswordProof(claims, key),
    });
  }

  /** Whether `user` has a password: its credential's nonce and record. */
  hasPassword(user: string): boolean {
    return this.passwordOf(user) !== undefined;
  }

  private passwordOf(
    user: string,
  ): [string, Extract<Credential, { kind: "password" }>] | undefined {
    for (const [nonce, credential] of this.node.people().people.get(user)?.credentials ?? [])
      if (credential.kind === "password") return [nonce, credential];
    return undefined;
  }

  /** A passkey sign-in begins: the options for the browser, and the ceremony to answer. */
  async passkeyOptions(
    name: string,
    place: Place,
  ): Promise<{ ceremony: string; options: unknown }> {
    const rpId = passkeyHost(place);
    const user = this.admit(name, place, "passkey");
    const person = user ? this.node.people().people.get(user) : undefined;
    const allow = [...(person?.credentials.values() ?? [])].flatMap((c) =>
      c.kind === "passkey" && c.rpId === rpId ? [c.id] : [],
    );
    if (!user || allow.length === 0)
      throw this.refuse(
        name,
        "passkey",
        place,
        person ? "no passkey for this host" : "no such person",
      );
    const claims = newClaims(this.node, user);
    const challenge = passkeyChallenge(claims);
    const ceremony = this.begin({
      kind: "signin",
      user,
      challenge,
      claims,
      place,
      expiresAtMs: this.node.now() + CEREMONY_MS,
    });
    const options = await authenticationOptions({
      rpId,
      challenge: fromBase64url(challenge) as Uint8Array,
      allow,
    });
    return { ceremony, options };
  }

  /** A passkey sign-in ends: the session cookie, if the browser's answer verifies. */
  async passkeyFinish(ceremonyId: string, response: unknown, place: Place): Promise<string> {
    const ceremony = this.take(ceremonyId, "signin", place);
    const user = ceremony.user;
    const assertion = assertionOf(response);
    const found = [...(this.node.people().people.get(user)?.credentials.entries() ?? [])].find(
      ([, c]) => c.kind === "passkey" && c.id === assertion.id,
    );
    const [nonce, credential] = found ?? [];
    if (nonce === undefined || credential?.kind !== "passkey")
      throw this.refuse(user, "passkey", place, "a passkey it does not know");
    try {
      await checkAssertion(assertion, credential, ceremony.challenge, place.origin);
    } catch (error) {
      if (error instanceof BuckyError) throw this.refuse(user, "passkey", place, withCause(error));
      throw error;
    }
    const cookie = signSession(this.node, ceremony.claims, {
      k: "passkey",
      cred: nonce,
      ad: assertion.ad,
      cd: assertion.cd,
      sig: assertion.sig,
    });
    this.log.info("signed in", { user, with: "passkey", client: place.client });
    return cookie;
  }

  /** Enrolls with a password, and signs the person in with it. */
  async enrollPassword(token: string, password: string, place: Place): Promise<string> {
    this.limitAddress(place);
    return this.enrollments.complete(token, async (enrollment) => {
      const problem = passwordProblem(password, enrollment.user);
      if (problem) throw new BuckyError("E_INVALID_INPUT", `that password will not do: ${problem}`);
      const { record, key } = await newPassword(password, this.hashing);
      const claims = newClaims(this.node, enrollment.user);
      const cookie = signSession(this.node, claims, {
        k: "password",
        cred: enrollment.nonce,
        sig: signPasswordProof(claims, key),
      });
      return {
        credential: {
          v: 1,
          kind: "password",
          enrollment: enrollment.jws,
          ...record,
          createdAt: new Date(this.node.now()).toISOString(),
        },
        result: cookie,
      };
    });
  }

  /** An enrollment with a passkey begins: the options for the browser to make one. */
  async enrollPasskeyOptions(
    token: string,
    place: Place,
  ): Promise<{ ceremony: string; options: unknown }> {
    const rpId = passkeyHost(place);
    this.limitAddress(place);
    const { enrollment } = this.enrollments.open(token);
    const challenge = new Uint8Array(randomBytes(32));
    const ceremony = this.begin({
      kind: "enroll",
      token,
      challenge: toBase64url(challenge),
      place,
      expiresAtMs: this.node.now() + CEREMONY_MS,
    });
    const options = await registrationOptions({
      rpId,
      rpName: this.node.zone.zone.name,
      user: enrollment.user,
      challenge,
    });
    return { ceremony, options };
  }

  /** An enrollment with a passkey ends: the passkey is recorded (then sign in with it). */
  async enrollPasskeyFinish(
    ceremonyId: string,
    response: unknown,
    place: Place,
  ): Promise<{ user: string }> {
    const ceremony = this.take(ceremonyId, "enroll", place);
    return this.enrollments.complete(ceremony.token, async (enrollment) => {
      const made = await checkRegistration(response, {
        challenge: ceremony.challenge,
        origin: place.origin,
        rpId: passkeyHost(place),
      });
      return {
        credential: {
          v: 1,
          kind: "passkey",
          enrollment: enrollment.jws,
          id: made.id,
          publicKey: made.publicKey,
          rpId: passkeyHost(place),
          createdAt: new Date(this.node.now()).toISOString(),
        },
        result: { user: enrollment.user },
      };
    });
  }

  /**
   * The name an attempt is for, if it is one; throws TooManyAttempts past a limit: the
   * address's, and for a password the name's (passkeys cannot be guessed: a flood of
   * attempts in a person's name must not keep their passkey out).
   */
  private admit(name: string, place: Place, method: "password" | "passkey"): UserName | undefined {
    const checked = checkUserName(name, true);
    const user = checked.ok ? checked.name : undefined;
    this.limitAddress(place, user ?? "(not a name)", method);
    if (method === "passkey") return user;
    // Each name its own bucket, a person's or not, so a limit reached tells nothing of who
    // is one; a flood of made-up names is held by the addresses' limits and the hashing gate.
    const waitMs = take(this.people, user ?? "", PERSON_BURST, PERSON_REFILL_S, this.node.now);
    if (waitMs > 0) {
      this.log.warn("sign-in refused", {
        user: user ?? "(not a name)",
        with: method,
        client: place.client,
        reason: "too many attempts for this person",
      });
      throw new TooManyAttempts(Math.ceil(waitMs / 1000));
    }
    return user;
  }

  /** Refuses a password for `user` once the zone's gateways together were given too many wrong ones. */
  private limitZoneWide(user: UserName, place: Place): void {
    const waitMs = zoneFailureWaitMs(this.node, user);
    if (waitMs === 0) return;
    this.log.warn("sign-in refused", {
      user,
      with: "password",
      client: place.client,
      reason: "too many wrong passwords for this person at the zone's gateways",
    });
    throw new TooManyAttempts(Math.ceil(waitMs / 1000));
  }

  private limitAddress(place: Place, user?: string, method?: string): void {
    const waitMs = take(
      this.addresses,
      place.client,
      ADDRESS_BURST,
      ADDRESS_REFILL_S,
      this.node.now,
    );
    if (waitMs > 0) {
      this.log.warn("sign-in refused", {
        ...(user ? { user } : {}),
        ...(method ? { with: method } : {}),
        client: place.client,
        reason: "too many attempts from this address",
      });
      throw new TooManyAttempts(Math.ceil(waitMs / 1000));
    }
  }

  private refuse(name: string, method: string, place: Place, reason: string): BuckyError {
    const checked = checkUserName(name, true);
    this.log.warn("sign-in refused", {
      user: checked.ok ? checked.name : "(not a name)",
      with: method,
      client: place.client,
      reason,
    });
    return new BuckyError(
      "E_PERMISSION",
      WRONG,
      "Check the name and the password, or ask an admin of the zone for a new link.",
    );
  }

  private begin(ceremony: Ceremony): string {
    const now = this.node.now();
    for (const [id, held] of this.ceremonies)
      if (held.expiresAtMs <= now) this.ceremonies.delete(id);
    if (this.ceremonies.size >= MAX_CEREMONIES)
      throw new BuckyError(
        "E_UNAVAILABLE",
        "this gateway has too many sign-ins under way",
        "Try again in a moment.",
      );
    // It names this gateway: a browser sent to another of the zone's name finishes it here.
    const id = ceremonyId(this.node.deviceId);
    this.ceremonies.set(id, ceremony);
    return id;
  }

  /** A ceremony, taken once, from where it began. */
  private take<K extends Ceremony["kind"]>(
    id: string,
    kind: K,
    place: Place,
  ): Extract<Ceremony, { kind: K }> {
    const ceremony = this.ceremonies.get(id);
    this.ceremonies.delete(id);
    if (
      !ceremony ||
      ceremony.kind !== kind ||
      ceremony.expiresAtMs <= this.node.now() ||
      ceremony.place.origin !== place.origin
    )
      throw new BuckyError(
        "E_PERMISSION",
        "this passkey step is not one this gateway began, or it took too long",
        "Start again from the page.",
      );
    return ceremony as Extract<Ceremony, { kind: K }>;
  }
}

const DUMMY_SALT = toBase64url(new Uint8Array(16));

function passkeyHost(place: Place): string {
  if (!place.rpId)
    throw new BuckyError(
      "E_INVALID_INPUT",
      "passkeys need this gateway to be reached by a host name",
      "Use a password here, or open the gateway by its name (bucky gateway enable --host).",
    );
  return place.rpId;
}

/** Takes a token from `key`'s bucket; how long to wait when there is none. */
function take(
  buckets: Map<string, TokenBucket>,
  key: string,
  burst: number,
  refillS: number,
  now: () => number,
): number {
  let bucket = buckets.get(key);
  if (!bucket) {
    // Full: the oldest tenth goes (a bucket left alone that long is full again anyway).
    if (buckets.size >= MAX_BUCKETS)
      for (const old of [...buckets.keys()].slice(0, MAX_BUCKETS / 10)) buckets.delete(old);
    bucket = new TokenBucket(1 / refillS, burst, now);
    buckets.set(key, bucket);
  }
  const taken = bucket.take();
  return taken.ok ? 0 : taken.waitMs;
}

/** A refusal's words, with what a library said of it (for the log only). */
function withCause(error: BuckyError): string {
  if (error.cause === undefined) return error.message;
  return `${error.message} (${String((error.cause as Error)?.message ?? error.cause)})`;
}
