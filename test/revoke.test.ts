/** Revoking a device: its later writes never reach the zone, and it can no longer sync. */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
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

/** A sync round an hour: a device started so syncs only what it writes, at once. */
const HOURLY = { BUCKY_SYNC_INTERVAL_MS: "3600000" };
const portOf = (daemon: Daemon) => Number(new URL(daemon.addresses[0] as string).port);

/**
 * `daemon` started again with hourly rounds, once its first round is done: from then on it
 * syncs only what it writes (its first round, in flight, would hear a revocation first).
 */
async function restartHourly(daemon: Daemon): Promise<Daemon> {
  await daemon.stop();
  const started = await startDaemon(daemon.home, HOURLY, { port: portOf(daemon) });
  await waitFor("its first sync round", () =>
    started.log().includes("caught up with the peers") ? true : undefined,
  );
  return started;
}

async function statuses(home: string): Promise<Record<string, string>> {
  const { devices } = await buckyJson<{ devices: { name: string; status: string }[] }>([
    "devices",
    "--home",
    home,
  ]);
  return Object.fromEntries(devices.map((d) => [d.name, d.status]));
}

describe("bucky devices revoke", () => {
  test("the revoked device's new writes never appear, its sync requests are refused, and told why it stops", async () => {
    // alpha waits for another device to hold its revocation longer than its 3 s: beta is
    // let go half a second after the write, and a loaded machine has taken more than the
    // rest of 3 s to bring it back to sync (and once, in a full run of the suite, of 15 s).
    const zone = await startZone(["alpha", "beta", "gamma"], { BUCKY_HELD_WAIT_MS: "30000" });
    const [alpha, beta] = ["alpha", "beta"].map((name) => zone.get(name) as Daemon) as [
      Daemon,
      Daemon,
    ];
    let gamma = zone.get("gamma") as Daemon;

    await buckyJson(["state", "set", "apps/before", '"kept"', "--home", gamma.home]);
    await waitFor("gamma's write to reach beta", async () =>
      (await userState(beta.home))["apps/before"] === "kept" ? true : undefined,
    );
    // gamma syncs once an hour from here on: it hears of its revocation only by the push of
    // its write below (each peer's refusal carries it).
    gamma = await restartHourly(gamma);

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
    // The first refusal stops gamma, which may call the other peer off.
    await waitFor("alpha or beta to refuse gamma's sync", () =>
      refusedGamma(alpha.log()) || refusedGamma(beta.log()) ? true : undefined,
    );
    expect(await gamma.exited).toBe(5);
    expect(gamma.log()).toContain("this device was revoked by the zone's owner: the daemon stops");
    // Several sync rounds later, still nowhere but on gamma.
    await Bun.sleep(1000);
    for (const daemon of [alpha, beta]) {
      expect(await userState(daemon.home)).toEqual({ "apps/before": "kept" });
    }
    // Its daemon stopped, gamma's own database still holds the write.
    const gammaState = new Database(join(gamma.home, "state.db"), { readonly: true });
    expect(
      gammaState
        .query<{ value: string }, [string]>("SELECT value FROM state WHERE key = ?")
        .get("apps/after"),
    ).toEqual({ value: '"refused"' });
    gammaState.close();
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
    // alpha waits for another device to hold its revocation longer than its 3 s: beta is
    // let go half a second after the write, and a loaded machine has taken more than the
    // rest of 3 s to bring it back to sync (and once, in a full run of the suite, of 15 s).
    const zone = await startZone(["alpha", "beta", "gamma"], { BUCKY_HELD_WAIT_MS: "30000" });
    const [alpha, beta] = ["alpha", "beta"].map((name) => zone.get(name) as Daemon) as [
      Daemon,
      Daemon,
    ];
    let gamma = zone.get("gamma") as Daemon;
    // gamma hears of its revocation only by the push of its write below.
    gamma = await restartHourly(gamma);
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
    // Told why by beta (alpha is gone), gamma stops.
    expect(await gamma.exited).toBe(5);
  }, 60_000);

  test("a device revoked while it was off learns it from the first peer it reaches, stops, and does not start again", async () => {
    const zone = await startZone(["alpha", "beta", "gamma"]);
    const [alpha, beta, gamma] = ["alpha", "beta", "gamma"].map(
      (name) => zone.get(name) as Daemon,
    ) as [Daemon, Daemon, Daemon];
    await gamma.stop();
    await buckyJson(["devices", "revoke", "gamma", "--home", alpha.home]);
    // The revoking device is gone: gamma hears it from beta, which holds the revocation.
    await alpha.kill();
    const back = await startDaemon(gamma.home);
    expect(await back.exited).toBe(5);
    expect(back.log()).toContain("this device was revoked by the zone's owner: the daemon stops");
    expect(beta.log()).toMatch(/status=403.*peer=gamma|peer=gamma.*status=403/);
    expect(existsSync(join(gamma.home, "revoked"))).toBe(true);
    const again = await bucky(["up", "--json", "--home", gamma.home]);
    expect([again.exitCode, jsonError(again).code]).toEqual([5, "E_REVOKED"]);
    expect(jsonError(again).message).toContain("this device, gamma, was revoked");
    expect(jsonError(again).hint).toContain("bucky join");
    const status = await bucky(["status", "--json", "--home", gamma.home]);
    expect([status.exitCode, jsonError(status).code]).toEqual([5, "E_REVOKED"]);
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
