/**
 * Joining is refused, with a clear error and nothing written on either side, for bad
 * tokens, used-up, expired and revoked invitations, taken names and homes that have a zone.
 * A device that joins gets the zone's backup key from a device that holds it, sealed to
 * it, unless the invitation says not to.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  newHomePath,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

interface DevicesJson {
  devices: { name: string }[];
}

async function memberNames(home: string): Promise<string[]> {
  return (await buckyJson<DevicesJson>(["devices", "--home", home])).devices.map((d) => d.name);
}

async function refusedJoin(
  token: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ code: string; message: string; hint?: string; exitCode: number | null }> {
  const home = newHomePath();
  const result = await bucky(["join", token, "--home", home, "--json", ...args], { env });
  expect(result.stdout).toBe("");
  expect(existsSync(home)).toBe(false);
  return { ...jsonError(result), exitCode: result.exitCode };
}

describe("bucky join refuses", () => {
  let founder: Daemon;
  const invite = async (...args: string[]) =>
    await buckyJson<{ token: string; id: string }>(["invite", "--home", founder.home, ...args]);

  test("setup: a one-device zone", async () => {
    founder = (await startZone(["alpha"])).get("alpha") as Daemon;
    expect(await memberNames(founder.home)).toEqual(["alpha"]);
  });

  test("a used-up invitation, after its one use", async () => {
    const { token } = await invite("--uses", "1");
    await buckyJson(["join", token, "--home", newHomePath(), "--device", "beta", "--no-start"]);
    const refused = await refusedJoin(token, ["--device", "gamma"]);
    expect([refused.exitCode, refused.code, refused.message, refused.hint]).toEqual([
      1,
      "E_PERMISSION",
      'the inviting device refused: "the invitation has been used up", and says "Ask the zone\'s owner for a new invitation (`bucky invite`)."',
      "Ask the zone's owner for a new invitation (`bucky invite`).",
    ]);
    expect(await memberNames(founder.home)).toEqual(["alpha", "beta"]);
  });

  test("a revoked invitation", async () => {
    const { token, id } = await invite();
    await buckyJson(["invite", "revoke", id, "--home", founder.home]);
    const refused = await refusedJoin(token, ["--device", "delta"]);
    expect(refused.message).toContain("the invitation was revoked");
    const { invites } = await buckyJson<{ invites: { id: string; status: string }[] }>([
      "invite",
      "list",
      "--home",
      founder.home,
    ]);
    expect(invites.find((i) => i.id === id)?.status).toBe("revoked");
  });

  test("an expired invitation, before contacting anyone", async () => {
    const { token } = await invite("--ttl", "1s");
    await Bun.sleep(1100);
    const refused = await refusedJoin(token, ["--device", "delta"]);
    expect([refused.exitCode, refused.code]).toEqual([1, "E_PERMISSION"]);
    expect(refused.message).toStartWith("the invitation expired at ");
  });

  test("a forged invitation: payload altered", async () => {
    const { token } = await invite();
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 86400 })).toString("base64url")}.${signature}`;
    const refused = await refusedJoin(forged, ["--device", "delta"]);
    expect([refused.exitCode, refused.code]).toEqual([4, "E_INTEGRITY"]);
  });

  test("something that is not a token", async () => {
    const refused = await refusedJoin("hello", ["--device", "delta"]);
    expect([refused.exitCode, refused.code]).toEqual([2, "E_INVALID_INPUT"]);
  });

  test("a name already taken in the zone", async () => {
    const { token } = await invite();
    const refused = await refusedJoin(token, ["--device", "alpha"]);
    expect([refused.code, refused.message, refused.hint]).toEqual([
      "E_EXISTS",
      'the inviting device refused: "the zone already has a device named alpha", and says "Join with another name: --device <name>."',
      "Join with another name: --device <name>.",
    ]);
  });

  test("a device whose clock is off, before it is admitted: the invitation and the name stay usable", async () => {
    const { token } = await invite("--uses", "1");
    // Ten minutes off either way: past the window in which members take each other's
    // requests (5 min), so that, admitted, it could have made no request of the zone.
    for (const offsetMs of ["-600000", "600000"]) {
      const refused = await refusedJoin(token, ["--device", "late"], {
        BUCKY_CLOCK_OFFSET_MS: offsetMs,
      });
      expect([refused.exitCode, refused.code]).toEqual([1, "E_CLOCK"]);
      expect(refused.message).toContain(
        `your clock is 600 s ${offsetMs.startsWith("-") ? "behind" : "ahead of"} alpha's`,
      );
    }
    expect(await memberNames(founder.home)).toEqual(["alpha", "beta"]);
    // Its clock set right, it joins with the same invitation and name.
    const home = newHomePath();
    await buckyJson(["join", token, "--home", home, "--device", "late", "--no-start"]);
    expect(await memberNames(founder.home)).toEqual(["alpha", "beta", "late"]);
  });

  test("a home that already has a zone", async () => {
    const { token } = await invite();
    const result = await bucky([
      "join",
      token,
      "--home",
      founder.home,
      "--device",
      "delta",
      "--json",
    ]);
    expect(result.exitCode).toBe(1);
    expect(jsonError(result).code).toBe("E_EXISTS");
    expect(await memberNames(founder.home)).toEqual(["alpha", "beta", "late"]);
  });

  test("killed once admitted: the zone says it never came, and the same join again resumes", async () => {
    const { token, id } = await invite("--uses", "1");
    const home = newHomePath();
    const args = ["join", token, "--home", home, "--device", "ghost", "--no-start"];
    const killed = await bucky(args, { env: { BUCKY_TEST_KILL_AFTER: "admitted" } });
    expect(killed.signal).toBe("SIGKILL");
    // The zone lists it, never heard from, and says what to do.
    const { devices } = await buckyJson<{
      devices: { name: string; id: string; lastSeenAt: string | null }[];
    }>(["devices", "--home", founder.home]);
    const ghost = devices.find((d) => d.name === "ghost");
    expect(ghost?.lastSeenAt).toBeNull();
    const listed = await bucky(["devices", "--home", founder.home]);
    expect(listed.stdout).toContain(
      "! ghost was admitted but has never been heard from: if its `bucky join` was cut short, run the same command there again (it resumes); if that device is gone, revoke it (`bucky devices revoke ghost` on a device holding the owner key)",
    );
    // The same join again: the same device, under the same name, with its one-use invitation.
    const resumed = await buckyJson<{ device: { id: string; name: string } }>(args);
    expect(resumed.device).toEqual({ id: ghost?.id as string, name: "ghost" });
    expect(founder.log()).toMatch(/device admission resumed.*device=ghost/);
    expect(existsSync(join(home, "join.pending"))).toBe(false);
    expect(await memberNames(founder.home)).toEqual(["alpha", "beta", "ghost", "late"]);
    const { invites } = await buckyJson<{ invites: { id: string }[] }>([
      "invite",
      "list",
      "--home",
      founder.home,
    ]);
    expect(invites.map((i) => i.id)).not.toContain(id);
    // Its key is the zone's: it reads the zone's state as a member does.
    const status = await buckyJson<{ zone: { name: string } }>(["status", "--home", home]);
    expect(status.zone.name).toBe("home");
  });

  test("killed once admitted, then asked again under another name and once its invitation expired: the join still resumes as the device admitted", async () => {
    const { token, expiresAt } = await buckyJson<{ token: string; expiresAt: string }>([
      ...["invite", "--home", founder.home, "--uses", "1", "--ttl", "4s"],
    ]);
    const home = newHomePath();
    const args = ["join", token, "--home", home, "--no-start", "--json"];
    const killed = await bucky([...args, "--device", "cut"], {
      env: { BUCKY_TEST_KILL_AFTER: "admitted" },
    });
    expect(killed.signal).toBe("SIGKILL");
    // Another name: refused, with the name the zone admitted it as; its key stays.
    const renamed = await bucky([...args, "--device", "other"]);
    expect(renamed.exitCode).toBe(1);
    const refused = jsonError(renamed);
    expect(refused.code).toBe("E_EXISTS");
    expect(refused.message).toContain("already a member of the zone, as cut");
    expect(refused.hint).toStartWith(
      "This home holds the key of a join with this invitation that was cut short",
    );
    expect(existsSync(join(home, "join.pending"))).toBe(true);
    // The next morning: the invitation expired; the same join resumes all the same.
    await waitFor("the invitation to expire", () =>
      Date.now() > Date.parse(expiresAt) + 1000 ? true : undefined,
    );
    const resumed = await buckyJson<{ device: { name: string } }>([...args, "--device", "cut"]);
    expect(resumed.device.name).toBe("cut");
    expect(founder.log()).toMatch(/device admission resumed.*device=cut/);
    // And a new device with it is refused, as before.
    const late = await refusedJoin(token, ["--device", "latecomer"]);
    expect([late.code, late.message]).toEqual([
      "E_PERMISSION",
      expect.stringMatching(/^the invitation expired at /),
    ]);
  });

  test("when the inviting device is not running", async () => {
    const { token } = await invite();
    await founder.stop();
    const refused = await refusedJoin(token, ["--device", "delta"]);
    expect([refused.exitCode, refused.code]).toEqual([3, "E_UNAVAILABLE"]);
    expect(refused.message).toStartWith("cannot reach the inviting device");
  });
});

describe("the backup key on join", () => {
  let founder: Daemon;

  test("a device that joins gets the zone's backup key, and can back up at once", async () => {
    founder = (await startZone(["alpha"])).get("alpha") as Daemon;
    const invite = await buckyJson<{ token: string; givesBackupKey: boolean }>([
      "invite",
      "--home",
      founder.home,
    ]);
    expect(invite.givesBackupKey).toBe(true);
    const home = newHomePath();
    const joined = await buckyJson<{ backupKey: boolean }>([
      "join",
      invite.token,
      "--home",
      home,
      "--device",
      "beta",
      "--no-start",
    ]);
    expect(joined.backupKey).toBe(true);
    const key = join(home, "identity", "backup.key");
    expect(readFileSync(key, "utf8")).toBe(
      readFileSync(join(founder.home, "identity", "backup.key"), "utf8"),
    );
    expect(lstatSync(key).mode & 0o777).toBe(0o600);
    // The owner key stays where it was.
    expect(existsSync(join(home, "identity", "owner.key"))).toBe(false);
    const status = await buckyJson<{ reliability: { warnings: string[] } }>([
      "status",
      "--home",
      home,
    ]);
    expect(status.reliability.warnings.join("\n")).not.toContain("it has no backup key");
  });

  test("not with an invitation made with --no-backup-key", async () => {
    const invite = await buckyJson<{ token: string; givesBackupKey: boolean }>([
      "invite",
      "--no-backup-key",
      "--home",
      founder.home,
    ]);
    expect(invite.givesBackupKey).toBe(false);
    const home = newHomePath();
    const joined = await buckyJson<{ backupKey: boolean }>([
      "join",
      invite.token,
      "--home",
      home,
      "--device",
      "gamma",
      "--no-start",
    ]);
    expect(joined.backupKey).toBe(false);
    expect(existsSync(join(home, "identity", "backup.key"))).toBe(false);
    const run = await bucky(["backup", "run", "--home", home, "--json"]);
    expect(jsonError(run).message).toBe("this device does not hold the backup key");
  });
});
