import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  type AgentScopes,
  checkScopes,
  claimedBy,
  mayLookInto,
  mayReadState,
  mayUseData,
  scopesHere,
  signAgentToken,
  verifyAgentToken,
} from "./agent-token.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, type ZoneId, zoneIdFromPublicKey } from "./ids.ts";
import { signJws } from "./jws.ts";

const owner = signingKeyFromSeed(randomBytes(32));
const device = signingKeyFromSeed(randomBytes(32));
const other = signingKeyFromSeed(randomBytes(32));
const zone = zoneIdFromPublicKey(owner.publicKey);
const laptop = { id: deviceIdFromPublicKey(device.publicKey), name: "laptop" };
const nas = { id: deviceIdFromPublicKey(other.publicKey), name: "nas" };
const grant = {
  zone,
  agent: "helper",
  id: "abc",
  issuedAt: 1000,
  expiresAt: 2000,
  scopes: checkScopes(
    { read: ["data/notes", "state:apps/"], write: ["data/inbox"], act: ["backup.run"] },
    "laptop",
  ),
};
const here = (scopes: AgentScopes, at = laptop) =>
  scopesHere({ ...grant, issuer: laptop.id, scopes }, at).scopes;

/** The token with its payload changed and signed again by `key` (a member's forgery). */
function resigned(
  token: string,
  change: (payload: Record<string, unknown>) => object,
  key = device,
): string {
  const [header, payload] = token.split(".") as [string, string];
  const decoded = JSON.parse(Buffer.from(payload, "base64url").toString());
  return signJws(
    {
      ...JSON.parse(Buffer.from(header, "base64url").toString()),
      kid: deviceIdFromPublicKey(key.publicKey),
    },
    change(decoded),
    key,
  );
}

describe("agent tokens", () => {
  test("round-trip, signed by the issuing device, data scopes naming it", () => {
    expect(grant.scopes).toEqual({
      read: ["data@laptop/notes", "state:apps/"],
      write: ["data@laptop/inbox"],
      act: ["backup.run"],
    });
    const token = signAgentToken(grant, device);
    expect(verifyAgentToken(token, zone, 1500)).toEqual({ ...grant, issuer: laptop.id });
  });

  test("expired, another zone's, altered or badly signed: refused", () => {
    const token = signAgentToken(grant, device);
    expect(() => verifyAgentToken(token, zone, 2000)).toThrow("expired");
    expect(() => verifyAgentToken(token, "z".repeat(53) as ZoneId, 1500)).toThrow(ProtocolError);
    const [header, , signature] = token.split(".");
    const widened = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()),
        scopes: { read: ["data@laptop"], write: ["data@laptop"], act: [] },
      }),
    ).toString("base64url");
    expect(() => verifyAgentToken(`${header}.${widened}.${signature}`, zone, 1500)).toThrow(
      ProtocolError,
    );
  });

  test("a version 1 token (its grants did not hold) is refused, saying to grant again", () => {
    const v1 = signJws(
      { alg: "EdDSA", typ: "bucky-agent/1", kid: laptop.id },
      { zone, sub: "helper", jti: "x", iat: 1000, exp: 2000, scopes: { read: ["data"] } },
      device,
    );
    expect(() => verifyAgentToken(v1, zone, 1500)).toThrow("grant the agent again");
  });

  test("scopes must be carried exactly in their plain form: no climbing, no encoding", () => {
    const token = signAgentToken(grant, device);
    for (const scope of [
      "data",
      "data/notes",
      "data@laptop/../identity",
      "data@laptop/a//b",
      "data@laptop/%2e%2e",
      "data@laptop/a\\b",
      "data@Laptop/x",
      "state:apps/../",
      "state:/apps",
      "state:",
    ]) {
      const forged = resigned(token, (p) => ({
        ...p,
        scopes: { read: [scope], write: [], act: [] },
      }));
      expect(() => verifyAgentToken(forged, zone, 1500)).toThrow(ProtocolError);
    }
    const unsorted = resigned(token, (p) => ({
      ...p,
      scopes: { read: ["status", "apps"], write: [], act: [] },
    }));
    expect(() => verifyAgentToken(unsorted, zone, 1500)).toThrow("not in order");
  });
});

describe("owner-level actions", () => {
  const operator = {
    ...grant,
    agent: "ops",
    scopes: checkScopes({ read: ["apps"], act: ["app.start", "app.stop"] }, "laptop"),
  };

  test("carry the owner key's consent, and verify with it", () => {
    const token = signAgentToken(operator, device, owner);
    expect(verifyAgentToken(token, zone, 1500).scopes.act).toEqual(["app.start", "app.stop"]);
  });

  test("cannot be signed without the owner key, or with another zone's", () => {
    expect(() => signAgentToken(operator, device)).toThrow("owner key");
    expect(() => signAgentToken(operator, device, other)).toThrow("not this zone's owner key");
  });

  test("a member's forgery is refused: no consent, a consent made for another grant, or a narrower one", () => {
    const noConsent = resigned(signAgentToken(grant, device), (p) => ({
      ...p,
      scopes: { read: [], write: [], act: ["app.stop"] },
    }));
    expect(() => verifyAgentToken(noConsent, zone, 1500)).toThrow("did not consent");
    // A consent the owner gave to another agent's grant, lifted into this one.
    const theirs = signAgentToken({ ...operator, agent: "theirs", id: "t" }, device, owner);
    const lifted = resigned(signAgentToken(grant, device), (p) => ({
      ...p,
      scopes: { read: [], write: [], act: ["app.stop"] },
      consent: (
        JSON.parse(Buffer.from(theirs.split(".")[1] as string, "base64url").toString()) as {
          consent: string;
        }
      ).consent,
    }));
    expect(() => verifyAgentToken(lifted, zone, 1500)).toThrow("another grant");
    // Consent to app.start alone does not cover app.stop.
    const startOnly = signAgentToken(
      { ...operator, scopes: { ...operator.scopes, act: ["app.start"] } },
      device,
      owner,
    );
    const widened = resigned(startOnly, (p) => ({
      ...p,
      scopes: { ...(p.scopes as object), act: ["app.start", "app.stop"] },
    }));
    expect(() => verifyAgentToken(widened, zone, 1500)).toThrow("every owner-level action");
    // Signed by another device with the owner's consent to this one's grant.
    const moved = resigned(signAgentToken(operator, device, owner), (p) => p, other);
    expect(() => verifyAgentToken(moved, zone, 1500)).toThrow("another grant");
  });
});

describe("scopes where the agent is served", () => {
  test("data scopes apply on their own device, granted by it, as plain data/<dir>", () => {
    const scopes = checkScopes({ read: ["data/notes", "status"], write: ["data"] }, "laptop");
    expect(here(scopes)).toEqual({ read: ["data/notes", "status"], write: ["data"], act: [] });
    // On another device, or granted by another device, they cover nothing.
    expect(scopesHere({ ...grant, issuer: laptop.id, scopes }, nas)).toEqual({
      scopes: { read: ["status"], write: [], act: [] },
      dataElsewhere: ["laptop"],
    });
    const claimed = checkScopes({ read: ["data@nas"] }, "laptop");
    expect(scopesHere({ ...grant, issuer: laptop.id, scopes: claimed }, nas).scopes.read).toEqual(
      [],
    );
  });

  test("backup.run applies on the device that granted it", () => {
    expect(here(grant.scopes).act).toEqual(["backup.run"]);
    expect(scopesHere({ ...grant, issuer: laptop.id }, nas).scopes.act).toEqual([]);
  });

  test("data scopes cover their directory and below, nothing beside it", () => {
    const scopes = here(grant.scopes);
    expect(mayUseData(scopes, "read", "notes/todo.txt")).toBe(true);
    expect(mayUseData(scopes, "read", "notes")).toBe(true);
    expect(mayUseData(scopes, "read", "notes-old/x")).toBe(false);
    expect(mayUseData(scopes, "read", "inbox/x")).toBe(false);
    expect(mayUseData(scopes, "write", "inbox/x")).toBe(true);
    expect(mayUseData(scopes, "write", "notes/x")).toBe(false);
  });

  test("a search enters the directories that hold something readable, and no others", () => {
    const deep = here(checkScopes({ read: ["data/photos/2024"] }, "laptop"));
    expect(mayLookInto(deep, "")).toBe(true);
    expect(mayLookInto(deep, "photos")).toBe(true);
    expect(mayLookInto(deep, "photos/2024/trip")).toBe(true);
    expect(mayLookInto(deep, "photos/2023")).toBe(false);
    expect(mayLookInto(deep, "photo")).toBe(false);
    expect(mayLookInto(here(checkScopes({ read: ["status"] }, "laptop")), "")).toBe(false);
  });

  test("state scopes cover their prefix", () => {
    expect(mayReadState(grant.scopes, "apps/music/volume")).toBe(true);
    expect(mayReadState(grant.scopes, "agents/x")).toBe(false);
  });

  test("scopes are normalized, and unknown or escaping ones refused", () => {
    expect(checkScopes({ read: ["data/./a//b/", "status", "status"] }, "laptop").read).toEqual([
      "data@laptop/a/b",
      "status",
    ]);
    expect(checkScopes({ read: ["data@nas/x/"] }, "laptop").read).toEqual(["data@nas/x"]);
    expect(() => checkScopes({ read: ["data/../identity"] }, "laptop")).toThrow("climbs out");
    expect(() => checkScopes({ read: ["data/%2e%2e/identity"] }, "laptop")).toThrow(
      "not a read scope",
    );
    expect(() => checkScopes({ read: ["state:apps/../x"] }, "laptop")).toThrow('".."');
    expect(() => checkScopes({ read: ["everything"] }, "laptop")).toThrow("not a read scope");
    expect(() => checkScopes({ write: ["state"] }, "laptop")).toThrow("not a write scope");
    expect(() => checkScopes({ act: ["app.delete"] }, "laptop")).toThrow("not an action");
  });
});

describe("who a refused token claims to be", () => {
  test("the agent and device when the device's signature holds, else nothing", () => {
    const token = signAgentToken(grant, device);
    expect(claimedBy(token)).toEqual({ agent: "helper", issuer: laptop.id });
    const [header, payload] = token.split(".");
    expect(claimedBy(`${header}.${payload}.${"A".repeat(86)}`)).toBeUndefined();
    expect(claimedBy("not-a-token")).toBeUndefined();
  });
});
