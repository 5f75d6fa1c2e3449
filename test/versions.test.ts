/**
 * A zone of devices on different buckys stays one system. An older bucky stands in as a
 * daemon started with BUCKY_TEST_WRITE_RULES_LEVEL=0: it refuses what a bucky before write
 * levels refused (`agent-grants/<issuer>/<id>`), and its info says no level. The writer
 * holds a new kind of write back while such a member remains (a grant's record under its
 * id, the move under its issuer waiting); a member that refuses another's changes says so
 * in its facts, so every device's status says who refuses whom (a third device's, and with
 * the writer killed); and once the older daemon runs this bucky's rules again, it takes the
 * changesets it refused, the note clears, and the grant's record moves under its issuer.
 * A device asking to join as an older bucky, once the zone holds such a grant, is refused
 * before anything is written, and the same invitation admits it as this bucky.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  newHomePath,
  startDaemon,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const OLDER = { BUCKY_TEST_WRITE_RULES_LEVEL: "0" };
const WAIT_MS = 30_000;

interface WritesRefused {
  device: string;
  author: string;
  fromSeq: number;
  reason: string;
  since: string;
  deviceVersion: string | null;
  authorVersion: string | null;
  upgrade: string | null;
}

interface Status {
  writesRefused: WritesRefused[];
  warnings: string[];
}

const status = (daemon: Daemon) => buckyJson<Status>(["status", "--home", daemon.home]);
const keys = async (daemon: Daemon, prefix: string) =>
  (
    await buckyJson<{ entries: { key: string }[] }>([
      "state",
      "list",
      prefix,
      "--home",
      daemon.home,
    ])
  ).entries
    .map((entry) => entry.key)
    .sort();
const info = async (daemon: Daemon, name: string) =>
  (
    await buckyJson<{ value: { writeRules?: number } | null }>([
      "state",
      "get",
      `devices/${name}/info`,
      "--home",
      daemon.home,
    ])
  ).value;
const grant = async (daemon: Daemon, name: string) =>
  (
    await buckyJson<{ record: { id: string; issuer: string } }>([
      "agent",
      "grant",
      name,
      "--read",
      "status",
      "--ttl",
      "1h",
      "--home",
      daemon.home,
    ])
  ).record;
/** The gateways an enrollment link made on `daemon` for a new person `name` works at. */
const linkGateways = async (daemon: Daemon, name: string) => {
  const { enrollment } = await buckyJson<{
    enrollment: { gateway: string; otherGateways: { gateway: string }[] };
  }>(["user", "add", name, "--home", daemon.home]);
  return [enrollment.gateway, ...enrollment.otherGateways.map((other) => other.gateway)];
};

describe("a zone of devices on different buckys", () => {
  const homes = { alpha: newHomePath(), beta: newHomePath(), gamma: newHomePath() };
  let alpha: Daemon;
  let beta: Daemon;
  let gamma: Daemon;

  test("set up: alpha, beta and gamma, each saying the write rules it reads", async () => {
    await buckyJson(["init", "--home", homes.alpha, "--device", "alpha"]);
    alpha = await startDaemon(homes.alpha);
    for (const name of ["beta", "gamma"] as const) {
      const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes.alpha]);
      await buckyJson(["join", token, "--home", homes[name], "--device", name, "--no-start"]);
    }
    beta = await startDaemon(homes.beta);
    gamma = await startDaemon(homes.gamma);
    // Two gateways: an enrollment link names both while every member takes that.
    await enableGateway(homes.alpha);
    await enableGateway(homes.gamma);
    for (const name of ["alpha", "beta", "gamma"])
      await waitFor(
        `alpha knows ${name} reads level 1`,
        async () => ((await info(alpha, name))?.writeRules === 1 ? true : undefined),
        WAIT_MS,
      );
    // Each device's bucky, as `bucky devices` says it on another device.
    const { version } = await buckyJson<{ version: string }>(["version"]);
    const versions = async () =>
      (
        await buckyJson<{ devices: { name: string; version: string | null }[] }>([
          "devices",
          "--home",
          gamma.home,
        ])
      ).devices.map((d) => [d.name, d.version]);
    const all = [
      ["alpha", version],
      ["beta", version],
      ["gamma", version],
    ];
    await waitFor(
      "gamma knows every device's bucky",
      async () => (JSON.stringify(await versions()) === JSON.stringify(all) ? true : undefined),
      WAIT_MS,
    );
  }, 60_000);

  let first: { id: string; issuer: string };

  test("an older bucky refuses a grant under its issuer: every device's status says who refuses whom, and to upgrade it", async () => {
    // Written while beta is down, last seen reading this bucky's rules: under its issuer.
    await beta.kill();
    first = await grant(alpha, "first");
    await waitFor(
      "gamma holds the first grant under alpha",
      async () =>
        (await keys(gamma, "agent-grants/")).includes(`agent-grants/${first.issuer}/${first.id}`)
          ? true
          : undefined,
      WAIT_MS,
    );
    // beta comes back as an older bucky: it refuses that changeset, and alpha's later ones wait.
    beta = await startDaemon(homes.beta, OLDER);
    const said = await waitFor(
      "gamma says beta refuses alpha's changes",
      async () => {
        const { writesRefused } = await status(gamma);
        return writesRefused.length > 0 ? writesRefused : undefined;
      },
      WAIT_MS,
    );
    const { version } = await buckyJson<{ version: string }>(["version"]);
    expect(said).toEqual([
      {
        device: "beta",
        author: "alpha",
        fromSeq: expect.any(Number),
        reason: `agent-grants/${first.issuer}/${first.id} is reserved`,
        since: expect.any(String),
        deviceVersion: version,
        authorVersion: version,
        upgrade: "beta",
      },
    ]);
    const onGamma = await status(gamma);
    expect(onGamma.warnings).toContain(
      `beta refuses alpha's changes from #${said[0]?.fromSeq} ("agent-grants/${first.issuer}/${first.id} is reserved"), and every later change of alpha waits there; beta runs bucky ${version}, alpha bucky ${version}: upgrade beta`,
    );
    // The same on the writer and on the refusing device itself.
    for (const daemon of [alpha, beta])
      await waitFor(
        `${daemon.home} says the same`,
        async () => {
          const { writesRefused } = await status(daemon);
          return JSON.stringify(writesRefused) === JSON.stringify(said) ? true : undefined;
        },
        WAIT_MS,
      );
    expect(await keys(beta, "agent-grants/")).toEqual([]);
  }, 60_000);

  let second: { id: string; issuer: string };

  test("while beta is older, alpha holds the new kinds of write back: a grant under its id, a link for one gateway, the new key refused with what to do", async () => {
    await waitFor(
      "alpha knows beta reads level 0",
      async () => ((await info(alpha, "beta"))?.writeRules === undefined ? true : undefined),
      WAIT_MS,
    );
    second = await grant(alpha, "second");
    await waitFor(
      "gamma holds the second grant under its id",
      async () =>
        (await keys(gamma, "agent-grants/")).includes(`agent-grants/${second.id}`)
          ? true
          : undefined,
      WAIT_MS,
    );
    expect(await keys(alpha, "agent-grants/")).toEqual(
      [`agent-grants/${first.issuer}/${first.id}`, `agent-grants/${second.id}`].sort(),
    );
    // A credential recorded under a gateway's id too: the link is for alpha's gateway alone.
    expect(await linkGateways(alpha, "ann")).toEqual(["alpha"]);
    const refused = await bucky([
      "state",
      "set",
      `agent-grants/${second.issuer}/${second.id}`,
      JSON.stringify({ agent: "second", id: second.id, issuer: second.issuer }),
      "--home",
      alpha.home,
      "--json",
    ]);
    expect(refused.exitCode).toBe(1);
    const { version } = await buckyJson<{ version: string }>(["version"]);
    expect(jsonError(refused)).toEqual({
      code: "E_UPGRADE_FIRST",
      message: `cannot write agent-grants/${second.issuer}/${second.id}: beta (bucky ${version}) runs a bucky that refuses it, and would then refuse every later change of this device`,
      hint: "Upgrade beta first (install this bucky there and restart its daemon), then try again.",
    });
  }, 60_000);

  test("with alpha killed, gamma still says beta refuses it; beta upgraded takes alpha's changes, the note clears, the grant moves under its issuer, and links name every gateway again", async () => {
    await alpha.kill();
    expect((await status(gamma)).writesRefused.map((note) => [note.device, note.author])).toEqual([
      ["beta", "alpha"],
    ]);
    // alpha again, while beta is older: its grant stays under its id (the move waits).
    alpha = await startDaemon(homes.alpha);
    await beta.stop();
    beta = await startDaemon(homes.beta);
    const both = [`agent-grants/${first.issuer}/${first.id}`, `agent-grants/${second.id}`];
    await waitFor(
      "beta holds alpha's grants",
      async () => {
        const held = await keys(beta, "agent-grants/");
        return both.every((key) => held.includes(key)) ? true : undefined;
      },
      WAIT_MS,
    );
    for (const daemon of [gamma, alpha, beta])
      await waitFor(
        "no device refuses another's changes",
        async () => ((await status(daemon)).writesRefused.length === 0 ? true : undefined),
        WAIT_MS,
      );
    // Every member now reads a record under its issuer: alpha moves the second grant there.
    const moved = `agent-grants/${second.issuer}/${second.id}`;
    for (const daemon of [gamma, beta])
      await waitFor(
        `the second grant under alpha on ${daemon.home}`,
        async () => ((await keys(daemon, "agent-grants/")).includes(moved) ? true : undefined),
        WAIT_MS,
      );
    expect(await linkGateways(alpha, "bob")).toEqual(["alpha", "gamma"]);
  }, 90_000);

  test("a device asking to join with an older bucky is refused before anything is written; with this bucky, the same invitation admits it", async () => {
    const { token, id } = await buckyJson<{ token: string; id: string }>([
      "invite",
      "--home",
      alpha.home,
    ]);
    const usesLeft = async (daemon: Daemon) =>
      (
        await buckyJson<{ invites: { id: string; usesLeft: number }[] }>([
          "invite",
          "list",
          "--home",
          daemon.home,
        ])
      ).invites.find((invite) => invite.id === id)?.usesLeft;
    await waitFor(
      "gamma knows alpha's invitation",
      async () => ((await usesLeft(gamma)) === 1 ? true : undefined),
      WAIT_MS,
    );
    const home = newHomePath();
    const join = ["join", token, "--home", home, "--device", "delta", "--no-start", "--json"];
    const older = await bucky(join, { env: OLDER });
    expect(older.exitCode).toBe(1);
    const { version } = await buckyJson<{ version: string }>(["version"]);
    // The zone holds grants under their issuer, which a bucky before levels refuses.
    const refused = jsonError(older);
    expect(refused.code).toBe("E_UPGRADE_FIRST");
    expect(refused.message).toStartWith(
      `the inviting device refused: "the zone holds agent-grants/${first.issuer}/`,
    );
    expect(refused.message).toContain(", which the bucky of the device asking refuses: ");
    expect(refused.message).toEndWith(
      `and says "Install bucky ${version} (or a newer one) on the device asking, then run the same \`bucky join\` again: the invitation still holds."`,
    );
    expect(refused.hint).toBe(
      "Install the bucky the zone's devices run (or a newer one) here, then run the same `bucky join` again: the invitation still holds.",
    );
    // Nothing written: once gamma holds a later change of alpha's (a feed arrives in order),
    // and with alpha killed, gamma lists no delta and the invitation's use is left.
    await buckyJson(["state", "set", "test/after-refusal", "1", "--home", alpha.home]);
    await waitFor(
      "gamma holds alpha's change after the refusal",
      async () => ((await keys(gamma, "test/")).includes("test/after-refusal") ? true : undefined),
      WAIT_MS,
    );
    await alpha.kill();
    const names = async (daemon: Daemon) =>
      (
        await buckyJson<{ devices: { name: string }[] }>(["devices", "--home", daemon.home])
      ).devices.map((device) => device.name);
    expect(await names(gamma)).toEqual(["alpha", "beta", "gamma"]);
    expect(await usesLeft(gamma)).toBe(1);
    // The same join with this bucky: admitted, and gamma hears of it.
    alpha = await startDaemon(homes.alpha);
    const joined = await buckyJson<{ device: { name: string } }>(join.slice(0, -1));
    expect(joined.device.name).toBe("delta");
    await waitFor(
      "gamma lists delta",
      async () => ((await names(gamma)).includes("delta") ? true : undefined),
      WAIT_MS,
    );
  }, 90_000);
});
