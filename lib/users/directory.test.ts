import { describe, expect, spyOn, test } from "bun:test";
import { signAccount, signEnrollment, type UserName, userKeys } from "../../protocol/accounts.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { toBase64url } from "../../protocol/encoding.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import * as passwordChanges from "../../protocol/password-change.ts";
import {
  type PasswordChange,
  passwordChangeId,
  signPasswordChange,
} from "../../protocol/password-change.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, seed } from "../state/test-db.ts";
import { readDirectory, touchesPeople } from "./directory.ts";

const owner = signingKeyFromSeed(seed(1));

function zoneOf() {
  const node = openTestNode(7);
  const gateway = deviceIdFromPublicKey(node.key.publicKey);
  let clock = 1000;
  /** A second gateway, writing into the same state (the rules look at keys, not members). */
  const otherKey = signingKeyFromSeed(seed(8));
  const other = deviceIdFromPublicKey(otherKey.publicKey);
  const write = (key: string, value: unknown, by: "d7" | "d8" = "d7") => {
    clock += 1000;
    appendLocalChangeset(
      node.db,
      { zone: node.zone, name: by, key: by === "d7" ? node.key : otherKey, seal: node.seal },
      [{ key, value: JSON.stringify(value) }],
      clock,
    );
  };
  const account = (
    user: string,
    rev: number,
    role: "admin" | "member" | "child" | null,
    creds = rev,
  ) =>
    write(
      userKeys.account(user, rev),
      signAccount(
        { zone: node.zone, user: user as UserName, rev, role, creds, issuedAt: rev },
        owner,
      ),
    );
  const credential = (user: string, creds: number, nonceByte: number) => {
    const enrollment = signEnrollment(
      {
        zone: node.zone,
        user: user as UserName,
        creds,
        gateway,
        nonce: new Uint8Array(16).fill(nonceByte),
        expiresAt: 99,
      },
      owner,
    );
    write(userKeys.credential(user, enrollment.nonce), {
      v: 1,
      kind: "password",
      enrollment: enrollment.jws,
      salt: toBase64url(new Uint8Array(16).fill(1)),
      publicKey: toBase64url(signingKeyFromSeed(seed(nonceByte)).publicKey),
      memoryKiB: 1024,
      passes: 1,
      parallelism: 1,
      createdAt: "2027-01-01T00:00:00.000Z",
    });
    return enrollment.nonce;
  };
  /** A password made under an enrollment for both gateways, at those of `at`. */
  const takenAt = (user: string, creds: number, nonceByte: number, at: ("d7" | "d8")[]) => {
    const enrollment = signEnrollment(
      {
        zone: node.zone,
        user: user as UserName,
        creds,
        gateway,
        gateways: [gateway, other],
        nonce: new Uint8Array(16).fill(nonceByte),
        expiresAt: 99,
      },
      owner,
    );
    for (const by of at)
      write(
        userKeys.credentialAt(user, enrollment.nonce, by === "d7" ? gateway : other),
        {
          v: 1,
          kind: "password",
          enrollment: enrollment.jws,
          salt: toBase64url(new Uint8Array(16).fill(1)),
          publicKey: toBase64url(
            signingKeyFromSeed(seed(nonceByte + (by === "d7" ? 0 : 50))).publicKey,
          ),
          memoryKiB: 1024,
          passes: 1,
          parallelism: 1,
          createdAt: "2027-01-01T00:00:00.000Z",
        },
        by,
      );
    return enrollment.nonce;
  };
  /** `user`'s password `cred` changed from the key of seed `from` to that of seed `to`. */
  const change = (user: string, cred: string, from: number, to: number) => {
    const made = signPasswordChange(
      {
        user,
        cred,
        salt: toBase64url(new Uint8Array(16).fill(to)),
        publicKey: toBase64url(signingKeyFromSeed(seed(to)).publicKey),
        memoryKiB: 1024,
        passes: 1,
        parallelism: 1,
        changedAt: `2027-01-0${to % 9}T00:00:00.000Z`,
      },
      node.zone,
      signingKeyFromSeed(seed(from)),
    );
    write(userKeys.passwordChange(user, passwordChangeId(made, node.zone)), made);
  };
  /**
   * `count` changes of `user`'s password `cred` a member device made up, each signed by a
   * fresh key of its own (valid to the write rules: the signature is all they can check),
   * written as one changeset.
   */
  const madeUp = (user: string, cred: string, count: number): PasswordChange[] => {
    const signers = Array.from({ length: 16 }, (_, i) => signingKeyFromSeed(seed(200 + i)));
    const made = Array.from({ length: count }, (_, i) =>
      signPasswordChange(
        {
          user,
          cred,
          salt: toBase64url(new Uint8Array(16).fill(7)),
          // Not a key anyone can sign with: none is needed to flood.
          publicKey: toBase64url((signers[(i + 1) % signers.length] as SigningKey).publicKey),
          memoryKiB: 1024,
          passes: 1,
          parallelism: 1,
          changedAt: new Date(Date.UTC(2027, 0, 1) + i * 1000).toISOString(),
        },
        node.zone,
        signers[i % signers.length] as SigningKey,
      ),
    );
    // At most a megabyte per changeset.
    for (let from = 0; from < made.length; from += 1000) {
      clock += 1000;
      appendLocalChangeset(
        node.db,
        { zone: node.zone, name: "d8", key: otherKey, seal: node.seal },
        made.slice(from, from + 1000).map((one) => ({
          key: userKeys.passwordChange(user, passwordChangeId(one, node.zone)),
          value: JSON.stringify(one),
        })),
        clock,
      );
    }
    return made;
  };
  return {
    node,
    account,
    credential,
    takenAt,
    change,
    madeUp,
    read: () => readDirectory(node.db, node.zone),
  };
}

describe("the people of a zone", () => {
  test("the owner is there before any account was written", () => {
    const { read } = zoneOf();
    expect([...read().people.values()]).toEqual([
      {
        name: "owner" as UserName,
        role: "owner",
        rev: 0,
        creds: 0,
        changedAtMs: 0,
        credentials: new Map(),
      },
    ]);
  });

  test("each account is its highest rev: a role change, a removal", () => {
    const { account, read } = zoneOf();
    account("ann", 1, "member");
    account("kid", 1, "child");
    account("ann", 3, "admin", 1);
    account("ann", 2, "member");
    account("kid", 2, null);
    const directory = read();
    expect(directory.people.get("ann")).toMatchObject({ role: "admin", rev: 3, creds: 1 });
    expect(directory.people.has("kid")).toBe(false);
    expect(Object.fromEntries(directory.revs)).toEqual({ ann: 3, kid: 2 });
  });

  test("an account removed and made again says when it was last removed", () => {
    const { account, read } = zoneOf();
    account("ann", 1, "member");
    account("ann", 2, null);
    account("ann", 3, "member");
    account("ann", 4, null);
    account("ann", 5, "admin");
    account("bob", 1, "member");
    const { people } = read();
    // issuedAt is the rev, in seconds: the removal that counts is the last (rev 4).
    expect(people.get("ann")?.removedAtMs).toBe(4000);
    expect(people.get("bob")?.removedAtMs).toBeUndefined();
  });

  test("credentials count while their enrollment is for the account's creds", () => {
    const { account, credential, read } = zoneOf();
    account("ann", 1, "member");
    const first = credential("ann", 1, 11);
    expect([...(read().people.get("ann")?.credentials.keys() ?? [])]).toEqual([first]);
    // Reset: a new rev with new creds; the old credential no longer counts.
    account("ann", 2, "member");
    expect(read().people.get("ann")?.credentials.size).toBe(0);
    const second = credential("ann", 2, 12);
    expect([...(read().people.get("ann")?.credentials.keys() ?? [])]).toEqual([second]);
  });

  test("a link for several gateways makes a credential taken at one, none taken at two", () => {
    const { account, takenAt, read } = zoneOf();
    account("ann", 1, "member");
    account("bob", 1, "member");
    const annAt = takenAt("ann", 1, 21, ["d8"]);
    takenAt("bob", 1, 22, ["d7", "d8"]);
    const { people } = read();
    expect([...(people.get("ann")?.credentials.keys() ?? [])]).toEqual([annAt]);
    // Used at two gateways at once (leaked, or a partition): neither way in counts, and so
    // it is said (not a link never opened) until a new link.
    expect(people.get("bob")?.credentials.size).toBe(0);
    expect([people.get("bob")?.linkUsedTwice, people.get("ann")?.linkUsedTwice]).toEqual([
      true,
      undefined,
    ]);
    account("bob", 2, "member");
    expect(read().people.get("bob")?.linkUsedTwice).toBeUndefined();
  });

  test("a password is its credential's as last changed; changed two ways, it is none, and said so", () => {
    const { account, credential, change, read } = zoneOf();
    account("ann", 1, "member");
    const cred = credential("ann", 1, 31);
    const publicKey = () => {
      const found = read().people.get("ann")?.credentials.get(cred);
      return found?.kind === "password" ? found.publicKey : undefined;
    };
    const keyOf = (n: number) => toBase64url(signingKeyFromSeed(seed(n)).publicKey);
    change("ann", cred, 31, 32);
    // Signed by a key that was never ann's password: no part of the chain.
    change("ann", cred, 40, 41);
    change("ann", cred, 32, 33);
    expect(publicKey()).toBe(keyOf(33));
    expect(read().people.get("ann")?.passwordChangedTwoWays).toBeUndefined();
    // Someone who knew the password before last (32) changes it their own way: a fork.
    change("ann", cred, 32, 34);
    expect(read().people.get("ann")?.credentials.size).toBe(0);
    // Said so (user list, the panel): not as a person who never opened their link.
    expect(read().people.get("ann")?.passwordChangedTwoWays).toBe(true);
  });

  test("changes no password's chain leads to cost a parse each, not a signature check", () => {
    const { account, credential, change, madeUp, read } = zoneOf();
    account("ann", 1, "member");
    const cred = credential("ann", 1, 51);
    change("ann", cred, 51, 52);
    // A member device's flood: made-up changes are valid records no one can delete.
    const made = madeUp("ann", cred, 1000);
    const found = read().people.get("ann")?.credentials.get(cred);
    expect(found?.kind === "password" ? found.publicKey : undefined).toBe(
      toBase64url(signingKeyFromSeed(seed(52)).publicKey),
    );
    // Every gateway reads the people again at each change of them: once, it checked every
    // signature of the flood each time. Now only the change on ann's chain is checked.
    const checks = spyOn(passwordChanges, "checkPasswordChangeSignature");
    try {
      read();
      expect(made.length).toBe(1000);
      expect(checks).toHaveBeenCalledTimes(1);
    } finally {
      checks.mockRestore();
    }
  });

  test("what the directory is made of", () => {
    expect(touchesPeople("users/ann/account/3")).toBe(true);
    expect(touchesPeople("users/ann/credentials/abc")).toBe(true);
    expect(touchesPeople("users/ann/credentials/abc/gw")).toBe(true);
    expect(touchesPeople("users/ann/password-changes/abc")).toBe(true);
    expect(touchesPeople("users/owner/apps/notes/spec")).toBe(false);
    expect(touchesPeople("users/owner/apps/account/spec")).toBe(false);
  });
});
