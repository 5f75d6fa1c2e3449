/**
 * A relay outside the zone is the zone's, not the device's that added it: `bucky relay add`
 * and `rm` are answered once another device holds the write, every device gives the same
 * `relay list` and keeps its tunnel to the relay, and the relay stays known (or gone) with
 * the device that acted killed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
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

interface RelayView {
  id: string;
  name: string;
  addresses: string[];
  member: boolean;
}

const relays = async (daemon: Daemon) =>
  (await buckyJson<{ relays: RelayView[] }>(["relay", "list", "--home", daemon.home])).relays;

/** Whether the relay's log says `device`'s tunnel opened (after the first `since` chars). */
const tunnelOpen = (relay: Daemon, device: string, since = 0) =>
  new RegExp(`relay tunnel open.*device=${device}\\b`).test(relay.log().slice(since));

describe("a relay outside the zone, zone-wide", () => {
  let alpha: Daemon;
  let beta: Daemon;
  let gamma: Daemon;
  let relay: Daemon;
  let ticket: string;
  /** A relay of another zone still, which names itself as the first does. */
  let namesake: string;

  /** A relay-only node, its own zone's device named `far`: its daemon and its ticket. */
  async function farRelay(): Promise<{ daemon: Daemon; ticket: string }> {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "far"]);
    const daemon = await startDaemon(home);
    const made = await buckyJson<{ ticket: string }>([
      ...["gateway", "enable", "--relay-only", "--home", home],
    ]);
    return { daemon, ticket: made.ticket };
  }

  beforeAll(async () => {
    ({ daemon: relay, ticket } = await farRelay());
    ({ ticket: namesake } = await farRelay());
    const zone = await startZone(["alpha", "beta", "gamma"]);
    [alpha, beta, gamma] = ["alpha", "beta", "gamma"].map((name) => zone.get(name) as Daemon) as [
      Daemon,
      Daemon,
      Daemon,
    ];
  }, 60_000);

  test("added on alpha: answered once another device holds it, then known and used everywhere with alpha killed", async () => {
    // beta and gamma stopped (SIGSTOP): neither can hold the relay until they are let go.
    const added = await answeredOnceHeld(
      [beta, gamma],
      () =>
        buckyJson<RelayView & { heldElsewhere: string }>([
          ...["relay", "add", ticket, "--home", alpha.home],
        ]),
      { what: "alpha to write the relay", seen: () => /relay added.*relay=far/.test(alpha.log()) },
    );
    expect(added).toMatchObject({ name: "far", member: false, heldElsewhere: "held" });
    await alpha.kill();

    const expected = [{ id: added.id, name: "far", addresses: added.addresses, member: false }];
    for (const device of [beta, gamma]) {
      await waitFor(`${device.home} to list the relay`, async () =>
        (await relays(device)).length > 0 ? true : undefined,
      );
      expect(await relays(device)).toEqual(expected);
    }
    // And each keeps a tunnel to it, alpha gone.
    await waitFor(
      "beta's and gamma's tunnels to the relay",
      () => (tunnelOpen(relay, "beta") && tunnelOpen(relay, "gamma") ? true : undefined),
      30_000,
    );
  }, 60_000);

  test("removed on beta: answered once gamma holds it, and gone there with beta killed", async () => {
    const removed = await answeredOnceHeld(
      [gamma],
      () =>
        buckyJson<{ removed: RelayView; heldElsewhere: string }>([
          ...["relay", "rm", "far", "--home", beta.home],
        ]),
      {
        what: "beta to write the removal",
        seen: () => /relay removed.*relay=far/.test(beta.log()),
      },
    );
    expect(removed).toMatchObject({ removed: { name: "far" }, heldElsewhere: "held" });
    await beta.kill();
    expect(await relays(gamma)).toEqual([]);
    await waitFor("gamma to close its tunnel to the relay", () =>
      /relay tunnel closed.*device=gamma\b/.test(relay.log()) ? true : undefined,
    );
  }, 60_000);

  test("with no other device up to hold it, the text says to keep this device running", async () => {
    // alpha and beta were killed: gamma's write is held by gamma alone.
    const text = await bucky(["relay", "add", ticket, "--home", gamma.home]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain("No other device holds the relay yet");
    expect(text.stdout).toContain("keep this device running");
  }, 30_000);

  test("two outside relays of one name: rm by that name is refused, naming their ids; by id, the one named goes", async () => {
    // Gamma is alone (alpha and beta killed): its writes are not waited for, as what is
    // checked is how rm reads a name.
    const other = await buckyJson<RelayView>([
      ...["relay", "add", namesake, "--no-wait", "--home", gamma.home],
    ]);
    const listed = await relays(gamma);
    expect(listed.map((r) => r.name)).toEqual(["far", "far"]);
    const first = listed.find((r) => r.id !== other.id) as RelayView;
    const ambiguous = await bucky(["relay", "rm", "far", "--home", gamma.home, "--json"]);
    expect(ambiguous.exitCode).toBe(2);
    const error = jsonError(ambiguous);
    expect(error).toMatchObject({ code: "E_USAGE", message: "2 outside relays are named far" });
    expect(error.hint).toContain(first.id);
    expect(error.hint).toContain(other.id);
    expect(await relays(gamma)).toEqual(listed);
    await buckyJson(["relay", "rm", other.id, "--no-wait", "--home", gamma.home]);
    expect((await relays(gamma)).map((r) => r.id)).toEqual([first.id]);
  }, 30_000);
});
