/**
 * `--no-wait`: a zone write answered at once, not once another device holds it, for
 * scripts and for a person who knows their other devices are off. It says so (`waited:
 * false`, and a line on stderr), and the write still reaches the others as they come back.
 * The wait itself, without the flag, is what the tests of each command check
 * (answeredOnceHeld).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

let alpha: Daemon;
let beta: Daemon;

/** Less than the wait for another device (3 s): the answer did not wait for one. */
const AT_ONCE_MS = 2_000;

const NOTE =
  "Not waited for another device to hold the write (--no-wait): it is on this device alone until one syncs it.";

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"]);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
}, 60_000);

afterAll(cleanUp);

describe("a wait asked as neither on nor off", () => {
  test("is refused, and nothing is written", async () => {
    const asked = [
      ["--wait=maybe", '--wait is on or off, not "maybe"'],
      ["--no-wait=false", '--no-wait takes no value (given "false")'],
      ["--no-wait=yes", '--no-wait takes no value (given "yes")'],
    ] as const;
    for (const [flag, message] of asked) {
      const said = await bucky([
        ...["state", "set", "apps/asked", "1", flag, "--json", "--home", alpha.home],
      ]);
      expect([said.exitCode, jsonError(said)]).toEqual([
        2,
        {
          code: "E_USAGE",
          message,
          hint: "Give --wait or --no-wait, with no value (or --wait=true, --wait=false).",
        },
      ]);
    }
    // The daemon's own API refuses it too, before the write.
    await expect(
      requestDaemon(alpha.home, "PUT", "/v1/state/apps/asked?wait=maybe", { value: 1 }),
    ).rejects.toMatchObject({
      code: "E_INVALID_INPUT",
      message: '"wait=maybe" is neither true nor false',
    });
    const read = await bucky(["state", "get", "apps/asked", "--json", "--home", alpha.home]);
    expect([read.exitCode, jsonError(read).code]).toEqual([1, "E_NOT_FOUND"]);
  });

  test("every command that waits for another device to hold its write says --no-wait in --help", async () => {
    const waiting = [
      ["state", "set"],
      ["state", "del"],
      ["rule", "add"],
      ["rule", "rm"],
      ["app", "install"],
      ["app", "start"],
      ["app", "stop"],
      ["app", "remove"],
      ["app", "share"],
      ["app", "move"],
      ["app", "limit"],
      ["store", "install"],
      ["store", "remove"],
      ["relay", "add"],
      ["relay", "rm"],
      ["agent", "grant"],
      ["agent", "revoke"],
      ["user", "add"],
      ["user", "reset"],
      ["user", "remove"],
      ["user", "sign-out"],
      ["devices", "revoke"],
      ["gateway", "approve"],
      ["backup", "target", "add"],
      ["backup", "target", "rm"],
      ["invite", "revoke"],
      ["put"],
      ["rm"],
    ];
    const helps = await Promise.all(waiting.map((words) => bucky([...words, "--help"])));
    const without = waiting.filter(
      (_, i) =>
        !/--wait +Wait .*\(--no-wait: answer at once; the write is on this device alone until it syncs\)/.test(
          helps[i]?.stdout ?? "",
        ),
    );
    expect(without).toEqual([]);
  });
});

describe("a write with --no-wait, its peer away", () => {
  test("an invitation revoked while its inviter is away: at once, not heard by it; it refuses it once back", async () => {
    const invite = await buckyJson<{ id: string }>(["invite", "--home", alpha.home]);
    const listed = async (home: string) =>
      (
        await buckyJson<{ invites: { id: string; status: string; revokedBy: string[] }[] }>([
          ...["invite", "list", "--home", home],
        ])
      ).invites.find((i) => i.id === invite.id);
    await waitFor("beta to list alpha's invitation", () => listed(beta.home));
    await alpha.kill();
    const started = Date.now();
    const revoked = await bucky([
      ...["invite", "revoke", invite.id, "--no-wait", "--json", "--home", beta.home],
    ]);
    expect(Date.now() - started).toBeLessThan(AT_ONCE_MS);
    expect([revoked.exitCode, revoked.stderr]).toEqual([0, expect.stringContaining(NOTE)]);
    expect(JSON.parse(revoked.stdout)).toMatchObject({
      id: invite.id,
      inviter: "alpha",
      status: "revoked",
      revokedBy: ["beta"],
      heardByInviter: false,
      waited: false,
    });
    // Alpha back, it holds the revocation (and refuses the invitation).
    alpha = await startDaemon(alpha.home);
    const onAlpha = await waitFor(
      "alpha to hear of beta's revocation",
      async () => {
        const seen = await listed(alpha.home);
        return seen?.status === "revoked" ? seen : undefined;
      },
      20_000,
    );
    expect(onAlpha.revokedBy).toEqual(["beta"]);
  }, 60_000);

  test("answers at once, saying no other device holds it; the peer back, it holds it, the writer gone", async () => {
    await beta.kill();
    const timed = async <T>(args: string[]) => {
      const started = Date.now();
      const result = await bucky([...args, "--no-wait", "--json", "--home", alpha.home]);
      const tookMs = Date.now() - started;
      if (result.exitCode !== 0) throw new Error(`bucky ${args.join(" ")}: ${result.stderr}`);
      expect(result.stderr).toContain(NOTE);
      expect(tookMs).toBeLessThan(AT_ONCE_MS);
      return JSON.parse(result.stdout) as T;
    };
    expect(await timed(["state", "set", "apps/quick", '"now"'])).toMatchObject({
      key: "apps/quick",
      value: "now",
      heldElsewhere: "not yet",
      waited: false,
    });
    expect(await timed(["state", "set", "apps/gone", "1"])).toMatchObject({
      heldElsewhere: "not yet",
      waited: false,
    });
    expect(await timed(["state", "del", "apps/gone"])).toEqual({
      key: "apps/gone",
      deleted: true,
      heldElsewhere: "not yet",
      waited: false,
    });
    const rule = await timed<{ id: string }>(["rule", "add", "block", "--app", "site"]);
    expect(rule).toMatchObject({ app: "site", heldElsewhere: "not yet", waited: false });
    const kept = await timed<{ id: string }>(["rule", "add", "block", "--app", "news"]);
    expect(await timed(["rule", "rm", kept.id])).toEqual({
      id: kept.id,
      removed: true,
      heldElsewhere: "not yet",
      waited: false,
    });
    // In words: the result alone on stdout (no "none said so within 3 s"), the note on stderr.
    const text = await bucky([
      "state",
      "set",
      "apps/words",
      "2",
      "--no-wait",
      "--home",
      alpha.home,
    ]);
    expect([text.exitCode, text.stdout]).toEqual([0, "Set apps/words = 2\n"]);
    expect(text.stderr).toContain(NOTE);

    // Beta back, it takes them from alpha, which may then go.
    beta = await startDaemon(beta.home);
    await waitFor(
      "beta to hold alpha's writes",
      async () => {
        const { entries } = await buckyJson<{ entries: { key: string; value: unknown }[] }>([
          ...["state", "list", "apps/", "--home", beta.home],
        ]);
        return entries.some((e) => e.key === "apps/words") ? entries : undefined;
      },
      20_000,
    );
    await alpha.kill();
    const { entries } = await buckyJson<{ entries: { key: string; value: unknown }[] }>([
      ...["state", "list", "apps/", "--home", beta.home],
    ]);
    expect(entries.map(({ key, value }) => ({ key, value }))).toEqual([
      { key: "apps/quick", value: "now" },
      { key: "apps/words", value: 2 },
    ]);
    expect(
      (
        await buckyJson<{ value: { id: string } }>([
          "state",
          "get",
          `system/rules/${rule.id}`,
          "--home",
          beta.home,
        ])
      ).value,
    ).toMatchObject({ id: rule.id });
  }, 60_000);
});
