import { describe, expect, test } from "bun:test";
import {
  CREDENTIAL_LATE_MS,
  type Credential,
  checkUserName,
  decodeCredential,
  signAccount,
  signEnrollment,
  type UserName,
  userKeys,
  userWriteProblem,
  verifyAccount,
  verifyEnrollment,
} from "./accounts.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toBase64url } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, type ZoneId, zoneIdFromPublicKey } from "./ids.ts";
import { signJws } from "./jws.ts";
import { writeProblem } from "./write-rules.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const zone = zoneIdFromPublicKey(owner.publicKey);
const stranger = signingKeyFromSeed(new Uint8Array(32).fill(2));
const gatewayKey = signingKeyFromSeed(new Uint8Array(32).fill(3));
const gateway = deviceIdFromPublicKey(gatewayKey.publicKey);
const memberKey = signingKeyFromSeed(new Uint8Array(32).fill(4));
const member = deviceIdFromPublicKey(memberKey.publicKey);
const ann = "ann" as UserName;
const AT = 1_800_000_000;

const account = (fields: Partial<Parameters<typeof signAccount>[0]> = {}, key = owner) =>
  signAccount({ zone, user: ann, rev: 1, role: "member", creds: 1, issuedAt: AT, ...fields }, key);

const enrollment = (fields: Partial<Parameters<typeof signEnrollment>[0]> = {}, key = owner) =>
  signEnrollment(
    {
      zone,
      user: ann,
      creds: 1,
      gateway,
      nonce: new Uint8Array(16).fill(7),
      expiresAt: AT + 3600,
      ...fields,
    },
    key,
  );

const password = (enrollmentJws: string): Credential => ({
  v: 1,
  kind: "password",
  enrollment: enrollmentJws,
  salt: toBase64url(new Uint8Array(16).fill(5)),
  publicKey: toBase64url(memberKey.publicKey),
  memoryKiB: 65_536,
  passes: 2,
  parallelism: 1,
  createdAt: "2027-01-15T08:00:00.000Z",
});

describe("names", () => {
  test("a person's name is a DNS label and no role word", () => {
    expect(checkUserName("ann")).toEqual({ ok: true, name: ann });
    for (const name of ["", "Ann", "ann!", "-ann", "member", "children", "everyone", "owner"])
      expect([name, checkUserName(name).ok]).toEqual([name, false]);
    // The owner's own account is named so.
    expect(checkUserName("owner", true)).toEqual({ ok: true, name: "owner" as UserName });
  });
});

describe("accounts", () => {
  test("an account signed by the owner verifies as it was signed", () => {
    const jws = account();
    expect(verifyAccount(jws, zone)).toEqual({
      zone,
      user: ann,
      rev: 1,
      role: "member",
      creds: 1,
      issuedAt: AT,
      jws,
    });
    expect(verifyAccount(account({ rev: 2, role: null }), zone).role).toBeNull();
  });

  test("one signed by anyone else, altered, or for another zone is refused", () => {
    expect(() => verifyAccount(account({}, stranger), zone)).toThrow(ProtocolError);
    const forged = signJws(
      { alg: "EdDSA", typ: "bucky-account/1", kid: zone },
      { zone, user: "ann", rev: 1, role: "admin", creds: 1, iat: AT },
      stranger,
    );
    expect(() => verifyAccount(forged, zone)).toThrow("signature does not verify");
    const jws = account();
    const flipped = `${jws.slice(0, -3)}${jws.at(-3) === "A" ? "B" : "A"}${jws.slice(-2)}`;
    expect(() => verifyAccount(flipped, zone)).toThrow(ProtocolError);
    const other = zoneIdFromPublicKey(stranger.publicKey) as ZoneId;
    expect(() => verifyAccount(account({ zone: other }, stranger), zone)).toThrow(ProtocolError);
  });

  test("only the owner's account is the owner's, and it is never removed", () => {
    expect(() => verifyAccount(account({ role: "owner" }), zone)).toThrow("only the owner's");
    expect(() =>
      verifyAccount(account({ user: "owner" as UserName, role: "admin" }), zone),
    ).toThrow("only the owner's");
    expect(() => verifyAccount(account({ user: "owner" as UserName, role: null }), zone)).toThrow(
      ProtocolError,
    );
    expect(() => verifyAccount(account({ creds: 2 }), zone)).toThrow("later rev");
  });
});

describe("enrollments and credentials", () => {
  test("an enrollment verifies with the owner's signature only", () => {
    const made = enrollment();
    expect(verifyEnrollment(made.jws, zone)).toEqual(made);
    expect(() => verifyEnrollment(enrollment({}, stranger).jws, zone)).toThrow(ProtocolError);
  });

  test("a credential is read with its limits", () => {
    const credential = password(enrollment().jws);
    expect(decodeCredential(credential)).toEqual(credential);
    for (const bad of [
      { ...credential, v: 2 },
      { ...credential, kind: "pin" },
      { ...credential, colour: "red" },
      { ...credential, salt: "AAAA" },
      { ...credential, memoryKiB: 10 ** 9 },
      { ...credential, publicKey: toBase64url(new Uint8Array(32)) },
    ])
      expect(() => decodeCredential(bad)).toThrow(ProtocolError);
  });
});

describe("who may write people's keys", () => {
  const write = (key: string, value: unknown, author = gateway, atMs?: number) =>
    writeProblem(
      { key, value: value === null ? null : JSON.stringify(value) },
      { name: "x", id: author },
      zone,
      atMs,
    );

  test("an account the owner signed, at its own name and rev, by any member", () => {
    expect(write(userKeys.account("ann", 1), account(), member)).toBeUndefined();
    expect(write(userKeys.account("bob", 1), account(), member)).toContain("account of ann");
    expect(write(userKeys.account("ann", 2), account(), member)).toContain("rev 1");
  });

  test("a member cannot make itself an account, or delete one", () => {
    expect(
      write(userKeys.account("ann", 1), account({ role: "admin" }, memberKey), member),
    ).toContain("must hold an account signed by the zone owner");
    expect(write(userKeys.account("ann", 1), null, member)).toContain("cannot be deleted");
    expect(write(userKeys.account("ann", 1), { role: "admin" }, member)).toContain(
      "must hold an account",
    );
  });

  test("a credential only from the gateway its enrollment names, under its nonce", () => {
    const made = enrollment();
    const key = userKeys.credential("ann", made.nonce);
    expect(write(key, password(made.jws), gateway)).toBeUndefined();
    // A member that saw the record cannot add a credential of its own with it.
    expect(write(key, password(made.jws), member)).toContain("only the gateway");
    expect(write(userKeys.credential("ann", "x".repeat(22)), password(made.jws))).toContain(
      "another one",
    );
    expect(write(userKeys.credential("bob", made.nonce), password(made.jws))).toContain("for ann");
    expect(write(key, password(enrollment({}, memberKey).jws), gateway)).toContain(
      "owner's enrollment",
    );
    expect(write(key, null, gateway)).toContain("cannot be deleted");
  });

  test("a credential only while its link works: the gateway it named cannot swap in its own key later", () => {
    const made = enrollment();
    const key = userKeys.credential("ann", made.nonce);
    const expiredMs = made.expiresAt * 1000;
    expect(write(key, password(made.jws), gateway, expiredMs - 1000)).toBeUndefined();
    // Made at the last moment by a gateway whose changesets run ahead: still taken.
    expect(write(key, password(made.jws), gateway, expiredMs + CREDENTIAL_LATE_MS)).toBeUndefined();
    // A day later, the owner's own passkey or password replaced by the gateway's: refused.
    expect(write(key, password(made.jws), gateway, expiredMs + 86_400_000)).toContain(
      "its enrollment had expired when it was written",
    );
  });

  test("an enrollment for several gateways: each records under its own id, none under another's", () => {
    const made = enrollment({ gateways: [gateway, member] });
    expect(verifyEnrollment(made.jws, zone)).toEqual(made);
    expect([made.version, made.gateways]).toEqual([2, [gateway, member]]);
    const value = password(made.jws);
    expect(
      write(userKeys.credentialAt("ann", made.nonce, gateway), value, gateway),
    ).toBeUndefined();
    expect(write(userKeys.credentialAt("ann", made.nonce, member), value, member)).toBeUndefined();
    // Under another's id: then one gateway could hide a second use of the link.
    expect(write(userKeys.credentialAt("ann", made.nonce, member), value, gateway)).toContain(
      "each under its own id",
    );
    // Under the nonce alone, where two gateways' records would be one key, the later winning.
    expect(write(userKeys.credential("ann", made.nonce), value, gateway)).toContain(
      "under the gateway's id",
    );
    // A gateway it does not name.
    const otherKey = signingKeyFromSeed(new Uint8Array(32).fill(9));
    const other = deviceIdFromPublicKey(otherKey.publicKey);
    expect(write(userKeys.credentialAt("ann", made.nonce, other), value, other)).toContain(
      "only the gateways",
    );
    // A first version's is recorded under its nonce alone.
    const single = enrollment();
    expect(
      write(userKeys.credentialAt("ann", single.nonce, gateway), password(single.jws), gateway),
    ).toContain("under its nonce alone");
    expect(write(`${userKeys.credentialAt("ann", made.nonce, gateway)}/x`, value)).toContain(
      "reserved",
    );
  });

  test("other keys under users/ stay open: the apps' specs live there", () => {
    expect(write("users/owner/apps/notes/spec", { app: "notes" }, member)).toBeUndefined();
    expect(write("users/ann/account", "x", member)).toContain("reserved");
    expect(write("users/ann/account/1/x", "x", member)).toContain("reserved");
    expect(userWriteProblem("users/ann/other/1", "1", member, zone)).toContain("reserved");
  });
});
