import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  checkScopes,
  mayLookInto,
  mayReadState,
  mayUseData,
  signAgentToken,
  verifyAgentToken,
} from "./agent-token.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { type ZoneId, zoneIdFromPublicKey } from "./ids.ts";

const device = signingKeyFromSeed(randomBytes(32));
const zone = zoneIdFromPublicKey(signingKeyFromSeed(randomBytes(32)).publicKey);
const grant = {
  zone,
  agent: "helper",
  id: "abc",
  issuedAt: 1000,
  expiresAt: 2000,
  scopes: checkScopes({
    read: ["data/notes", "state:apps/"],
    write: ["data/inbox"],
    act: ["app.stop"],
  }),
};

describe("agent tokens", () => {
  test("round-trip, signed by the issuing device", () => {
    const token = signAgentToken(grant, device);
    const verified = verifyAgentToken(token, zone, 1500);
    expect(verified).toMatchObject({
      agent: "helper",
      id: "abc",
      expiresAt: 2000,
      scopes: grant.scopes,
    });
  });

  test("expired, another zone's, altered or badly signed: refused", () => {
    const token = signAgentToken(grant, device);
    expect(() => verifyAgentToken(token, zone, 2000)).toThrow("expired");
    expect(() => verifyAgentToken(token, "z".repeat(53) as ZoneId, 1500)).toThrow(ProtocolError);
    const [header, , signature] = token.split(".");
    const widened = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()),
        scopes: { read: ["data"], write: ["data"], act: [] },
      }),
    ).toString("base64url");
    expect(() => verifyAgentToken(`${header}.${widened}.${signature}`, zone, 1500)).toThrow(
      ProtocolError,
    );
  });
});

describe("scopes", () => {
  test("data scopes cover their directory and below, nothing beside it", () => {
    expect(mayUseData(grant.scopes, "read", "notes/todo.txt")).toBe(true);
    expect(mayUseData(grant.scopes, "read", "notes")).toBe(true);
    expect(mayUseData(grant.scopes, "read", "notes-old/x")).toBe(false);
    expect(mayUseData(grant.scopes, "read", "inbox/x")).toBe(false);
    expect(mayUseData(grant.scopes, "write", "inbox/x")).toBe(true);
    expect(mayUseData(grant.scopes, "write", "notes/x")).toBe(false);
  });

  test("a search enters the directories that hold something readable, and no others", () => {
    const deep = checkScopes({ read: ["data/photos/2024"] });
    expect(mayLookInto(deep, "photos")).toBe(true);
    expect(mayLookInto(deep, "photos/2024/trip")).toBe(true);
    expect(mayLookInto(deep, "photos/2023")).toBe(false);
    expect(mayLookInto(deep, "photo")).toBe(false);
  });

  test("state scopes cover their prefix", () => {
    expect(mayReadState(grant.scopes, "apps/music/volume")).toBe(true);
    expect(mayReadState(grant.scopes, "agents/x")).toBe(false);
  });

  test("scopes are normalized, and unknown or escaping ones refused", () => {
    expect(checkScopes({ read: ["data/./a//b/", "status", "status"] }).read).toEqual([
      "data/a/b",
      "status",
    ]);
    expect(() => checkScopes({ read: ["data/../identity"] })).toThrow("climbs out");
    expect(() => checkScopes({ read: ["everything"] })).toThrow("not a read scope");
    expect(() => checkScopes({ write: ["state"] })).toThrow("not a write scope");
    expect(() => checkScopes({ act: ["app.delete"] })).toThrow("not an action");
  });
});
