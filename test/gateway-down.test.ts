/**
 * A gateway that cannot serve (its port taken after a reboot, a certificate it cannot load)
 * is the zone's news, not one device's log line: every device's `bucky status` says so, with
 * that device's own words, also while it is off, and stops saying it once it serves again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

type Note = { kind: string; device?: string; devices?: string[]; message?: string; since?: string };
type Status = { reliability: { notes: Note[]; warnings: string[] } };

let alpha: Daemon;
let beta: Daemon;

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"]);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
}, 60_000);

const downNotes = async (home: string) =>
  (await buckyJson<Status>(["status", "--home", home])).reliability.notes.filter(
    (note) => note.kind === "gateway-down",
  );

describe("a gateway that cannot serve", () => {
  test("is said on every device, in its own words, with it off too, until it serves again", async () => {
    const url = await enableGateway(alpha.home);
    const port = Number(new URL(url).port);
    await alpha.kill();
    // Something else takes its port while it is down, as after a reboot.
    const taken = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    try {
      alpha = await startDaemon(alpha.home);
      const note = await waitFor("beta to say alpha's gateway is down", async () =>
        (await downNotes(beta.home)).at(0),
      );
      expect(note).toMatchObject({
        kind: "gateway-down",
        device: "alpha",
        message: `the gateway cannot listen on 127.0.0.1:${port}: it is in use`,
      });
      expect(Date.parse(note.since ?? "")).toBeGreaterThan(Date.now() - 60_000);
      expect(await downNotes(alpha.home)).toEqual([note]);
      // The zone's word: beta says it with alpha gone.
      await alpha.kill();
      const status = await buckyJson<Status>(["status", "--home", beta.home]);
      expect(status.reliability.notes.filter((n) => n.kind === "gateway-down")).toEqual([note]);
      expect(
        status.reliability.warnings.some((w) =>
          w.startsWith("the gateway on alpha does not serve since"),
        ),
      ).toBe(true);
    } finally {
      taken.stop(true);
    }
    // Its port free again, alpha serves, and no device says it is down.
    alpha = await startDaemon(alpha.home);
    await waitFor("alpha's gateway to answer", () =>
      fetch(`${url}/`).then(
        () => true,
        () => undefined,
      ),
    );
    for (const daemon of [alpha, beta])
      await waitFor(`${daemon.home} to no longer say alpha's gateway is down`, async () =>
        (await downNotes(daemon.home)).length === 0 ? true : undefined,
      );
  }, 90_000);
});

describe("the zone's only gateway offline", () => {
  test("a link made on another device says it works once that gateway is back", async () => {
    // The laptop made the zone (it holds the owner key); gw is its gateway.
    const zone = await startZone(["laptop", "gw"], { BUCKY_HEARTBEAT_MS: "500" });
    const [gw, laptop] = ["gw", "laptop"].map((name) => zone.get(name) as Daemon) as [
      Daemon,
      Daemon,
    ];
    await enableGateway(gw.home);
    const link = () =>
      buckyJson<{ offlineGateway: string | null }>(["login-link", "--home", laptop.home]);
    /** Waits until the laptop says gw is `status`. */
    const seesGw = (status: string) =>
      waitFor(`the laptop to see gw ${status}`, async () => {
        const { devices } = await buckyJson<{ devices: { name: string; status: string }[] }>([
          ...["devices", "--home", laptop.home],
        ]);
        return devices.find((d) => d.name === "gw")?.status === status ? true : undefined;
      });
    await seesGw("online");
    expect((await link()).offlineGateway).toBeNull();
    await gw.kill();
    await seesGw("offline");
    // Before, a link to it was handed out as any other, dead until it came back.
    expect((await link()).offlineGateway).toBe("gw");
    const text = await bucky(["panel", "--home", laptop.home]);
    expect(text.stdout).toStartWith(
      "The zone's gateway gw is offline: this link works once it is back",
    );
    // The zone's status says so too, on the device left.
    const { reliability } = await buckyJson<Status>(["status", "--home", laptop.home]);
    expect(reliability.notes).toContainEqual({ kind: "gateways-offline", devices: ["gw"] });
    // So does a person's link to set up their way in.
    const added = await buckyJson<{ enrollment: { gateway: string; gatewayOffline: boolean } }>([
      "user",
      "add",
      "ann",
      "--home",
      laptop.home,
    ]);
    expect(added.enrollment).toMatchObject({ gateway: "gw", gatewayOffline: true });
  }, 60_000);
});
