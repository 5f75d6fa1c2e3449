/**
 * Nothing read from a home is trusted: a tampered document, key file or database makes
 * `status` and `zone show` fail with an integrity error (exit 4) instead of answering.
 */

import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bucky, buckyJson, cleanUp, jsonError, newHomePath } from "./harness.ts";

afterAll(cleanUp);

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
