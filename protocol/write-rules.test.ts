import { describe, expect, test } from "bun:test";
import { signEnrollment, type UserName, userKeys } from "./accounts.ts";
import { keyEpochName, readKeyEpoch, signKeyEpoch } from "./backup/key-epoch.ts";
import type { Op } from "./changeset.ts";
import { signDeviceDocument, signRevocation, signZoneDocument } from "./documents.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toBase64url } from "./encoding.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import type { DeviceName, ZoneName } from "./names.ts";
import {
  LEVELED_KEY_PATTERNS,
  levelNeededFor,
  WRITE_RULES_LEVEL,
  writeProblem,
} from "./write-rules.ts";
import { FILES_BUDGET_KEY, PUBLIC_BUDGET_KEY, signBudget } from "./zone-budget.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const otherOwner = signingKeyFromSeed(new Uint8Array(32).fill(2));
const laptopKey = signingKeyFromSeed(new Uint8Array(32).fill(3));
const zone = zoneIdFromPublicKey(owner.publicKey);
const otherZone = zoneIdFromPublicKey(otherOwner.publicKey);
const laptopId = deviceIdFromPublicKey(laptopKey.publicKey);
const otherDeviceId = deviceIdFromPublicKey(otherOwner.publicKey);
const ISSUED_AT = 1_767_225_600;

const zoneDocument = signZoneDocument({ name: "home" as ZoneName, issuedAt: ISSUED_AT }, owner);
const foreignZoneDocument = signZoneDocument(
  { name: "home" as ZoneName, issuedAt: ISSUED_AT },
  otherOwner,
);
const laptopDoc = signDeviceDocument(
  { name: "laptop" as DeviceName, devicePublicKey: laptopKey.publicKey, issuedAt: ISSUED_AT },
  owner,
);
const foreignLaptopDoc = signDeviceDocument(
  { name: "laptop" as DeviceName, devicePublicKey: laptopKey.publicKey, issuedAt: ISSUED_AT },
  otherOwner,
);
const laptopRevoked = signRevocation(
  { id: laptopId, name: "laptop" as DeviceName, lastSeq: 9, issuedAt: ISSUED_AT },
  owner,
);
const foreignRevoked = signRevocation(
  { id: laptopId, name: "laptop" as DeviceName, lastSeq: 9, issuedAt: ISSUED_AT },
  otherOwner,
);

/** The value of a key holding a JWS: the JSON text of the compact string. */
const holding = (jws: string) => JSON.stringify(jws);

function problem(key: string, value: string | null, author = "laptop"): string | undefined {
  const op: Op = { key, value };
  return writeProblem(op, { name: author, id: laptopId }, zone);
}

describe("boot/config", () => {
  test("may hold this zone's owner-signed zone document, written by any member", () => {
    expect(problem("boot/config", holding(zoneDocument.jws))).toBeUndefined();
    expect(problem("boot/config", holding(zoneDocument.jws), "desktop")).toBeUndefined();
  });

  test("refuses another zone's document", () => {
    expect(problem("boot/config", holding(foreignZoneDocument.jws))).toBe(
      `boot/config must hold the zone document signed by the zone owner: zone document is for ${otherZone}, not ${zone}`,
    );
  });

  test("refuses a device document", () => {
    expect(problem("boot/config", holding(laptopDoc.jws))).toBe(
      "boot/config must hold the zone document signed by the zone owner: not a zone document (typ bucky-device/1)",
    );
  });

  test("refuses a value that is not a JWS string", () => {
    expect(problem("boot/config", JSON.stringify({ name: "home" }))).toBe(
      "boot/config must hold the zone document as a JWS string",
    );
    expect(problem("boot/config", '"not a jws"')).toBe(
      "boot/config must hold the zone document signed by the zone owner: JWS must have three dot-separated parts",
    );
  });

  test("is never deleted", () => {
    expect(problem("boot/config", null)).toBe("boot/config cannot be deleted");
  });

  test("leaves other keys under boot/ open", () => {
    expect(problem("boot/other", '"x"')).toBeUndefined();
    expect(problem("boot/config/x", null)).toBeUndefined();
  });
});

describe("devices/<n>/doc", () => {
  test("may hold the owner-signed document of device n, written by any member", () => {
    expect(problem("devices/laptop/doc", holding(laptopDoc.jws))).toBeUndefined();
    expect(problem("devices/laptop/doc", holding(laptopDoc.jws), "desktop")).toBeUndefined();
  });

  test("refuses the document of a device with another name", () => {
    expect(problem("devices/desktop/doc", holding(laptopDoc.jws))).toBe(
      "devices/desktop/doc must hold a device document signed by the zone owner: it is not the document of desktop",
    );
    expect(problem("devices/laptop2/doc", holding(laptopDoc.jws))).toBe(
      "devices/laptop2/doc must hold a device document signed by the zone owner: it is not the document of laptop2",
    );
  });

  test("refuses another zone's document", () => {
    expect(problem("devices/laptop/doc", holding(foreignLaptopDoc.jws))).toBe(
      "devices/laptop/doc must hold a device document signed by the zone owner: device document belongs to another zone",
    );
  });

  test("refuses a revocation or the zone document", () => {
    expect(problem("devices/laptop/doc", holding(laptopRevoked.jws))).toBe(
      "devices/laptop/doc must hold a device document signed by the zone owner: not a device document (typ bucky-revocation/1)",
    );
    expect(problem("devices/laptop/doc", holding(zoneDocument.jws))).toBe(
      "devices/laptop/doc must hold a device document signed by the zone owner: not a device document (typ bucky-zone/1)",
    );
  });

  test("is never deleted, not even by the device itself", () => {
    expect(problem("devices/laptop/doc", null)).toBe("devices/laptop/doc cannot be deleted");
  });

  test("refuses a document as a bare JSON object", () => {
    expect(problem("devices/laptop/doc", JSON.stringify({ jws: laptopDoc.jws }))).toBe(
      "devices/laptop/doc must hold a device document as a JWS string",
    );
  });
});

describe("devices/<n>/revoked", () => {
  test("may hold the owner-signed revocation naming n, written by any member", () => {
    expect(problem("devices/laptop/revoked", holding(laptopRevoked.jws))).toBeUndefined();
    expect(
      problem("devices/laptop/revoked", holding(laptopRevoked.jws), "desktop"),
    ).toBeUndefined();
  });

  test("refuses a revocation naming another device", () => {
    expect(problem("devices/desktop/revoked", holding(laptopRevoked.jws))).toBe(
      "devices/desktop/revoked must hold a revocation signed by the zone owner: it does not revoke desktop",
    );
  });

  test("refuses another zone's revocation", () => {
    expect(problem("devices/laptop/revoked", holding(foreignRevoked.jws))).toBe(
      "devices/laptop/revoked must hold a revocation signed by the zone owner: revocation belongs to another zone",
    );
  });

  test("refuses a device document", () => {
    expect(problem("devices/laptop/revoked", holding(laptopDoc.jws))).toBe(
      "devices/laptop/revoked must hold a revocation signed by the zone owner: not a revocation (typ bucky-device/1)",
    );
  });

  test("is never deleted: a revoked device stays revoked", () => {
    expect(problem("devices/laptop/revoked", null)).toBe(
      "devices/laptop/revoked cannot be deleted",
    );
    expect(problem("devices/laptop/revoked", null, "desktop")).toBe(
      "devices/laptop/revoked cannot be deleted",
    );
  });
});

describe("keys of one device", () => {
  test("devices/<n>/info is written and deleted by device n alone", () => {
    expect(problem("devices/laptop/info", '{"addrs":[]}', "laptop")).toBeUndefined();
    expect(problem("devices/laptop/info", null, "laptop")).toBeUndefined();
    expect(problem("devices/laptop/info", '{"addrs":[]}', "desktop")).toBe(
      "devices/laptop/info belongs to device laptop",
    );
    expect(problem("devices/laptop/info", null, "desktop")).toBe(
      "devices/laptop/info belongs to device laptop",
    );
  });

  test("nodes/<n>/… is written and deleted by device n alone, at any depth", () => {
    for (const key of ["nodes/laptop", "nodes/laptop/apps", "nodes/laptop/apps/notes/status"]) {
      expect(problem(key, '"running"', "laptop")).toBeUndefined();
      expect(problem(key, null, "laptop")).toBeUndefined();
      expect(problem(key, '"running"', "desktop")).toBe(`${key} belongs to device laptop`);
      expect(problem(key, null, "desktop")).toBe(`${key} belongs to device laptop`);
    }
  });

  test("a name is matched exactly, not by prefix", () => {
    expect(problem("nodes/laptop2/apps", '"x"', "laptop")).toBe(
      "nodes/laptop2/apps belongs to device laptop2",
    );
    expect(problem("devices/lap/info", '"x"', "laptop")).toBe(
      "devices/lap/info belongs to device lap",
    );
  });
});

describe("revoked-agents/<id>", () => {
  test("any member may revoke an agent's grant, and nobody may take it back", () => {
    for (const author of ["laptop", "desktop"]) {
      expect(problem("revoked-agents/abc", '{"agent":"helper"}', author)).toBeUndefined();
      expect(problem("revoked-agents/abc", null, author)).toBe(
        "revoked-agents/abc cannot be deleted: a revocation stands",
      );
    }
  });

  test.each(["revoked-agents", "revoked-agents/abc/extra"])("%s is reserved", (key) => {
    expect(problem(key, '"x"')).toBe(`${key} is reserved`);
  });
});

describe("system/public-budget and system/files-budget", () => {
  const AT_MS = 1_767_225_600_000;
  const budget = (bytes: number, key = owner, zoneId = zone) =>
    JSON.stringify(
      signBudget({ key: PUBLIC_BUDGET_KEY, zone: zoneId, bytes, atMs: AT_MS, owner: key }),
    );
  const at = (value: string | null, atMs = AT_MS) =>
    writeProblem(
      { key: "system/public-budget", value },
      { name: "laptop", id: laptopId },
      zone,
      atMs,
    );

  test("holds a budget the owner signed, written when it was signed", () => {
    expect(at(budget(0))).toBeUndefined();
    expect(at(budget(5_000_000), AT_MS + 60_000)).toBeUndefined();
  });

  test("refuses a plain number, a member's signature, another zone's and altered bytes", () => {
    expect(at("0")).toBe(
      'system/public-budget must hold a budget signed by the zone owner: it must be {"bytes": <n>, "signed": "<the owner\'s signature>"}',
    );
    expect(at(budget(0, laptopKey))).toBe(
      "system/public-budget must hold a budget signed by the zone owner: its signature is not the zone owner's",
    );
    expect(at(budget(0, otherOwner, otherZone))).toBe(
      "system/public-budget must hold a budget signed by the zone owner: it is another zone's",
    );
    const altered = { ...JSON.parse(budget(5)), bytes: 0 };
    expect(at(JSON.stringify(altered))).toBe(
      "system/public-budget must hold a budget signed by the zone owner: its bytes are not the ones the owner signed",
    );
  });

  test("system/files-budget is the owner's too, and one budget's signature is not the other's", () => {
    const files = (value: string | null) =>
      writeProblem({ key: FILES_BUDGET_KEY, value }, { name: "laptop", id: laptopId }, zone, AT_MS);
    const filesBudget = (bytes: number, by = owner) =>
      JSON.stringify(signBudget({ key: FILES_BUDGET_KEY, zone, bytes, atMs: AT_MS, owner: by }));
    expect(files(filesBudget(0))).toBeUndefined();
    expect(files("0")).toBe(
      'system/files-budget must hold a budget signed by the zone owner: it must be {"bytes": <n>, "signed": "<the owner\'s signature>"}',
    );
    expect(files(filesBudget(0, laptopKey))).toBe(
      "system/files-budget must hold a budget signed by the zone owner: its signature is not the zone owner's",
    );
    // The owner's budget for public files, written as the one for stored files.
    expect(files(budget(0))).toBe(
      "system/files-budget must hold a budget signed by the zone owner: its signature is not the zone owner's",
    );
    expect(files(null)).toBe(
      "system/files-budget cannot be deleted: the owner sets another budget instead",
    );
  });

  test("refuses an old budget of the owner's written again, and a deletion", () => {
    // Replaced two minutes later, the owner's budget is not undone by this one written again.
    for (const writtenAtMs of [AT_MS + 3_600_000, AT_MS + 120_000, AT_MS - 60_000])
      expect(at(budget(0), writtenAtMs)).toBe(
        "system/public-budget holds a budget the owner signed at 2026-01-01T00:00:00.000Z, not when it was written: an old budget cannot be written again",
      );
    expect(at(null)).toBe(
      "system/public-budget cannot be deleted: the owner sets another budget instead",
    );
  });
});

describe("agent-grants/<issuer id>/<id> (and <id>, as written before)", () => {
  const record = (id: string, issuer: string) => JSON.stringify({ agent: "helper", id, issuer });

  test("only the device its record names as issuer writes a grant's record", () => {
    expect(problem("agent-grants/abc", record("abc", laptopId))).toBeUndefined();
    expect(problem("agent-grants/abc", record("abc", otherDeviceId))).toBe(
      "agent-grants/abc belongs to the device that granted it, which its record names as issuer",
    );
  });

  test("a record of another grant, a value not a record, or a deletion is refused", () => {
    expect(problem("agent-grants/abc", record("xyz", laptopId))).toBe(
      "agent-grants/abc must hold the record of grant abc",
    );
    expect(problem("agent-grants/abc", "5")).toBe(
      "agent-grants/abc must hold the record of grant abc",
    );
    expect(problem("agent-grants/abc", null)).toBe(
      "agent-grants/abc cannot be deleted: a grant's record stands",
    );
  });

  test("under its issuer, only that device writes it, whatever issuer the record names", () => {
    expect(problem(`agent-grants/${laptopId}/abc`, record("abc", laptopId))).toBeUndefined();
    // Another device's grant: laptop may not write over it, naming itself issuer or not.
    for (const issuer of [laptopId, otherDeviceId])
      expect(problem(`agent-grants/${otherDeviceId}/abc`, record("abc", issuer))).toBe(
        `agent-grants/${otherDeviceId}/abc belongs to device ${otherDeviceId}, which granted it`,
      );
    expect(problem(`agent-grants/${laptopId}/abc`, record("xyz", laptopId))).toBe(
      `agent-grants/${laptopId}/abc must hold the record of grant abc`,
    );
    expect(problem(`agent-grants/${laptopId}/abc`, null)).toBe(
      `agent-grants/${laptopId}/abc cannot be deleted: a grant's record stands`,
    );
  });

  test.each(["agent-grants", "agent-grants/abc/def/extra"])("%s is reserved", (key) => {
    expect(problem(key, record("abc", laptopId))).toBe(`${key} is reserved`);
  });
});

describe("reserved keys", () => {
  test.each([
    "nodes",
    "devices",
    "devices/laptop",
    "devices/laptop/key",
    "devices/laptop/docs",
    "devices/laptop/doc/extra",
    "devices/laptop/revoked/extra",
    "devices/laptop/info/extra",
  ])("%s is reserved, even for device laptop and even to delete", (key) => {
    expect(problem(key, '"x"', "laptop")).toBe(`${key} is reserved`);
    expect(problem(key, null, "laptop")).toBe(`${key} is reserved`);
  });
});

describe("every other key", () => {
  test.each([
    "users/alice/apps/notes/spec",
    "apps/notes/spec",
    "device/laptop/info",
    "node/laptop",
    "Devices/laptop/doc",
    "boot",
    "x",
  ])("%s is open to any member, to write and to delete", (key) => {
    for (const author of ["laptop", "desktop"]) {
      expect(problem(key, '{"any":"value"}', author)).toBeUndefined();
      expect(problem(key, null, author)).toBeUndefined();
    }
  });
});

describe("system/backup/key-epochs/<n>", () => {
  const record = (n: number, signer = owner, forZone = zone) =>
    signKeyEpoch({
      zone: forZone,
      epoch: n,
      root: new Uint8Array(32).fill(9),
      revoked: laptopId,
      devices: [],
      owner: signer,
      random: (size) => new Uint8Array(size).fill(size),
    });
  /** Epoch n's name: its number and its check's first hex digits. */
  const named = (n: number) => keyEpochName(readKeyEpoch(record(n), zone));
  const epoch = (n: number, signer = owner, forZone = zone) =>
    JSON.stringify(
      toBase64url(
        signKeyEpoch({
          zone: forZone,
          epoch: n,
          root: new Uint8Array(32).fill(9),
          revoked: laptopId,
          devices: [],
          owner: signer,
          random: (size) => new Uint8Array(size).fill(size),
        }),
      ),
    );

  test("may hold key epoch n as the owner signed it, under its name, written by any member", () => {
    expect(problem(`system/backup/key-epochs/${named(1)}`, epoch(1))).toBeUndefined();
    expect(problem(`system/backup/key-epochs/${named(12)}`, epoch(12))).toBeUndefined();
  });

  test("refuses another epoch's record, another key's or zone's, or one not in base64url", () => {
    expect(problem(`system/backup/key-epochs/${named(2)}`, epoch(1))).toContain(
      "another epoch's record",
    );
    expect(problem(`system/backup/key-epochs/1-${"0".repeat(16)}`, epoch(1))).toContain(
      "another epoch's record",
    );
    expect(problem(`system/backup/key-epochs/${named(1)}`, epoch(1, laptopKey))).toContain(
      "signed by the zone owner",
    );
    expect(
      problem(`system/backup/key-epochs/${named(1)}`, epoch(1, otherOwner, otherZone)),
    ).toContain("signed by the zone owner");
    expect(problem(`system/backup/key-epochs/${named(1)}`, JSON.stringify("not!base64"))).toContain(
      "base64url",
    );
  });

  test("is never deleted; other names under it are reserved, other keys under system/ open", () => {
    expect(problem(`system/backup/key-epochs/${named(1)}`, null)).toContain("cannot be deleted");
    expect(problem("system/backup/key-epochs/1", epoch(1))).toContain("is reserved");
    expect(problem(`system/backup/key-epochs/0${named(1)}`, epoch(1))).toContain("is reserved");
    expect(problem(`system/backup/key-epochs/${named(1)}/x`, epoch(1))).toContain("is reserved");
    expect(problem("system/backup/targets/usb", "{}")).toBeUndefined();
    expect(problem("system/anything", null)).toBeUndefined();
  });
});

describe("write-rules levels: what a bucky of a lower level refuses", () => {
  const grant = (id: string) => JSON.stringify({ agent: "helper", id, issuer: laptopId });
  const enrolledAtMs = ISSUED_AT * 1000;
  const enrollment = (gateways?: string[]) =>
    signEnrollment(
      {
        zone,
        user: "ann" as UserName,
        creds: 1,
        gateway: laptopId,
        ...(gateways ? { gateways: gateways as (typeof laptopId)[] } : {}),
        nonce: new Uint8Array(16).fill(7),
        expiresAt: ISSUED_AT + 3600,
      },
      owner,
    );
  const credential = (jws: string) =>
    JSON.stringify({
      v: 1,
      kind: "password",
      enrollment: jws,
      salt: toBase64url(new Uint8Array(16).fill(5)),
      publicKey: toBase64url(laptopKey.publicKey),
      memoryKiB: 65_536,
      passes: 2,
      parallelism: 1,
      createdAt: "2026-01-01T00:00:00.000Z",
    });
  const several = enrollment([laptopId]);
  const one = enrollment();
  const keyEpoch = signKeyEpoch({
    zone,
    epoch: 2,
    root: new Uint8Array(32).fill(9),
    revoked: laptopId,
    devices: [],
    owner,
    random: (size) => new Uint8Array(size).fill(size),
  });
  const at = (op: Op, level?: number) =>
    writeProblem(op, { name: "laptop", id: laptopId }, zone, enrolledAtMs, level);

  /** Writes this bucky takes that a bucky of the level before refused. */
  const newKinds: Op[] = [
    { key: `agent-grants/${laptopId}/abc`, value: grant("abc") },
    {
      key: userKeys.credentialAt("ann", several.nonce, laptopId),
      value: credential(several.jws),
    },
  ];
  /** Writes every bucky of a level takes: of each rule, one it lets through. */
  const everyLevel: Op[] = [
    { key: "boot/config", value: holding(zoneDocument.jws) },
    { key: "devices/laptop/doc", value: holding(laptopDoc.jws) },
    { key: "devices/laptop/info", value: "{}" },
    { key: "nodes/laptop/apps/x", value: "1" },
    { key: "revoked-agents/abc", value: "{}" },
    { key: "agent-grants/abc", value: grant("abc") },
    { key: userKeys.credential("ann", one.nonce), value: credential(one.jws) },
    { key: "users/ann/apps/notes/spec", value: "{}" },
    {
      key: `system/backup/key-epochs/${keyEpochName(readKeyEpoch(keyEpoch, zone))}`,
      value: JSON.stringify(toBase64url(keyEpoch)),
    },
    { key: "system/other", value: "1" },
    { key: "photos/a", value: "1" },
  ];

  test("a new kind of write needs this level, and a lower one refuses it as the older bucky did", () => {
    expect(WRITE_RULES_LEVEL).toBe(1);
    for (const op of newKinds) {
      expect([op.key, at(op)]).toEqual([op.key, undefined]);
      expect([op.key, levelNeededFor(op)]).toEqual([op.key, 1]);
      expect([op.key, at(op, 0)]).toEqual([op.key, `${op.key} is reserved`]);
    }
  });

  test("every key that needs a level lies where a joining device's level is checked", () => {
    // SQLite's GLOB, where `*` takes any run of characters, slashes included.
    const globs = LEVELED_KEY_PATTERNS.map(
      (pattern) => new RegExp(`^${pattern.split("*").map(RegExp.escape).join(".*")}$`),
    );
    for (const op of newKinds)
      expect([op.key, globs.some((glob) => glob.test(op.key))]).toEqual([op.key, true]);
  });

  test("every other write is taken, or refused, alike at every level", () => {
    for (const op of everyLevel) {
      expect([op.key, at(op)]).toEqual([op.key, undefined]);
      expect([op.key, levelNeededFor(op), at(op, 0)]).toEqual([op.key, 0, undefined]);
    }
    // A key refused at this level is refused at a lower one for the same reason.
    for (const key of ["agent-grants/abc/def/extra", "devices/laptop/key", "nodes"])
      expect([key, at({ key, value: "1" }, 0)]).toEqual([key, at({ key, value: "1" })]);
  });
});
