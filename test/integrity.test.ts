/**
 * Nothing read from a home is trusted: a tampered document, key file or database makes
 * `status` and `zone show` fail with an integrity error (exit 4) instead of answering;
 * rows of the state database edited at rest (or under a running daemon) are found, never
 * served, and mended by `bucky state repair` or `bucky backup restore latest`.
 */

import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BuckyError } from "../lib/errors.ts";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { PeerClient } from "../lib/node/peer-client.ts";
import { MemoryContacts } from "../lib/node/peers.ts";
import { peekCheckpointRecord } from "../lib/state/checkpoint-record.ts";
import { StateSeal } from "../lib/state/seal.ts";
import { verifyNow } from "../lib/state/verify.ts";
import { MIGRATIONS } from "../lib/store/migrate.ts";
import stateSealMigration from "../lib/store/migrations/0006-state-seal.sql" with { type: "text" };
import { decodeCbor, encodeCbor } from "../protocol/cbor.ts";
import { decodeChangeset } from "../protocol/changeset.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../protocol/ids.ts";
import { hashInviteSecret, verifyInvite } from "../protocol/invite.ts";
import { encodeJoinRequest } from "../protocol/join.ts";
import type { DeviceName } from "../protocol/names.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  newHomePath,
  scratchDir,
  startDaemon,
  startZone,
  stopProcess,
  userState,
  waitFor,
} from "./harness.ts";
import { peerOf } from "./member.ts";

afterAll(cleanUp);

const quiet = createLog({ level: "silent" });
/** The schema version of a home made before the seal. */
const BEFORE_THE_SEAL = MIGRATIONS.indexOf(stateSealMigration);

async function newZone(): Promise<string> {
  const home = newHomePath();
  await buckyJson(["init", "--home", home, "--device", "laptop"]);
  return home;
}

/** Rewrites one state value in place, the way an attacker with disk access could. */
function editState(home: string, key: string, edit: (jws: string) => string): void {
  const db = new Database(join(home, "state.db"));
  const row = db
    .query<{ value: string }, [string]>("SELECT value FROM state WHERE key = ?")
    .get(key);
  if (!row) throw new Error(`no state key ${key}`);
  db.query("UPDATE state SET value = ? WHERE key = ?").run(
    JSON.stringify(edit(JSON.parse(row.value))),
    key,
  );
  db.close();
}

/** Flips one character of the JWS part `part` (0 header, 1 payload, 2 signature). */
function flipInPart(jws: string, part: number): string {
  const parts = jws.split(".");
  const text = parts[part] as string;
  const i = Math.floor(text.length / 2);
  parts[part] = text.slice(0, i) + (text[i] === "A" ? "B" : "A") + text.slice(i + 1);
  return parts.join(".");
}

async function expectIntegrityError(home: string, messagePart: string): Promise<void> {
  for (const command of [["status"], ["zone", "show"]]) {
    const result = await bucky([...command, "--home", home, "--json"]);
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toBe("");
    const error = jsonError(result);
    expect(error.code).toBe("E_INTEGRITY");
    expect(error.message).toContain(messagePart);
  }
}

describe("a tampered zone is reported, not trusted", () => {
  test("zone document: signature altered", async () => {
    const home = await newZone();
    editState(home, "boot/config", (jws) => flipInPart(jws, 2));
    await expectIntegrityError(home, "the zone document");
  });

  test("zone document: name changed without re-signing", async () => {
    const home = await newZone();
    editState(home, "boot/config", (jws) => {
      const [header, payload, signature] = jws.split(".") as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
      const forged = Buffer.from(JSON.stringify({ ...claims, name: "evil" })).toString("base64url");
      return `${header}.${forged}.${signature}`;
    });
    await expectIntegrityError(home, "JWS signature does not verify");
  });

  test("zone document: replaced by another zone's", async () => {
    const home = await newZone();
    const other = await newZone();
    const db = new Database(join(other, "state.db"), { readonly: true });
    const foreign = db
      .query<{ value: string }, []>("SELECT value FROM state WHERE key = 'boot/config'")
      .get();
    db.close();
    editState(home, "boot/config", () => JSON.parse(foreign?.value as string));
    await expectIntegrityError(home, "the zone document");
  });

  test("device document: payload altered", async () => {
    const home = await newZone();
    editState(home, "devices/laptop/doc", (jws) => flipInPart(jws, 1));
    await expectIntegrityError(home, "the device document devices/laptop/doc");
  });

  test("device key file replaced by another valid key", async () => {
    const home = await newZone();
    const other = await newZone();
    writeFileSync(
      join(home, "identity", "device.key"),
      readFileSync(join(other, "identity", "device.key")),
    );
    await expectIntegrityError(home, "does not match this device's document");
  });

  test("device key file corrupted", async () => {
    const home = await newZone();
    writeFileSync(join(home, "identity", "device.key"), "bucky-device-key-v1:not base64\n");
    await expectIntegrityError(home, "is damaged");
  });

  test("owner key file replaced by another zone's", async () => {
    const home = await newZone();
    const other = await newZone();
    writeFileSync(
      join(home, "identity", "owner.key"),
      readFileSync(join(other, "identity", "owner.key")),
    );
    await expectIntegrityError(home, "is not the key of zone");
  });

  test("state database overwritten with garbage", async () => {
    const home = await newZone();
    writeFileSync(join(home, "state.db"), Buffer.alloc(8192, 0x5a));
    await expectIntegrityError(home, "is damaged");
  });
});

describe("key file permissions", () => {
  test("a key readable by others is restricted again, with a warning", async () => {
    const home = await newZone();
    const key = join(home, "identity", "device.key");
    chmodSync(key, 0o644);
    const result = await bucky(["status", "--home", home]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("key file was readable by others; restricted it to its owner");
    expect(statSync(key).mode & 0o777).toBe(0o600);
  });
});

/** Runs SQL on a home's state database, as someone with write access to the disk could. */
function sql(home: string, statement: string, ...params: (string | number | Uint8Array)[]) {
  const db = new Database(join(home, "state.db"));
  try {
    // A running daemon may be in a write of its own: wait for it, as any writer would.
    db.run("PRAGMA busy_timeout = 5000");
    db.query(statement).run(...params);
  } finally {
    db.close();
  }
}

interface ChangesetRow {
  readonly localOrder: number;
  readonly author: string;
  readonly seq: number;
  readonly bytes: Uint8Array;
}

/** The changeset row that wrote `key` last. */
function changesetWriting(home: string, key: string): ChangesetRow {
  const db = new Database(join(home, "state.db"), { readonly: true });
  try {
    const rows = db
      .query<ChangesetRow, []>(
        "SELECT local_order AS localOrder, author, seq, bytes FROM changesets ORDER BY local_order DESC",
      )
      .all();
    const row = rows.find((r) => decodeChangeset(r.bytes).ops.some((op) => op.key === key));
    if (!row) throw new Error(`no changeset wrote ${key}`);
    return row;
  } finally {
    db.close();
  }
}

/** Rewrites the bytes of the changeset that wrote `key`: [body, signature] → edit(…). */
function editChangeset(
  home: string,
  key: string,
  edit: (body: Record<string, unknown>, signature: Uint8Array) => [Uint8Array, Uint8Array],
): ChangesetRow {
  const row = changesetWriting(home, key);
  const [bodyBytes, signature] = decodeCbor(row.bytes, 1 << 20, "entry") as [
    Uint8Array,
    Uint8Array,
  ];
  const body = decodeCbor(bodyBytes, 1 << 20, "body") as Record<string, unknown>;
  sql(
    home,
    "UPDATE changesets SET bytes = ? WHERE local_order = ?",
    encodeCbor(edit(body, new Uint8Array(signature))),
    row.localOrder,
  );
  return row;
}

/** Turns a home back into what an earlier bucky left: the same tables, no seal. */
function madeBeforeTheSeal(home: string): void {
  sql(home, "DROP TABLE state_seal");
  sql(home, "ALTER TABLE invites DROP COLUMN mac");
  // Later migrations' column and tables, which a home from before the seal did not have either.
  sql(home, "ALTER TABLE invites DROP COLUMN gives_backup_key");
  for (const table of [
    "checkpoint",
    "checkpoint_base",
    "ndn_pins",
    "ndn_unreferenced",
    "ndn_collection",
    "state_rules",
  ])
    sql(home, `DROP TABLE ${table}`);
  sql(home, `PRAGMA user_version = ${BEFORE_THE_SEAL}`);
}

/** A zone whose state holds apps/a and apps/b, written through its daemon, now stopped. */
async function zoneWithState(): Promise<string> {
  const home = await newZone();
  const daemon = await startDaemon(home);
  await buckyJson(["state", "set", "apps/a", '"one"', "--home", home]);
  await buckyJson(["state", "set", "apps/b", '"two"', "--home", home]);
  await daemon.stop();
  return home;
}

/** The daemon refuses to start on `home`, with an integrity error whose message has `part`. */
async function expectDaemonRefuses(home: string, part: string): Promise<void> {
  let started: Daemon | undefined;
  try {
    started = await startDaemon(home);
  } catch (error) {
    expect(String(error)).toContain("(exit 4)");
    expect(String(error)).toContain('"code":"E_INTEGRITY"');
    expect(String(error)).toContain(part);
  }
  await started?.stop();
  expect(started).toBeUndefined();
}

/** `status` on `home` says `device` stopped over an altered state (`part` of its error), and what to do. */
async function expectStoppedSaid(home: string, device: string, part: string): Promise<void> {
  const { reliability } = await buckyJson<{
    reliability: {
      notes: { kind: string; device?: string; message?: string }[];
      warnings: string[];
    };
  }>(["status", "--home", home]);
  const note = reliability.notes.find((one) => one.kind === "stopped");
  expect(note).toMatchObject({ device, reason: "state-altered" });
  expect(note?.message).toContain(part);
  expect(reliability.warnings.find((one) => one.startsWith(`${device} stopped`))).toContain(
    `on ${device}, run \`bucky state repair\`, then \`bucky up\``,
  );
  // And in the list of devices, where one looks for how each is.
  const { devices } = await buckyJson<{ devices: { name: string; stopped: unknown }[] }>([
    "devices",
    "--home",
    home,
  ]);
  expect(devices.find((one) => one.name === device)?.stopped).toMatchObject({
    reason: "state-altered",
  });
  const listed = await bucky(["devices", "--home", home]);
  expect(listed.stdout).toContain(`! ${device} stopped on `);
}

/** `status` fails with an integrity error naming `part`, and says how to mend it. */
async function expectStatusRefuses(home: string, part: string): Promise<void> {
  const status = await bucky(["status", "--home", home, "--json"]);
  expect(status.exitCode).toBe(4);
  expect(status.stdout).toBe("");
  const error = jsonError(status);
  expect(error.code).toBe("E_INTEGRITY");
  expect(error.message).toContain(`the zone state in ${join(home, "state.db")} was altered`);
  expect(error.message).toContain(part);
  expect(error.hint).toContain("bucky state repair");
  expect(error.hint).toContain("bucky backup restore latest");
}

/** No read of the state answers: the daemon is not serving it. */
async function expectNoReads(home: string): Promise<void> {
  const read = await bucky(["state", "get", "apps/a", "--home", home, "--json"]);
  expect(read.exitCode).not.toBe(0);
  expect(read.stdout).toBe("");
}

describe("state.db rows edited at rest are found, and not served", () => {
  test("a value row edited", async () => {
    const home = await zoneWithState();
    sql(home, "UPDATE state SET value = ? WHERE key = 'apps/a'", '"evil"');
    await expectStatusRefuses(home, "state key apps/a differs from what its changesets give");
    await expectDaemonRefuses(home, "apps/a differs from what its changesets give");
    await expectNoReads(home);
  });

  test("a row deleted", async () => {
    const home = await zoneWithState();
    sql(home, "DELETE FROM state WHERE key = 'apps/b'");
    await expectStatusRefuses(home, "state key apps/b is missing");
    await expectDaemonRefuses(home, "state key apps/b is missing");
    await expectNoReads(home);
  });

  test("a row inserted", async () => {
    const home = await zoneWithState();
    sql(
      home,
      "INSERT INTO state SELECT 'apps/c', value, hlc_ms, hlc_counter, author, seq FROM state WHERE key = 'apps/a'",
    );
    await expectStatusRefuses(home, "state key apps/c is held, but no changeset wrote it");
    await expectDaemonRefuses(home, "apps/c is held, but no changeset wrote it");
    await expectNoReads(home);
  });

  test("a changeset's ops edited (its signature kept)", async () => {
    const home = await zoneWithState();
    const row = editChangeset(home, "apps/a", (body, signature) => [
      encodeCbor({ ...body, ops: [["apps/a", '"evil"']] }),
      signature,
    ]);
    await expectDaemonRefuses(home, `#${row.seq} has a bad signature`);
    await expectStatusRefuses(home, `#${row.seq} has a bad signature`);
    await expectNoReads(home);
  });

  test("a changeset's signature edited", async () => {
    const home = await zoneWithState();
    const row = editChangeset(home, "apps/b", (body, signature) => {
      signature[10] = (signature[10] as number) ^ 1;
      return [encodeCbor(body), signature];
    });
    await expectDaemonRefuses(home, `#${row.seq} has a bad signature`);
    await expectStatusRefuses(home, `#${row.seq} has a bad signature`);
    await expectNoReads(home);
  });

  test("two changesets' seq swapped", async () => {
    const home = await zoneWithState();
    const a = changesetWriting(home, "apps/a");
    const b = changesetWriting(home, "apps/b");
    sql(home, "UPDATE changesets SET seq = -1 WHERE local_order = ?", a.localOrder);
    sql(home, "UPDATE changesets SET seq = ? WHERE local_order = ?", a.seq, b.localOrder);
    sql(home, "UPDATE changesets SET seq = ? WHERE local_order = ?", b.seq, a.localOrder);
    // Read in seq order, the row numbered a's holds b's bytes first.
    await expectDaemonRefuses(home, `#${b.seq} is stored as #${a.seq}`);
    await expectStatusRefuses(home, `#${b.seq} is stored as #${a.seq}`);
    await expectNoReads(home);
  });

  test("a value edited while the daemon runs: the scheduled check stops it", async () => {
    const home = await newZone();
    const daemon = await startDaemon(home, { BUCKY_STATE_CHECK_EVERY_MS: "300" });
    await buckyJson(["state", "set", "apps/a", '"one"', "--home", home]);
    sql(home, "UPDATE state SET value = ? WHERE key = 'apps/a'", '"evil"');
    expect(await daemon.exited).toBe(4);
    expect(daemon.log()).toContain("FATAL");
    expect(daemon.log()).toContain("state key apps/a differs from what its changesets give");
    await expectStatusRefuses(home, "state key apps/a differs from what its changesets give");
    await expectNoReads(home);
  });

  test("a device stopped so tells the zone why: every other device says so, not to revoke it", async () => {
    const zone = await startZone(["alpha", "beta"], { BUCKY_STATE_CHECK_EVERY_MS: "300" });
    const [alpha, beta] = [zone.get("alpha"), zone.get("beta")] as [Daemon, Daemon];
    await buckyJson(["state", "set", "apps/a", '"one"', "--home", beta.home]);
    sql(beta.home, "UPDATE state SET value = ? WHERE key = 'apps/a'", '"evil"');
    expect(await beta.exited).toBe(4);
    expect(beta.log()).toMatch(/told the zone why this device stops told=1 of=1/);
    // alpha heard it from beta's last facts, beta gone: before, only that it went offline.
    await expectStoppedSaid(
      alpha.home,
      "beta",
      "state key apps/a differs from what its changesets give",
    );
  });

  test("a device altered while its daemon was off tells the zone why it does not start", async () => {
    const zone = await startZone(["alpha", "beta"]);
    const [alpha, beta] = [zone.get("alpha"), zone.get("beta")] as [Daemon, Daemon];
    await buckyJson(["state", "set", "apps/a", '"one"', "--home", beta.home]);
    await beta.stop();
    sql(beta.home, "UPDATE state SET value = ? WHERE key = 'apps/a'", '"evil"');
    await expectDaemonRefuses(beta.home, "apps/a differs from what its changesets give");
    await expectStoppedSaid(
      alpha.home,
      "beta",
      "state key apps/a differs from what its changesets give",
    );
  });

  test("a changeset edited while the daemon runs: the scheduled check stops it", async () => {
    const home = await newZone();
    const daemon = await startDaemon(home, { BUCKY_STATE_CHECK_EVERY_MS: "300" });
    await buckyJson(["state", "set", "apps/a", '"one"', "--home", home]);
    const row = editChangeset(home, "apps/a", (body, signature) => [
      encodeCbor({ ...body, ops: [["apps/a", '"evil"']] }),
      signature,
    ]);
    expect(await daemon.exited).toBe(4);
    expect(daemon.log()).toContain(`#${row.seq} has a bad signature`);
    await expectStatusRefuses(home, `#${row.seq} has a bad signature`);
  });

  test("an edit resealed with the device key while the daemon runs: the full verification stops it", async () => {
    const home = await newZone();
    const daemon = await startDaemon(home, {
      BUCKY_STATE_CHECK_EVERY_MS: "300",
      BUCKY_STATE_VERIFY_EVERY_MS: "300",
    });
    await buckyJson(["state", "set", "apps/a", '"one"', "--home", home]);
    // Someone who can read the device key edits a value and makes the seal match it.
    const seed = readKeyFile(join(home, "identity", "device.key"), "device", quiet);
    const seal = StateSeal.fromSeed(
      seed,
      deviceIdFromPublicKey(signingKeyFromSeed(seed).publicKey),
    );
    const db = new Database(join(home, "state.db"));
    try {
      db.transaction(() => {
        db.query("UPDATE state SET value = ? WHERE key = 'apps/a'").run('"evil"');
        const zone = db.query<{ zone_id: ZoneId }, []>("SELECT zone_id FROM node").get();
        const { tables } = verifyNow(db, seal, zone?.zone_id as ZoneId, { againstSeal: false });
        seal.write(db, { ...tables, verifiedAt: null, damage: null });
      })();
    } finally {
      db.close();
    }
    expect(await daemon.exited).toBe(4);
    expect(daemon.log()).toContain("state key apps/a differs from what its changesets give");
  });

  test("a home made before the seal: sealed on first open, edits found after", async () => {
    const home = await zoneWithState();
    madeBeforeTheSeal(home);
    expect((await bucky(["status", "--home", home, "--json"])).exitCode).toBe(0);
    sql(home, "UPDATE state SET value = ? WHERE key = 'apps/b'", '"evil"');
    await expectStatusRefuses(home, "state key apps/b differs from what its changesets give");
  });

  test("a home made before the seal and edited before the upgrade: found on first open", async () => {
    const home = await zoneWithState();
    madeBeforeTheSeal(home);
    sql(home, "UPDATE state SET value = ? WHERE key = 'apps/b'", '"evil"');
    await expectStatusRefuses(home, "state key apps/b differs from what its changesets give");
  });
});

describe("an invitation written into state.db", () => {
  test("does not admit a device: only invitations this device sealed do", async () => {
    const home = await newZone();
    const daemon = await startDaemon(home);
    const secret = new Uint8Array(32).fill(9);
    const invite = Buffer.alloc(16, 7).toString("base64url");
    sql(
      home,
      "INSERT INTO invites (id, secret_hash, created_at, expires_at, uses_left) VALUES (?, ?, ?, ?, 1)",
      invite,
      hashInviteSecret(secret),
      Date.now(),
      Date.now() + 3_600_000,
    );
    const stranger = signingKeyFromSeed(new Uint8Array(32).fill(66));
    const { zone } = await buckyJson<{ zone: { id: ZoneId } }>(["status", "--home", home]);
    const client = new PeerClient(stranger, new MemoryContacts(), Date.now);
    const request = new TextEncoder().encode(
      encodeJoinRequest(zone.id, { invite, secret, name: "intruder" as DeviceName }, stranger),
    );
    const refused = await client
      .post(await peerOf(daemon), "/v1/join", request, { contentType: "application/json" })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refused).toBeInstanceOf(BuckyError);
    expect((refused as BuckyError).message).toContain("the invitation is not valid on this device");
    const devices = await buckyJson<{ devices: { name: string }[] }>(["status", "--home", home]);
    expect(devices.devices.map((d) => d.name)).toEqual(["laptop"]);
  });

  test("a join saying a level of write rules that is no level is refused, its invitation kept", async () => {
    const home = await newZone();
    const daemon = await startDaemon(home);
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", home]);
    const invite = verifyInvite(token);
    const joiner = signingKeyFromSeed(new Uint8Array(32).fill(67));
    const client = new PeerClient(joiner, new MemoryContacts(), Date.now);
    const request = new TextEncoder().encode(
      encodeJoinRequest(
        invite.zone,
        { invite: invite.id, secret: invite.secret, name: "joiner" as DeviceName },
        joiner,
      ),
    );
    for (const level of ["abc", "-1", "1e3", "99999999999999999999", ""]) {
      const refused = await client
        .post(await peerOf(daemon), `/v1/join?writeRules=${level}`, request, {
          contentType: "application/json",
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect([level, (refused as BuckyError).code]).toEqual([level, "E_USAGE"]);
    }
    const { invites } = await buckyJson<{ invites: { id: string; usesLeft: number }[] }>([
      "invite",
      "list",
      "--home",
      home,
    ]);
    expect(invites.find((open) => open.id === invite.id)?.usesLeft).toBe(1);
    const devices = await buckyJson<{ devices: { name: string }[] }>(["status", "--home", home]);
    expect(devices.devices.map((d) => d.name)).toEqual(["laptop"]);
  });
});

describe("bucky up on an altered home", () => {
  const up = (home: string) =>
    bucky(["up", "--home", home, "--port", "0", "--listen", "127.0.0.1", "--json"], {
      env: { BUCKY_SUPERVISOR: "process" },
    });

  test("says the integrity error and starts nothing", async () => {
    const rows = await zoneWithState();
    sql(rows, "UPDATE state SET value = ? WHERE key = 'apps/a'", '"evil"');
    // A changeset the daemon's own start check finds, not the open check.
    const changes = await zoneWithState();
    editChangeset(changes, "apps/a", (body, signature) => [
      encodeCbor({ ...body, ops: [["apps/a", '"evil"']] }),
      signature,
    ]);
    for (const [home, found] of [
      [rows, "state key apps/a differs from what its changesets give"],
      [changes, "has a bad signature"],
    ] as const) {
      try {
        const result = await up(home);
        expect(result.exitCode).toBe(4);
        expect(jsonError(result)).toMatchObject({
          code: "E_INTEGRITY",
          message: expect.stringContaining(found),
        });
        expect(existsSync(join(home, "daemon.json"))).toBe(false);
      } finally {
        await bucky(["stop", "--home", home], { env: { BUCKY_SUPERVISOR: "process" } });
      }
    }
  });
});

describe("mending an edited state", () => {
  test("never under a daemon, one that does not answer (stopped) included", async () => {
    const home = await zoneWithState();
    const daemon = await startDaemon(home);
    expect(await stopProcess(daemon.pid)).toBe("stopped");
    try {
      const repair = await bucky(["state", "repair", "--home", home, "--json"]);
      expect([repair.exitCode, jsonError(repair)]).toEqual([
        3,
        {
          code: "E_UNAVAILABLE",
          message: "the daemon is running: the zone state cannot be repaired under it",
          hint: "Stop it first (`bucky stop`), then run this again.",
        },
      ]);
    } finally {
      process.kill(daemon.pid, "SIGCONT");
    }
    // Killed, its lock goes with it: the repair runs.
    await daemon.kill();
    expect(
      (await buckyJson<{ repaired: boolean }>(["state", "repair", "--home", home])).repaired,
    ).toBe(false);
  });

  test("bucky state repair rebuilds edited rows from the signed changesets", async () => {
    const home = await zoneWithState();
    sql(home, "UPDATE state SET value = ? WHERE key = 'apps/a'", '"evil"');
    sql(home, "DELETE FROM state WHERE key = 'apps/b'");
    const repaired = await buckyJson<{ repaired: boolean; dropped: unknown[] }>([
      "state",
      "repair",
      "--home",
      home,
    ]);
    expect(repaired).toMatchObject({ repaired: true, dropped: [] });
    expect((await bucky(["status", "--home", home, "--json"])).exitCode).toBe(0);
    await startDaemon(home);
    expect(
      (await buckyJson<{ value: unknown }>(["state", "get", "apps/a", "--home", home])).value,
    ).toBe("one");
    expect(
      (await buckyJson<{ value: unknown }>(["state", "get", "apps/b", "--home", home])).value,
    ).toBe("two");
  });

  test("bucky state repair rebuilds a document edited in the state", async () => {
    const home = await zoneWithState();
    editState(home, "devices/laptop/doc", (jws) => flipInPart(jws, 1));
    const damaged = await bucky(["status", "--home", home, "--json"]);
    expect(jsonError(damaged)).toMatchObject({
      code: "E_INTEGRITY",
      hint: expect.stringContaining("bucky state repair"),
    });
    const repaired = await buckyJson<{ found: string[] }>(["state", "repair", "--home", home]);
    expect(repaired.found).toEqual([
      "state key devices/laptop/doc differs from what its changesets give",
    ]);
    expect((await bucky(["status", "--home", home, "--json"])).exitCode).toBe(0);
  });

  test("bucky state repair on a sound state changes nothing", async () => {
    const home = await zoneWithState();
    expect(await buckyJson(["state", "repair", "--home", home])).toMatchObject({
      repaired: false,
      dropped: [],
    });
  });

  test("this device's own changeset edited: repair refuses, a restore mends it", async () => {
    const home = await zoneWithState();
    await buckyJson(["backup", "target", "add", "usb", join(scratchDir(), "repo"), "--home", home]);
    await buckyJson(["backup", "run", "--home", home]);
    const row = editChangeset(home, "apps/a", (body, signature) => [
      encodeCbor({ ...body, ops: [["apps/a", '"evil"']] }),
      signature,
    ]);
    await expectDaemonRefuses(home, `#${row.seq} has a bad signature`);
    const repair = await bucky(["state", "repair", "--home", home, "--json"]);
    expect(repair.exitCode).toBe(4);
    expect(jsonError(repair).message).toContain("this device's own changesets");
    expect(jsonError(repair).hint).toContain("bucky backup restore latest");

    await buckyJson(["backup", "restore", "latest", "--home", home]);
    expect((await bucky(["status", "--home", home, "--json"])).exitCode).toBe(0);
    await startDaemon(home);
    expect(
      (await buckyJson<{ value: unknown }>(["state", "get", "apps/a", "--home", home])).value,
    ).toBe("one");
  });

  test("another device's changeset the checkpoint keeps edited: repair drops it and the checkpoint is taken again", async () => {
    const zone = await startZone(["alpha", "beta"], FAST_CHECKPOINTS);
    const alpha = zone.get("alpha") as Daemon;
    const beta = zone.get("beta") as Daemon;
    await buckyJson(["state", "set", "apps/from-beta", '"kept"', "--home", beta.home]);
    const betaId = (await buckyJson<{ device: { id: string } }>(["status", "--home", beta.home]))
      .device.id;
    const heldOnAlpha = () => checkpointFrontier(alpha.home, betaId);
    // alpha holds a checkpoint covering beta's write, and beta's later one.
    await untilCheckpointCovers(alpha.home, "alpha", betaId, Date.now());
    await buckyJson(["state", "set", "apps/later", '"also"', "--home", beta.home]);
    await alpha.kill();
    // The last of beta's changesets the checkpoint covers, which alpha keeps: its signature edited.
    const seq = heldOnAlpha() as number;
    const db = new Database(join(alpha.home, "state.db"));
    const row = db
      .query<{ bytes: Uint8Array }, [string, number]>(
        "SELECT bytes FROM changesets WHERE author = ?1 AND seq = ?2",
      )
      .get(betaId, seq) as { bytes: Uint8Array };
    db.close();
    const [body, signature] = decodeCbor(row.bytes, 1 << 20, "entry") as [Uint8Array, Uint8Array];
    const edited = new Uint8Array(signature);
    edited[0] = (edited[0] as number) ^ 1;
    sql(
      alpha.home,
      "UPDATE changesets SET bytes = ? WHERE author = ? AND seq = ?",
      encodeCbor([body, edited]),
      betaId,
      seq,
    );
    await expectDaemonRefuses(alpha.home, `#${seq} has a bad signature`);

    const repaired = await buckyJson<{ repaired: boolean; dropped: { seq: number }[] }>([
      "state",
      "repair",
      "--home",
      alpha.home,
    ]);
    expect(repaired.repaired).toBe(true);
    expect(repaired.dropped.map((d) => d.seq)).toContain(seq);
    const back = await startDaemon(alpha.home, FAST_CHECKPOINTS);
    await waitFor("alpha to take the checkpoint again, then beta's later write", async () => {
      const read = await bucky(["state", "get", "apps/later", "--home", back.home, "--json"]);
      return read.exitCode === 0 && back.log().includes("checkpoint taken") ? true : undefined;
    });
    // Whole without beta: the full verification finds nothing to mend.
    await beta.kill();
    expect(await userState(back.home)).toEqual({ "apps/from-beta": "kept", "apps/later": "also" });
    await back.kill();
    expect(await buckyJson(["state", "repair", "--home", alpha.home])).toMatchObject({
      repaired: false,
    });
  }, 60_000);

  test("this device's own changeset the checkpoint keeps edited: repair, or the daemon's start, puts it back from a peer, keeping its later ones", async () => {
    const zone = await startZone(["alpha", "beta"], FAST_CHECKPOINTS);
    const alpha = zone.get("alpha") as Daemon;
    const beta = zone.get("beta") as Daemon;
    await buckyJson(["state", "set", "apps/from-alpha", '"kept"', "--home", alpha.home]);
    const alphaId = (await buckyJson<{ device: { id: string } }>(["status", "--home", alpha.home]))
      .device.id;
    await untilCheckpointCovers(alpha.home, "alpha", alphaId, Date.now());
    // A write of alpha's past the checkpoint: it must survive the repair as it is.
    await buckyJson(["state", "set", "apps/alpha-later", '"also"', "--home", alpha.home]);
    await waitFor("beta to hold alpha's later write", async () => {
      const read = await bucky(["state", "get", "apps/alpha-later", "--home", beta.home]);
      return read.exitCode === 0 ? true : undefined;
    });
    await alpha.kill();
    const seqsHeld = () => {
      const db = new Database(join(alpha.home, "state.db"), { readonly: true });
      try {
        return db
          .query<{ seq: number }, [string]>("SELECT seq FROM changesets WHERE author = ?1")
          .all(alphaId)
          .map((row) => row.seq);
      } finally {
        db.close();
      }
    };
    const heldBefore = seqsHeld();
    // alpha's founding changeset (the zone's documents: evidence the checkpoint keeps), one
    // byte of its signature flipped.
    const flipFounding = () => {
      const db = new Database(join(alpha.home, "state.db"));
      const row = db
        .query<{ bytes: Uint8Array }, [string]>(
          "SELECT bytes FROM changesets WHERE author = ?1 AND seq = 1",
        )
        .get(alphaId) as { bytes: Uint8Array };
      db.close();
      const edited = new Uint8Array(row.bytes);
      edited[edited.length - 1] = (edited[edited.length - 1] as number) ^ 1;
      sql(
        alpha.home,
        "UPDATE changesets SET bytes = ? WHERE author = ? AND seq = 1",
        edited,
        alphaId,
      );
    };
    flipFounding();
    const repaired = await buckyJson<{
      repaired: boolean;
      dropped: unknown[];
      restored: { seq: number; from: string }[];
    }>(["state", "repair", "--home", alpha.home]);
    expect(repaired).toMatchObject({
      repaired: true,
      dropped: [],
      restored: [{ seq: 1, from: "beta" }],
    });
    expect(seqsHeld()).toEqual(heldBefore);
    const back = await startDaemon(alpha.home, FAST_CHECKPOINTS);
    // Once more, with no command run: the daemon's start puts it back itself.
    await back.kill();
    flipFounding();
    const again = await startDaemon(alpha.home, FAST_CHECKPOINTS);
    expect(again.log()).toMatch(/own kept changesets put back.*from=beta/);
    // Every one it held is kept. The daemons' runs may have added their own (a checkpoint
    // endorsed, its addresses published anew when its port was taken while it was away):
    // compared whole, those failed the case under load.
    expect(seqsHeld()).toEqual(expect.arrayContaining(heldBefore));
    // Whole without beta: the full verification finds nothing to mend.
    await beta.kill();
    expect(await userState(again.home)).toEqual({
      "apps/from-alpha": "kept",
      "apps/alpha-later": "also",
    });
    await again.kill();
    expect(await buckyJson(["state", "repair", "--home", alpha.home])).toMatchObject({
      repaired: false,
      restored: [],
    });

    // With no peer answering, repair says so and changes nothing (the daemon's run since
    // may have written more of alpha's changesets: those too stay).
    const heldAlone = seqsHeld();
    flipFounding();
    const alone = await bucky(["state", "repair", "--home", alpha.home, "--json"]);
    expect(alone.exitCode).toBe(3);
    expect(jsonError(alone)).toMatchObject({ code: "E_UNAVAILABLE" });
    expect(jsonError(alone).message).toContain("#1 that its checkpoint keeps is damaged");
    expect(jsonError(alone).hint).toContain("Start the daemon of another device");
    expect(seqsHeld()).toEqual(heldAlone);
    // Nor can the daemon mend it at its start: it refuses, as before.
    await expectDaemonRefuses(alpha.home, "#1 has a bad signature");
  }, 60_000);

  test("this device's own changeset the checkpoint keeps edited after the zone compacted past it while away: repair, or the daemon's start, puts it back from what a peer still keeps", async () => {
    const zone = await startZone(["alpha", "beta", "gamma"], FAST_CHECKPOINTS);
    const alpha = zone.get("alpha") as Daemon;
    const beta = zone.get("beta") as Daemon;
    const alphaId = (await buckyJson<{ device: { id: string } }>(["status", "--home", alpha.home]))
      .device.id;
    const betaId = (await buckyJson<{ device: { id: string } }>(["status", "--home", beta.home]))
      .device.id;
    await buckyJson(["state", "set", "apps/from-alpha", '"kept"', "--home", alpha.home]);
    await untilCheckpointCovers(alpha.home, "alpha", alphaId, Date.now());
    await alpha.kill();
    const held = checkpointId(alpha.home);
    // Away, alpha misses a write, and the checkpoint beta and gamma agree on past it
    // (two of three): beta no longer holds the one alpha does.
    const away = Date.now();
    await buckyJson(["state", "set", "apps/while-away", '"written"', "--home", beta.home]);
    await untilCheckpointCovers(beta.home, "beta", betaId, away);
    expect(checkpointId(beta.home)).not.toBe(held);
    const founding = () => {
      const db = new Database(join(alpha.home, "state.db"), { readonly: true });
      try {
        return db
          .query<{ bytes: Uint8Array }, [string]>(
            "SELECT bytes FROM changesets WHERE author = ?1 AND seq = 1",
          )
          .get(alphaId)?.bytes as Uint8Array;
      } finally {
        db.close();
      }
    };
    const whole = new Uint8Array(founding());
    const edited = whole.slice();
    edited[edited.length - 1] = (edited[edited.length - 1] as number) ^ 1;
    sql(
      alpha.home,
      "UPDATE changesets SET bytes = ? WHERE author = ? AND seq = 1",
      edited,
      alphaId,
    );

    const repaired = await buckyJson<{
      repaired: boolean;
      restored: { seq: number; from: string }[];
    }>(["state", "repair", "--home", alpha.home]);
    expect(repaired.repaired).toBe(true);
    expect(repaired.restored.map((r) => r.seq)).toEqual([1]);
    expect(["beta", "gamma"]).toContain(repaired.restored[0]?.from as string);
    expect(new Uint8Array(founding())).toEqual(whole);
    // Back, alpha takes the zone's newer checkpoint and what it missed.
    const back = await startDaemon(alpha.home, FAST_CHECKPOINTS);
    await waitFor("alpha to have the write it missed", async () => {
      const read = await bucky(["state", "get", "apps/while-away", "--home", back.home, "--json"]);
      return read.exitCode === 0 ? true : undefined;
    });
    expect(await userState(back.home)).toEqual({
      "apps/from-alpha": "kept",
      "apps/while-away": "written",
    });

    // Once more, with no command run: away again past another compaction, its founding
    // changeset damaged, the daemon's start puts it back itself and goes on.
    await untilCheckpointCovers(back.home, "alpha", betaId, away);
    await back.kill();
    const heldAgain = checkpointId(alpha.home);
    const awayAgain = Date.now();
    await buckyJson(["state", "set", "apps/away-again", '"written"', "--home", beta.home]);
    await untilCheckpointCovers(beta.home, "beta", betaId, awayAgain);
    expect(checkpointId(beta.home)).not.toBe(heldAgain);
    sql(
      alpha.home,
      "UPDATE changesets SET bytes = ? WHERE author = ? AND seq = 1",
      edited,
      alphaId,
    );
    const again = await startDaemon(alpha.home, FAST_CHECKPOINTS);
    expect(again.log()).toMatch(/own kept changesets put back.*via=earlier/);
    expect(new Uint8Array(founding())).toEqual(whole);
    await waitFor("alpha to have the write it missed again", async () => {
      const read = await bucky(["state", "get", "apps/away-again", "--home", again.home]);
      return read.exitCode === 0 ? true : undefined;
    });
  }, 90_000);

  test("another device's changeset edited: repair drops it and a peer sends it again", async () => {
    const zone = await startZone(["alpha", "beta"]);
    const alpha = zone.get("alpha") as Daemon;
    const beta = zone.get("beta") as Daemon;
    await buckyJson(["state", "set", "apps/from-beta", '"kept"', "--home", beta.home]);
    await buckyJson(["state", "set", "apps/later", '"also"', "--home", beta.home]);
    await waitFor("alpha to hold beta's writes", async () => {
      const read = await bucky(["state", "get", "apps/later", "--home", alpha.home]);
      return read.exitCode === 0 ? true : undefined;
    });
    await alpha.stop();
    const row = editChangeset(alpha.home, "apps/from-beta", (body, signature) => [
      encodeCbor({ ...body, ops: [["apps/from-beta", '"evil"']] }),
      signature,
    ]);
    await expectDaemonRefuses(alpha.home, `#${row.seq} has a bad signature`);

    const repaired = await buckyJson<{ repaired: boolean; dropped: { seq: number }[] }>([
      "state",
      "repair",
      "--home",
      alpha.home,
    ]);
    expect(repaired.repaired).toBe(true);
    // That changeset, and the later ones of beta that chain to it.
    expect(repaired.dropped.map((d) => d.seq)).toContain(row.seq);
    await startDaemon(alpha.home);
    await waitFor("alpha to have beta's changesets again", async () => {
      const read = await bucky(["state", "get", "apps/later", "--home", alpha.home, "--json"]);
      return read.exitCode === 0 ? true : undefined;
    });
    expect(
      (
        await buckyJson<{ value: unknown }>([
          "state",
          "get",
          "apps/from-beta",
          "--home",
          alpha.home,
        ])
      ).value,
    ).toBe("kept");
  });
});

/** Checkpoints at cuts every half second, of what is over a second and a half old. */
const FAST_CHECKPOINTS = {
  BUCKY_CHECKPOINT_HORIZON_MS: "1500",
  BUCKY_CHECKPOINT_PERIOD_MS: "500",
  BUCKY_CHECKPOINT_EVERY_MS: "250",
};

/** How far of `author`'s feed the checkpoint `home` holds covers (undefined: none, or none of it). */
function checkpointFrontier(home: string, author: string): number | undefined {
  const db = new Database(join(home, "state.db"), { readonly: true });
  try {
    return peekCheckpointRecord(db)?.frontier.get(author);
  } finally {
    db.close();
  }
}

/** The id of the checkpoint `home` holds (undefined: none). */
function checkpointId(home: string): string | undefined {
  const db = new Database(join(home, "state.db"), { readonly: true });
  try {
    return peekCheckpointRecord(db)?.checkpoint.id;
  } finally {
    db.close();
  }
}

/** Waits until `device` (at `home`) holds a checkpoint cut after `since` that covers `author`. */
async function untilCheckpointCovers(
  home: string,
  device: string,
  author: string,
  since: number,
): Promise<void> {
  await waitFor(
    `a checkpoint of ${device}'s covering ${author}'s writes`,
    async () => {
      const status = await buckyJson<{
        disk: { device: string; usage: { state: { checkpoint: { cut: string } | null } } }[];
      }>(["status", "--disk", "--home", home]);
      const cut = status.disk.find((d) => d.device === device)?.usage.state.checkpoint?.cut;
      return cut && Date.parse(cut) > since && checkpointFrontier(home, author) ? true : undefined;
    },
    30_000,
  );
}
