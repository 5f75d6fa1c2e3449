/** Revoking a device: its later writes never reach the zone, and it can no longer sync. */
import { afterAll, describe, expect, test } from "bun:test";
import {
  answeredOnceHeld,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  startDaemon,
  startZone,
  userState,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

async function statuses(home: string): Promise<Record<string, string>> {
  const { devices } = await buckyJson<{ devices: { name: string; status: string }[] }>([
    "devices",
    "--home",
    home,
  ]);
  return Object.fromEntries(devices.map((d) => [d.name, d.status]));
}

describe("bucky devices revoke", () => {
  test("the revoked device's new writes never appear, and its sync requests are refused", async () => {
    const zone = await startZone(["alpha", "beta", "gamma"]);
    const [alpha, beta, gamma] = ["alpha", "beta", "gamma"].map(
      (name) => zone.get(name) as Daemon,
    ) as [Daemon, Daemon, Daemon];

    await buckyJson(["state", "set", "apps/before", '"kept"', "--home", gamma.home]);
    await waitFor("gamma's write to reach beta", async () =>
      (await userState(beta.home))["apps/before"] === "kept" ? true : undefined,
    );

    const revoked = await buckyJson<{ name: string; keptSeq: number }>([
      "devices",
      "revoke",
      "gamma",
      "--home",
      alpha.home,
    ]);
    expect(revoked.name).toBe("gamma");
    await waitFor("beta to see gamma revoked", async () =>
      (await statuses(beta.home)).gamma === "revoked" ? true : undefined,
    );
    expect(await statuses(alpha.home)).toEqual({
      alpha: "online",
      beta: "online",
      gamma: "revoked",
    });

    // gamma does not know yet; it writes, and tries to share the write.
    // Not waited for: none takes it from gamma, which is what is checked.
    await buckyJson(["state", "set", "apps/after", '"refused"', "--no-wait", "--home", gamma.home]);
    const refusedGamma = (log: string) =>
      log.split("\n").some((line) => line.includes("status=403") && line.includes("peer=gamma"));
    await waitFor("alpha and beta to refuse gamma's sync", () =>
      refusedGamma(alpha.log()) && refusedGamma(beta.log()) ? true : undefined,
    );
    await waitFor("gamma to be told why", () =>
      gamma.log().includes("you are revoked in this zone") ? true : undefined,
    );
    // Several sync rounds later, still nowhere but on gamma.
    await Bun.sleep(1000);
    for (const daemon of [alpha, beta]) {
      expect(await userState(daemon.home)).toEqual({ "apps/before": "kept" });
    }
    expect((await userState(gamma.home))["apps/after"]).toBe("refused");
  });

  test("an agent granted through the revoked device is listed as not working, why, and what to do", async () => {
    const zone = await startZone(["alpha", "beta"]);
    const alpha = zone.get("alpha") as Daemon;
    const beta = zone.get("beta") as Daemon;
    await buckyJson(["agent", "grant", "helper", "--read", "status", "--home", beta.home]);
    await buckyJson(["agent", "grant", "tidy", "--read", "apps", "--home", alpha.home]);
    type Listed = { agent: string; grantedBy: string; working: boolean; stopped?: unknown };
    const listed = async (home: string) =>
      (await buckyJson<{ agents: Listed[] }>(["agent", "list", "--home", home])).agents;
    await waitFor("beta's grant to reach alpha", async () =>
      (await listed(alpha.home)).length === 2 ? true : undefined,
    );
    await buckyJson(["devices", "revoke", "beta", "--home", alpha.home]);
    expect(
      (await listed(alpha.home)).map(({ agent, grantedBy, working, stopped }) => ({
        agent,
        grantedBy,
        working,
        stopped,
      })),
    ).toEqual([
      {
        agent: "helper",
        grantedBy: "beta",
        working: false,
        stopped: {
          why: "granter-revoked",
          message:
            "granted by beta, which was revoked from the zone: every call it makes is refused",
          hint: "Grant it again on a device of the zone (`bucky agent grant helper …`) and give the agent the new token.",
        },
      },
      { agent: "tidy", grantedBy: "alpha", working: true, stopped: undefined },
    ]);
    const text = (await bucky(["agent", "list", "--home", alpha.home])).stdout;
    expect(text).toContain("helper  NOT WORKING  granted by beta");
    expect(text).toContain("which was revoked from the zone");
    expect(text).toContain("Grant it again");
  });

  test("the changes the revoking device had not heard of yet, which another member holds, stay in the zone", async () => {
    const zone = await startZone(["alpha", "beta", "gamma", "delta"]);
    let [alpha, beta, gamma, delta] = ["alpha", "beta", "gamma", "delta"].map(
      (name) => zone.get(name) as Daemon,
    ) as [Daemon, Daemon, Daemon, Daemon];
    const portOf = (daemon: Daemon) => Number(new URL(daemon.addresses[0] as string).port);
    const [alphaPort, betaPort] = [portOf(alpha), portOf(beta)];
    await waitFor("every device to know delta's address", async () => {
      const { devices } = await buckyJson<{ devices: { name: string; status: string }[] }>([
        "devices",
        "--home",
        alpha.home,
      ]);
      return devices.every((d) => d.status === "online") ? true : undefined;
    });
    await delta.stop();
    // The owner's device (alpha) is away while the tablet (gamma) writes; beta hears it.
    await alpha.stop();
    await buckyJson(["state", "set", "apps/while-away", '"kept"', "--home", gamma.home]);
    await waitFor("gamma's write to reach beta", async () =>
      (await userState(beta.home))["apps/while-away"] === "kept" ? true : undefined,
    );
    await gamma.stop();
    // alpha comes back, and is told to revoke gamma before it has synced: its own sync
    // rounds are an hour apart, and beta (paused) misses the one alpha makes as it starts.
    const HOURLY = { BUCKY_SYNC_INTERVAL_MS: "3600000" };
    await beta.stop();
    beta = await startDaemon(beta.home, HOURLY, { port: betaPort });
    process.kill(beta.pid, "SIGSTOP");
    try {
      alpha = await startDaemon(alpha.home, HOURLY, { port: alphaPort });
      await waitFor("alpha's first sync round to miss beta", () =>
        alpha
          .log()
          .split("\n")
          .some((line) => line.includes("WARN") && line.includes("peer=beta"))
          ? true
          : undefined,
      );
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
    expect((await userState(alpha.home))["apps/while-away"]).toBeUndefined();

    const revoked = await buckyJson<{
      keptSeq: number;
      keptFrom: string;
      asked: { device: string; head: number }[];
      notAsked: { device: string; why: string }[];
    }>(["devices", "revoke", "gamma", "--home", alpha.home]);
    expect(revoked.keptFrom).toBe("beta");
    expect(revoked.asked).toEqual([{ device: "beta", head: revoked.keptSeq }]);
    expect(revoked.notAsked.map((n) => n.device)).toEqual(["delta"]);
    // beta, back to its usual rounds, hears of the revocation and keeps gamma's write; so
    // does alpha, which fetched it from beta before it revoked.
    await beta.stop();
    beta = await startDaemon(beta.home, {}, { port: betaPort });
    await waitFor("beta to see gamma revoked", async () =>
      (await statuses(beta.home)).gamma === "revoked" ? true : undefined,
    );
    for (const daemon of [alpha, beta])
      expect((await userState(daemon.home))["apps/while-away"]).toBe("kept");
  }, 90_000);

  test("revoking is answered once another device holds the revocation: the revoking device lost right after, the device stays revoked", async () => {
    const zone = await startZone(["alpha", "beta", "gamma"]);
    const [alpha, beta, gamma] = ["alpha", "beta", "gamma"].map(
      (name) => zone.get(name) as Daemon,
    ) as [Daemon, Daemon, Daemon];
    await waitFor("alpha to know every device's address", async () =>
      Object.values(await statuses(alpha.home)).every((status) => status === "online")
        ? true
        : undefined,
    );
    // beta stopped (SIGSTOP): it is not asked for gamma's head in time, and no device can
    // take the revocation until it is let go.
    const revoked = await answeredOnceHeld(
      [beta],
      () =>
        buckyJson<{ heldElsewhere: string }>(["devices", "revoke", "gamma", "--home", alpha.home]),
      {
        what: "alpha to write the revocation",
        seen: () => /device revoked.*device=gamma/.test(alpha.log()),
        timeoutMs: 30_000,
      },
    );
    expect(revoked.heldElsewhere).toBe("held");
    // Held by beta before alpha answered: alpha lost at once, gamma stays revoked on beta,
    // which refuses what it writes.
    await alpha.kill();
    expect((await statuses(beta.home)).gamma).toBe("revoked");
    // Not waited for: none takes it from gamma, which is what is checked.
    await buckyJson(["state", "set", "apps/after", '"refused"', "--no-wait", "--home", gamma.home]);
    await waitFor("beta to refuse gamma's sync", () =>
      beta
        .log()
        .split("\n")
        .some((line) => line.includes("status=403") && line.includes("peer=gamma"))
        ? true
        : undefined,
    );
    expect(await userState(beta.home)).toEqual({});
  }, 60_000);

  test("only a device holding the owner key can revoke, and never itself", async () => {
    const zone = await startZone(["alpha", "beta"]);
    const alpha = zone.get("alpha") as Daemon;
    const beta = zone.get("beta") as Daemon;
    const noOwnerKey = await bucky(["devices", "revoke", "alpha", "--home", beta.home, "--json"]);
    expect([noOwnerKey.exitCode, jsonError(noOwnerKey).code]).toEqual([1, "E_PERMISSION"]);
    const self = await bucky(["devices", "revoke", "alpha", "--home", alpha.home, "--json"]);
    expect([self.exitCode, jsonError(self).message]).toEqual([2, "a device cannot revoke itself"]);
    const unknown = await bucky(["devices", "revoke", "nobody", "--home", alpha.home, "--json"]);
    expect([unknown.exitCode, jsonError(unknown).code]).toEqual([1, "E_NOT_FOUND"]);
  });
});
