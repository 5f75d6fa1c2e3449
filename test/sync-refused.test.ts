/**
 * A device whose sync requests a peer refuses says so in its facts, and every device warns
 * of it in `bucky status`, until the peer takes its requests again. In the namespace lab,
 * three devices on the internet: gamma joins through alpha while alpha and beta cannot
 * reach each other, so beta has not heard that gamma joined and refuses it (a 403: it
 * does not know gamma as a member). Alpha, the third device, says so from gamma's facts;
 * once alpha and beta reach each other again, beta hears of gamma, takes its requests,
 * and the warning is gone on every device.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ZoneStatus } from "../lib/zone/status.ts";
import { buckyJson, cleanUp, type Daemon, newHomePath, startDaemon, waitFor } from "./harness.ts";
import { createLab, type Lab, type PublicHost } from "./lab.ts";

afterAll(cleanUp);

const PEER_PORT = 4411;
type Device = "alpha" | "beta" | "gamma";
const HOST: Record<Device, PublicHost> = { alpha: "gw", beta: "client", gamma: "server" };

const lab: Lab = createLab();
const homes: Record<Device, string> = {
  alpha: newHomePath(),
  beta: newHomePath(),
  gamma: newHomePath(),
};
const daemons: Partial<Record<Device, Daemon>> = {};

afterAll(async () => {
  await Promise.all(Object.values(daemons).map((daemon) => daemon?.kill()));
  lab.destroy();
});

async function start(device: Device): Promise<void> {
  daemons[device] = await startDaemon(
    homes[device],
    {},
    { wrap: lab.on(HOST[device], []), listen: "0.0.0.0", port: PEER_PORT },
  );
}

/** Joins `device` to alpha's zone (from its own host, which must reach alpha) and starts it. */
async function join(device: Device): Promise<void> {
  const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes.alpha]);
  await buckyJson(["join", token, "--home", homes[device], "--device", device, "--no-start"], {
    wrap: lab.on(HOST[device], []),
  });
  await start(device);
}

function status(device: Device): Promise<ZoneStatus> {
  return buckyJson<ZoneStatus>(["status", "--json", "--home", homes[device]]);
}

/** The sync refusals `device`'s bucky status warns of. */
async function refusals(device: Device) {
  const { reliability } = await status(device);
  return {
    notes: reliability.notes.filter((note) => note.kind === "sync-refused"),
    warnings: reliability.warnings.filter((warning) => warning.includes("sync requests")),
  };
}

/** Whether `device` sees `other` online (heard from it). */
async function online(device: Device, other: Device): Promise<true | undefined> {
  const { devices } = await status(device);
  return devices.find((d) => d.name === other)?.status === "online" ? true : undefined;
}

describe("a device a peer refuses to sync with", () => {
  beforeAll(async () => {
    await buckyJson(["init", "--home", homes.alpha, "--device", "alpha"]);
    await start("alpha");
    await join("beta");
    await waitFor(
      "alpha and beta to hear from each other",
      async () => (await online("alpha", "beta")) && (await online("beta", "alpha")),
    );
  }, 60_000);

  test("is warned of by the third device, and no more by any once the peer takes it again", async () => {
    lab.block("gw", "client", true);
    await join("gamma");
    const refused = await waitFor(
      "alpha to warn that beta refuses gamma",
      async () => {
        const seen = await refusals("alpha");
        return seen.notes.length > 0 ? seen : undefined;
      },
      30_000,
    );
    const since = refused.notes[0]?.kind === "sync-refused" ? refused.notes[0].since : "";
    expect(Date.parse(since)).not.toBeNaN();
    expect(refused).toEqual({
      notes: [
        {
          kind: "sync-refused",
          device: "gamma",
          peer: "beta",
          code: "E_PERMISSION",
          message: 'beta refused: "this device does not know you as a member of the zone (yet)"',
          since,
        },
      ],
      warnings: [
        `beta refuses gamma's sync requests (E_PERMISSION) since ${since}, so the two do not sync directly: gamma says "beta refused: \\"this device does not know you as a member of the zone (yet)\\""; if gamma joined lately, this ends once beta syncs with a device that knows it; otherwise check that both are still members (\`bucky devices\`)`,
      ],
    });
    // Gamma says so of itself; beta, which hears from neither, knows nothing of it.
    expect((await refusals("gamma")).notes).toEqual(refused.notes);
    expect((await refusals("beta")).notes).toEqual([]);

    lab.block("gw", "client", false);
    await waitFor("beta to hear from gamma", () => online("beta", "gamma"), 60_000);
    for (const device of ["alpha", "beta", "gamma"] as const)
      await waitFor(
        `${device} to warn no more`,
        async () => {
          const seen = await refusals(device);
          return seen.notes.length === 0 && seen.warnings.length === 0 ? true : undefined;
        },
        60_000,
      );
  }, 180_000);
});
