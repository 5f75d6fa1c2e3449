import { describe, expect, test } from "bun:test";
import type { Role } from "../../protocol/accounts.ts";
import {
  type AccountActor,
  type AccountChange,
  checkAccountChange,
  checkDeviceChange,
  mayChangeAccount,
  mayChangeDevices,
} from "./account-rights.ts";

const person = (user: string, role: Role): AccountActor => ({ kind: "person", user, role });
const reset = (user: string, role: Role): AccountChange => ({ kind: "reset", user, role });

describe("who may change whose account", () => {
  test("the owner key's holder and the owner change anyone", () => {
    for (const actor of [{ kind: "owner-key" } as const, person("owner", "owner")])
      for (const change of [
        reset("owner", "owner"),
        reset("bob", "admin"),
        { kind: "remove", user: "bob", role: "admin" } as const,
        { kind: "add", role: "admin" } as const,
      ])
        expect(mayChangeAccount(actor, change)).toBe(true);
  });

  test("an admin manages members and children, and their own link only", () => {
    const bob = person("bob", "admin");
    expect(
      [
        reset("ann", "member"),
        reset("kid", "child"),
        { kind: "remove", user: "kid", role: "child" } as const,
        { kind: "add", role: "member" } as const,
        reset("bob", "admin"),
      ].map((change) => mayChangeAccount(bob, change)),
    ).toEqual([true, true, true, true, true]);
    expect(
      [
        reset("owner", "owner"),
        reset("eve", "admin"),
        { kind: "remove", user: "eve", role: "admin" } as const,
        { kind: "add", role: "admin" } as const,
      ].map((change) => mayChangeAccount(bob, change)),
    ).toEqual([false, false, false, false]);
  });

  test("signing out everywhere: an admin, members, children and themselves; never the owner or another admin", () => {
    const signOut = (user: string, role: Role): AccountChange => ({ kind: "sign-out", user, role });
    const bob = person("bob", "admin");
    expect(
      [
        signOut("ann", "member"),
        signOut("kid", "child"),
        signOut("bob", "admin"),
        signOut("eve", "admin"),
        signOut("owner", "owner"),
      ].map((change) => mayChangeAccount(bob, change)),
    ).toEqual([true, true, true, false, false]);
    expect(() => checkAccountChange(bob, signOut("owner", "owner"))).toThrow(
      "bob (admin) cannot sign out the owner",
    );
    expect(mayChangeAccount({ kind: "owner-key" }, signOut("owner", "owner"))).toBe(true);
    expect(mayChangeAccount(person("ann", "member"), signOut("kid", "child"))).toBe(false);
  });

  test("members and children change no one", () => {
    for (const actor of [person("ann", "member"), person("kid", "child")])
      expect(mayChangeAccount(actor, reset("kid", "child"))).toBe(false);
  });
});

describe("who may invite, revoke and approve devices", () => {
  test("the owner key's holder and the owner; no admin, member or child, nor a device's session", () => {
    const actors = [
      { kind: "owner-key" } as const,
      person("owner", "owner"),
      person("bob", "admin"),
      person("ann", "member"),
      person("kid", "child"),
      undefined,
    ];
    expect(actors.map(mayChangeDevices)).toEqual([true, true, false, false, false, false]);
    expect(() =>
      checkDeviceChange(person("bob", "admin"), { kind: "revoke", device: "laptop" }),
    ).toThrow("bob (admin) cannot revoke laptop: only the owner removes devices from the zone");
    expect(() => checkDeviceChange(person("bob", "admin"), { kind: "invite" })).toThrow(
      "bob (admin) cannot invite a device: only the owner adds devices to the zone",
    );
    expect(() =>
      checkDeviceChange(person("bob", "admin"), { kind: "approve-gateway", device: "laptop" }),
    ).toThrow("bob (admin) cannot approve laptop as a gateway: only the owner chooses");
    expect(() => checkDeviceChange({ kind: "owner-key" }, { kind: "invite" })).not.toThrow();
    expect(() =>
      checkDeviceChange(person("owner", "owner"), { kind: "approve-gateway", device: "laptop" }),
    ).not.toThrow();
  });
});
