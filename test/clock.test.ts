/**
 * A device whose clock runs ahead: the others refuse its records (changesets, presence,
 * facts), and every device says so, naming it, who refuses it and by how much, instead of
 * calling it offline and, a week on, telling the owner to revoke it.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  startDaemon,
  startZone,
  userState,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

interface ClockAheadNote {
  kind: "clock-ahead";
  device: string;
  by: string[];
  figures: { by: string; seconds: number; since: string }[];
}

const AHEAD_S = 120;

/** The clock-ahead notes `bucky status` gives on `home`, once there is one naming `by` all. */
async function clockNotes(home: string, by: readonly string[]): Promise<ClockAheadNote[]> {
  return waitFor(
    `the zone's word that gamma's clock is ahead, on ${home}`,
    async () => {
      const status = await buckyJson<{
        reliability: { notes: { kind: string }[]; warnings: string[] };
      }>(["status", "--home", home]);
      const notes = status.reliability.notes.filter(
        (note): note is ClockAheadNote => note.kind === "clock-ahead",
      );
      return notes.some((note) => note.by.length === by.length) ? notes : undefined;
    },
    30_000,
  );
}

describe("a device whose clock is ahead", () => {
  test("is named on every device, with who refuses it and by how much; its writes stay out", async () => {
    const env = { BUCKY_HEARTBEAT_MS: "200" };
    const daemons = await startZone(["alpha", "beta", "gamma"], env);
    const home = (name: string) => (daemons.get(name) as Daemon).home;
    await buckyJson(["state", "set", "apps/before", "1", "--home", home("gamma")]);
    await waitFor("alpha to have gamma's write", async () =>
      (await userState(home("alpha")))["apps/before"] === 1 ? true : undefined,
    );
    await buckyJson(["agent", "grant", "helper", "--read", "status", "--home", home("alpha")]);
    await waitFor("gamma to have the grant", async () =>
      (await bucky(["state", "get", "agents/helper", "--home", home("gamma")])).exitCode === 0
        ? true
        : undefined,
    );

    // gamma's clock jumps two minutes ahead (past the minute a record may be ahead).
    await (daemons.get("gamma") as Daemon).stop();
    await startDaemon(home("gamma"), { ...env, BUCKY_CLOCK_OFFSET_MS: String(AHEAD_S * 1000) });
    // Not waited for: the others refuse it (what is checked), so none would hold it.
    await buckyJson(["state", "set", "apps/ahead", "2", "--no-wait", "--home", home("gamma")]);

    // Asked on beta, and on gamma itself (the others' facts are not ahead of its clock).
    for (const name of ["beta", "gamma"]) {
      const [note, ...others] = await clockNotes(home(name), ["alpha", "beta"]);
      expect(others).toEqual([]);
      const figure = (by: string) => ({
        by,
        seconds: expect.any(Number),
        since: expect.any(String),
      });
      expect(note).toEqual({
        kind: "clock-ahead",
        device: "gamma",
        by: ["alpha", "beta"],
        figures: [figure("alpha"), figure("beta")],
      });
      // Their request times say how far (loopback: within a few seconds of the offset).
      const [alpha, beta] = note?.figures ?? [];
      for (const said of [alpha, beta])
        expect(Math.abs((said?.seconds ?? 0) - AHEAD_S)).toBeLessThan(10);
      const { reliability } = await buckyJson<{ reliability: { warnings: string[] } }>([
        "status",
        "--home",
        home(name),
      ]);
      expect(reliability.warnings.filter((w) => w.startsWith("gamma's clock"))).toEqual([
        `gamma's clock is ${alpha?.seconds} s ahead of alpha's and ${beta?.seconds} s ahead of beta's: its changes are refused until it is set right, so it looks offline to the zone; turn on network time on gamma (\`timedatectl set-ntp true\`), or, if its clock is right, on alpha and beta`,
      ]);
    }
    // What gamma wrote ahead is refused, as the note says.
    expect((await userState(home("alpha")))["apps/ahead"]).toBeUndefined();
    // So a revocation written there would reach no one: gamma refuses to write it, and
    // says where to revoke instead; the grant stands, as everywhere else.
    const revoke = await bucky(["agent", "revoke", "helper", "--home", home("gamma"), "--json"]);
    expect([revoke.exitCode, jsonError(revoke)]).toEqual([
      1,
      {
        code: "E_CLOCK",
        message: expect.stringMatching(
          /^gamma's clock is ahead of alpha's by 1\d\d s and beta's by 1\d\d s: they refuse its changes, so a revocation written here would reach none of them, and agent helper would go on working there$/,
        ),
        hint: "Revoke it from another device of the zone (`bucky agent revoke helper` there), and set gamma's clock right (NTP).",
      },
    ]);
    const { agents } = await buckyJson<{ agents: { agent: string; working: boolean }[] }>([
      ...["agent", "list", "--home", home("gamma")],
    ]);
    expect(agents).toMatchObject([{ agent: "helper", working: true }]);
  }, 90_000);

  test("over the request window: its requests are refused with E_CLOCK, which it says; the others name it", async () => {
    const env = { BUCKY_HEARTBEAT_MS: "200" };
    const daemons = await startZone(["alpha", "beta", "gamma"], env);
    const home = (name: string) => (daemons.get(name) as Daemon).home;
    await waitFor("gamma's facts on alpha", async () => {
      const { devices } = await buckyJson<{ devices: { name: string; status: string }[] }>([
        "status",
        "--home",
        home("alpha"),
      ]);
      return devices.find((d) => d.name === "gamma")?.status === "online" ? true : undefined;
    });
    await (daemons.get("gamma") as Daemon).stop();
    const gamma = await startDaemon(home("gamma"), { ...env, BUCKY_CLOCK_OFFSET_MS: "400000" });

    const [note] = await clockNotes(home("beta"), ["alpha", "beta"]);
    const figure = (by: string) => ({ by, seconds: expect.any(Number), since: expect.any(String) });
    expect(note).toEqual({
      kind: "clock-ahead",
      device: "gamma",
      by: ["alpha", "beta"],
      figures: [figure("alpha"), figure("beta")],
    });
    for (const said of note?.figures ?? []) expect(Math.abs(said.seconds - 400)).toBeLessThan(10);
    // The others' refusals of each other's requests to gamma are the same news: not said twice.
    const onBeta = await buckyJson<{ reliability: { notes: { kind: string }[] } }>([
      "status",
      "--home",
      home("beta"),
    ]);
    expect(onBeta.reliability.notes.filter((n) => n.kind === "sync-refused")).toEqual([]);

    // gamma hears nothing from the others now: it says what their refusals told it.
    const refused = await waitFor("gamma to say the others refuse it for its clock", async () => {
      const { reliability } = await buckyJson<{
        reliability: { notes: { kind: string; peer?: string; code?: string; message?: string }[] };
      }>(["status", "--home", home("gamma")]);
      const notes = reliability.notes.filter((n) => n.kind === "sync-refused");
      return notes.length === 2 ? notes : undefined;
    });
    expect(refused.map(({ peer, code, message }) => ({ peer, code, message }))).toEqual(
      ["alpha", "beta"].map((peer) => ({
        peer,
        code: "E_CLOCK",
        message: expect.stringMatching(
          new RegExp(
            `^${peer} refused: "request refused: your clock is 4\\d\\d s ahead of ${peer}'s"`,
          ),
        ),
      })),
    );
    expect(gamma.log()).toContain(
      "refuses this device's sync requests: the two clocks are too far apart",
    );
  }, 90_000);
});

describe("a device whose clock is behind the gateway's", () => {
  test("makes login links the gateway takes: their expiry is by the gateway's clock", async () => {
    const env = { BUCKY_HEARTBEAT_MS: "200" };
    const zone = await startZone(["alpha", "beta"], env);
    const [alpha, beta] = ["alpha", "beta"].map((n) => zone.get(n) as Daemon) as [Daemon, Daemon];
    await enableGateway(alpha.home);
    await beta.stop();
    await startDaemon(beta.home, { ...env, BUCKY_CLOCK_OFFSET_MS: String(-3600_000) });
    // beta has heard alpha's requests, dated an hour ahead of its clock.
    await waitFor("beta to say alpha's clock is ahead of its own", async () => {
      const { devices } = await buckyJson<{ devices: { name: string; clockAhead: unknown }[] }>([
        ...["devices", "--home", beta.home],
      ]);
      return devices.find((d) => d.name === "alpha")?.clockAhead ? true : undefined;
    });
    // Ten minutes by beta's clock ended fifty minutes before alpha had it: refused, expired.
    const { url } = await buckyJson<{ url: string }>([
      ...["login-link", "--ttl", "10m", "--home", beta.home],
    ]);
    const opened = await fetch(url, { redirect: "manual" });
    expect(opened.status).toBe(303);
    expect(opened.headers.get("set-cookie")).toContain("bucky_session=");
  }, 90_000);
});

describe("a device whose clock was ahead, then set right", () => {
  test("is heard again at once: what it says next is dated by its clock, not after what was refused", async () => {
    const env = { BUCKY_HEARTBEAT_MS: "200" };
    const zone = await startZone(["alpha", "beta"], env);
    const [alpha, beta] = ["alpha", "beta"].map((n) => zone.get(n) as Daemon) as [Daemon, Daemon];
    const { device } = await buckyJson<{ device: { id: string } }>(["status", "--home", beta.home]);
    await beta.stop();
    const ahead = await startDaemon(beta.home, { ...env, BUCKY_CLOCK_OFFSET_MS: "120000" });
    await waitFor("beta to hold alpha's word that its clock is ahead", async () => {
      const { devices } = await buckyJson<{ devices: { name: string; clockAhead: unknown }[] }>([
        ...["devices", "--home", beta.home],
      ]);
      return devices.find((d) => d.name === "beta")?.clockAhead ? true : undefined;
    });
    await ahead.stop();
    const setRightAt = Date.now();
    await startDaemon(beta.home, env);
    // When beta said it was alive, in the record alpha holds: one dated after those alpha
    // refused would be refused too, and beta would stay unheard for the two minutes.
    const heardAt = () => {
      const db = new Database(join(alpha.home, "state.db"), { readonly: true });
      try {
        return db
          .query<{ at: number }, [string]>("SELECT at FROM presence WHERE device = ?")
          .get(device.id)?.at;
      } finally {
        db.close();
      }
    };
    await waitFor("alpha to take beta's presence again", () => {
      const at = heardAt() ?? 0;
      return at >= setRightAt && at <= Date.now() ? true : undefined;
    });
  }, 60_000);
});

describe("a device whose clock was set back", () => {
  test("answers no agent: it could not hear a revocation made since, nor judge expiry", async () => {
    const env = { BUCKY_HEARTBEAT_MS: "200" };
    const daemons = await startZone(["alpha", "beta"], env);
    const home = (name: string) => (daemons.get(name) as Daemon).home;
    const { token } = await buckyJson<{ token: string }>([
      ...["agent", "grant", "late", "--read", "status", "--home", home("alpha")],
    ]);
    await waitFor("the grant to reach beta", async () =>
      (await bucky(["state", "get", "agents/late", "--home", home("beta")])).exitCode === 0
        ? true
        : undefined,
    );
    // beta's clock goes two minutes back (past the minute a record may be ahead, within
    // the window a request may be): the revocation alpha writes next is ahead of it.
    await (daemons.get("beta") as Daemon).stop();
    await startDaemon(home("beta"), { ...env, BUCKY_CLOCK_OFFSET_MS: "-120000" });
    await buckyJson(["agent", "revoke", "late", "--home", home("alpha")]);
    const mcp = (name: string) =>
      bucky(["mcp", "--home", home(name), "--json"], { env: { BUCKY_AGENT_TOKEN: token } });
    expect(jsonError(await mcp("alpha")).message).toStartWith("agent late was revoked at");
    const onBeta = await mcp("beta");
    expect([onBeta.exitCode, jsonError(onBeta)]).toEqual([
      1,
      {
        code: "E_CLOCK",
        message: expect.stringMatching(
          /^beta's clock is 1\d\d s behind the zone's time \(its state holds changes dated that far ahead\): it can judge neither whether agent late's grant has expired nor whether it was revoked since$/,
        ),
        hint: "Set beta's clock right (NTP), or call another device of the zone.",
      },
    ]);
    // Every device says the same of whose clock is refused. beta's word that it refuses
    // alpha's comes in facts dated by its clock, now before the facts alpha held of it:
    // each was passed over as older, and only beta said it.
    const refusedFor = async (name: string) =>
      (
        await buckyJson<{ devices: { name: string; clockAhead: { by: string[] } | null }[] }>([
          "devices",
          "--home",
          home(name),
        ])
      ).devices.map((d) => [d.name, d.clockAhead?.by ?? null]);
    const zoneWord = [
      ["alpha", ["beta"]],
      ["beta", null],
    ];
    for (const name of ["beta", "alpha"])
      await waitFor(`${name} to say beta refuses alpha's clock`, async () =>
        JSON.stringify(await refusedFor(name)) === JSON.stringify(zoneWord) ? true : undefined,
      );
  }, 60_000);
});
