/**
 * The zone's invitations are seen and revoked from any device: one made on alpha is
 * listed alike on beta (with alpha stopped too, and naming alpha as the device that
 * admits with it), revoked from beta while alpha is down, and alpha refuses the join once
 * the revocation reaches it; a used-up invitation leaves every device's list.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import {
  answeredOnceHeld,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  newHomePath,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

interface Listed {
  id: string;
  inviter: string;
  createdAt: string;
  expiresAt: string;
  usesLeft: number;
  givesBackupKey: boolean;
  status: string;
  revokedBy: string[];
}

const list = async (home: string) =>
  (await buckyJson<{ invites: Listed[] }>(["invite", "list", "--home", home])).invites;

describe("invitations, zone-wide", () => {
  let alpha: Daemon;
  let beta: Daemon;
  let made: { token: string; id: string; expiresAt: string };

  test("setup: alpha and beta", async () => {
    const zone = await startZone(["alpha", "beta"]);
    alpha = zone.get("alpha") as Daemon;
    beta = zone.get("beta") as Daemon;
  });

  test("an invitation made on alpha is listed on beta, the same, naming alpha; alpha stopped too", async () => {
    made = await buckyJson(["invite", "--uses", "2", "--no-backup-key", "--home", alpha.home]);
    const expected = [
      {
        id: made.id,
        inviter: "alpha",
        createdAt: expect.any(String),
        expiresAt: made.expiresAt,
        usesLeft: 2,
        givesBackupKey: false,
        status: "active",
        revokedBy: [],
      },
    ];
    const seen = await waitFor("beta to list alpha's invitation", async () => {
      const invites = await list(beta.home);
      return invites.length > 0 ? invites : undefined;
    });
    expect(seen).toEqual(expected);
    expect(await list(alpha.home)).toEqual(seen);
    const text = await bucky(["invite", "list", "--home", beta.home]);
    expect(text.stdout).toContain("joins through alpha, which must be online");

    await alpha.stop();
    expect(await list(beta.home)).toEqual(seen);
  });

  test("revoked from beta while alpha is down; alpha refuses the join once it hears of it", async () => {
    const revoked = await buckyJson<Listed & { heardByInviter: boolean }>([
      "invite",
      "revoke",
      made.id,
      "--home",
      beta.home,
    ]);
    expect([revoked.status, revoked.inviter, revoked.revokedBy, revoked.heardByInviter]).toEqual([
      "revoked",
      "alpha",
      ["beta"],
      false,
    ]);
    // alpha comes back where the token says it is.
    const port = new URL(alpha.addresses[0] as string).port;
    alpha = await startDaemon(alpha.home, {}, { port: Number(port) });
    const onAlpha = await waitFor("alpha to hear of beta's revocation", async () => {
      const invites = await list(alpha.home);
      return invites[0]?.status === "revoked" ? invites : undefined;
    });
    expect(onAlpha).toEqual(await list(beta.home));
    expect(onAlpha.map((i) => [i.id, i.status, i.revokedBy])).toEqual([
      [made.id, "revoked", ["beta"]],
    ]);

    const home = newHomePath();
    const result = await bucky(["join", made.token, "--home", home, "--device", "gamma", "--json"]);
    expect(result.exitCode).toBe(1);
    expect(jsonError(result).message).toContain("the invitation was revoked");
    expect(existsSync(home)).toBe(false);
    // Revoking it again, from either device, changes nothing.
    const again = await buckyJson<Listed>(["invite", "revoke", made.id, "--home", beta.home]);
    expect(again.revokedBy).toEqual(["beta"]);
  });

  test("a used-up invitation leaves every device's list", async () => {
    const once = await buckyJson<{ token: string; id: string }>(["invite", "--home", alpha.home]);
    await waitFor("beta to list the new invitation", async () =>
      (await list(beta.home)).some((i) => i.id === once.id) ? true : undefined,
    );
    await buckyJson([
      "join",
      once.token,
      "--home",
      newHomePath(),
      "--device",
      "delta",
      "--no-start",
    ]);
    expect((await list(alpha.home)).map((i) => i.id)).toEqual([made.id]);
    await waitFor("beta to drop the used invitation", async () => {
      const ids = (await list(beta.home)).map((i) => i.id);
      return ids.includes(once.id) ? undefined : ids;
    });
    expect((await list(beta.home)).map((i) => i.id)).toEqual([made.id]);
  });

  test("revoked from beta, answered once alpha holds the revocation: a join racing it there is refused", async () => {
    const { token, id } = await buckyJson<{ token: string; id: string }>([
      "invite",
      "--home",
      alpha.home,
    ]);
    await waitFor("beta to list the new invitation", async () =>
      (await list(beta.home)).some((i) => i.id === id) ? true : undefined,
    );
    // alpha stopped (SIGSTOP): it cannot hear of the revocation until it is let go.
    const revoked = await answeredOnceHeld(
      [alpha],
      () => buckyJson<{ heardByInviter: boolean }>(["invite", "revoke", id, "--home", beta.home]),
      {
        what: "beta to write the revocation",
        seen: () => new RegExp(`invitation revoked.*id=${id}`).test(beta.log()),
      },
    );
    expect(revoked.heardByInviter).toBe(true);
    // Answered: alpha refuses the invitation from now on, however soon the joiner comes.
    const home = newHomePath();
    const result = await bucky(["join", token, "--home", home, "--device", "racer", "--json"]);
    expect([result.exitCode, jsonError(result).message]).toEqual([
      1,
      expect.stringContaining("the invitation was revoked"),
    ]);
    const text = await bucky(["invite", "revoke", id, "--home", beta.home]);
    expect(text.stdout).toContain("alpha, which admits with it, refuses it.");
  });

  test("an id no device issued is not found", async () => {
    const result = await bucky([
      "invite",
      "revoke",
      "AAAAAAAAAAAAAAAAAAAAAA",
      "--home",
      beta.home,
      "--json",
    ]);
    expect([result.exitCode, jsonError(result).code]).toEqual([1, "E_NOT_FOUND"]);
  });
});
