/**
 * Who the people of the zone are, read from its state: each account's highest rev (the
 * owner's is there even before the owner key wrote one), and the credentials that count
 * (made under an enrollment for the account's current `creds`). Everything that counts is
 * verified again as it is read: the write rules checked it when it arrived, and a damaged
 * database must not make a stranger someone (a password change no chain leads to counts
 * for nothing, and is only parsed).
 *
 * An enrollment that several gateways took (its link used at two at once) makes no
 * credential at all; a password is its credential's as its person last changed it
 * (protocol/password-change.ts), and none at all once a change was contested.
 */
import { or } from "drizzle-orm";
import {
  type Account,
  type Credential,
  decodeCredential,
  OWNER_USER,
  type Role,
  type UserName,
  verifyAccount,
  verifyEnrollment,
} from "../../protocol/accounts.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import {
  checkPasswordChangeSignature,
  type PasswordChange,
  readPasswordChange,
} from "../../protocol/password-change.ts";
import type { StateQueries } from "../store/db.ts";
import { keyGlob } from "../store/key-glob.ts";
import { state } from "../store/schema.ts";

export interface Person {
  readonly name: UserName;
  readonly role: Role;
  readonly rev: number;
  readonly creds: number;
  /** When the account was made or last changed (ms since the epoch); 0 for the owner's own. */
  readonly changedAtMs: number;
  /** The credentials that count, by the nonce of the enrollment that made each. */
  readonly credentials: ReadonlyMap<string, Credential>;
  /**
   * A link for the account's creds was taken at more than one gateway (leaked, or opened
   * twice across a partition): it made no way in, and whoever else took it has none
   * either. Only a new link (a reset) gives the person one.
   */
  readonly linkUsedTwice?: true;
  /**
   * Their password was changed two ways at once from the same one (at two gateways across
   * a partition): neither counts, nor the one before. Only a new link gives them one.
   */
  readonly passwordChangedTwoWays?: true;
  /**
   * When an account of this name was last removed (ms since the epoch, as the owner key
   * signed it), if it ever was: whatever was granted for the name until then belongs to
   * the person removed, not to whoever was added under the name since.
   */
  readonly removedAtMs?: number;
  /**
   * The rev of that removal: a share names the removals of the name it was made after
   * (AppSpec.sharedPastRemovals), which orders the two whatever the clocks of the devices
   * that wrote them, and whether or not one heard of the other.
   */
  readonly removedRev?: number;
}

export interface Directory {
  /** The people of the zone now: removed ones are not here. */
  readonly people: ReadonlyMap<string, Person>;
  /** The highest rev of every account ever made, removed or not: the next change's is one more. */
  readonly revs: ReadonlyMap<string, number>;
}

/** Whether a changed key is one the directory is made of. */
export function touchesPeople(key: string): boolean {
  return /^users\/[^/]+\/(account|credentials|password-changes)\//.test(key);
}

export function readDirectory(db: StateQueries, zone: ZoneId): Directory {
  const rows = db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(
      or(
        keyGlob("users/*/account/*"),
        keyGlob("users/*/credentials/*"),
        keyGlob("users/*/password-changes/*"),
      ),
    )
    .all();
  const accounts = new Map<string, Account>();
  /** The removal of the highest rev of each account removed once (Person.removedAtMs). */
  const removals = new Map<string, Account>();
  const found: { user: string; nonce: string; credential: Credential; creds: number }[] = [];
  const changes: PasswordChange[] = [];
  for (const { key, value } of rows) {
    const parts = key.split("/");
    if (value === null || parts.length < 4 || !touchesPeople(key)) continue;
    const [, user, field, id, at, ...rest] = parts as [string, string, string, string, string?];
    if (rest.length > 0 || (at !== undefined && field !== "credentials")) continue;
    try {
      const parsed: unknown = JSON.parse(value);
      if (field === "password-changes") {
        // Its signature is checked only if it continues a chain (changed, below).
        const change = readPasswordChange(parsed);
        if (change.user === user) changes.push(change);
      } else if (field === "account") {
        const account = verifyAccount(parsed as string, zone);
        if (account.user !== user || String(account.rev) !== id) continue;
        const removal = removals.get(user);
        if (account.role === null && (!removal || account.rev > removal.rev))
          removals.set(user, account);
        const held = accounts.get(user);
        if (!held || account.rev > held.rev) accounts.set(user, account);
      } else {
        const credential = decodeCredential(parsed);
        const enrollment = verifyEnrollment(credential.enrollment, zone);
        if (enrollment.user !== user || enrollment.nonce !== id) continue;
        // Where the write rules let it be: under the nonce alone for one gateway's, under
        // the nonce and a gateway it names for several's.
        if ((at === undefined) !== (enrollment.version === 1)) continue;
        if (at !== undefined && !enrollment.gateways.some((gateway) => gateway === at)) continue;
        found.push({ user, nonce: id, credential, creds: enrollment.creds });
      }
    } catch (error) {
      if (error instanceof ProtocolError || error instanceof SyntaxError) continue;
      throw error;
    }
  }
  const people = new Map<string, Person>();
  const revs = new Map<string, number>();
  for (const [user, account] of accounts) {
    revs.set(user, account.rev);
    if (account.role === null) continue;
    people.set(user, {
      name: account.user,
      role: account.role,
      rev: account.rev,
      creds: account.creds,
      changedAtMs: account.issuedAt * 1000,
      credentials: new Map(),
      ...(removals.has(user)
        ? {
            removedAtMs: (removals.get(user) as Account).issuedAt * 1000,
            removedRev: (removals.get(user) as Account).rev,
          }
        : {}),
    });
  }
  if (!people.has(OWNER_USER)) {
    people.set(OWNER_USER, {
      name: OWNER_USER,
      role: "owner",
      rev: 0,
      creds: 0,
      changedAtMs: 0,
      credentials: new Map(),
    });
  }
  // A link taken at more than one gateway made no credential: none of them counts.
  const takers = new Map<string, number>();
  for (const { user, nonce } of found)
    takers.set(`${user}/${nonce}`, (takers.get(`${user}/${nonce}`) ?? 0) + 1);
  for (const { user, nonce, credential, creds } of found) {
    const person = people.get(user);
    if (!person || person.creds !== creds) continue;
    if (takers.get(`${user}/${nonce}`) !== 1) {
      people.set(user, { ...person, linkUsedTwice: true });
      continue;
    }
    const current =
      credential.kind === "password" ? changed(credential, user, nonce, changes, zone) : credential;
    if (current) (person.credentials as Map<string, Credential>).set(nonce, current);
    else people.set(user, { ...(people.get(user) as Person), passwordChangedTwoWays: true });
  }
  return { people, revs };
}

/**
 * A password credential as its person last changed it: the end of the chain of changes
 * from the key it was made with, each signed by the one before. Undefined once a key was
 * changed two ways (protocol/password-change.ts: then no one's password counts).
 *
 * Only the changes that continue the chain have their signature checked: any member may
 * record changes signed by keys of its own, of no one's password, without end, and every
 * gateway reads the people again at each change of them.
 */
function changed(
  credential: Extract<Credential, { kind: "password" }>,
  user: string,
  nonce: string,
  changes: readonly PasswordChange[],
  zone: ZoneId,
): Credential | undefined {
  const mine = changes.filter((change) => change.user === user && change.cred === nonce);
  let current: Extract<Credential, { kind: "password" }> = credential;
  // Each step takes a change never taken before: a chain that comes back on itself ends.
  for (let step = 0; step <= mine.length; step++) {
    const next = mine.filter(
      (change) => change.prev === current.publicKey && signedByPrev(change, zone),
    );
    if (next.length === 0) return current;
    if (next.length > 1) return undefined;
    const [change] = next as [PasswordChange];
    current = {
      ...current,
      salt: change.salt,
      publicKey: change.publicKey,
      memoryKiB: change.memoryKiB,
      passes: change.passes,
      parallelism: change.parallelism,
      createdAt: change.changedAt,
    };
  }
  return undefined;
}

/** Whether a change holds (a damaged database may hold one that does not). */
function signedByPrev(change: PasswordChange, zone: ZoneId): boolean {
  try {
    checkPasswordChangeSignature(change, zone);
    return true;
  } catch (error) {
    if (error instanceof ProtocolError) return false;
    throw error;
  }
}
