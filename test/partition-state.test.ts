/**
 * The zone state across a partition: three devices on the lab's internet, one cut off from
 * the other two while both sides write the same keys and the two compact their history
 * without it. Healed, every device holds the same state, entry for entry, and nothing
 * written on either side is lost that last-writer-wins keeps.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { buckyJson, cleanUp, type Daemon, newHomePath, startDaemon, waitFor } from "./harness.ts";
import { createLab, type Lab } from "./lab.ts";

afterAll(cleanUp);

const PEER_PORT = 4411;
/** Checkpoints at cuts every half second, of what is over a second and a half old. */
const ENV = {
  BUCKY_HEARTBEAT_MS: "500",
  BUCKY_CHECKPOINT_HORIZON_MS: "1500",
  BUCKY_CHECKPOINT_PERIOD_MS: "500",
  BUCKY_CHECKPOINT_EVERY_MS: "250",
};
type Device = "gw" | "client" | "server";
const DEVICES: readonly Device[] = ["gw", "client", "server"];

const lab: Lab = createLab();
const homes = { gw: newHomePath(), client: newHomePath(), server: newHomePath() };
const daemons: Partial<Record<Device, Daemon>> = {};

afterAll(async () => {
  await Promise.all(Object.values(daemons).map((daemon) => daemon?.kill()));
  lab.destroy();
});

async function start(device: Device): Promise<void> {
  daemons[device] = await startDaemon(homes[device], ENV, {
    wrap: lab.on(device, []),
    listen: "0.0.0.0",
    port: PEER_PORT,
  });
}

interface Entry {
  key: string;
  value: unknown;
  updatedAt: string;
  author: string;
}

/** `state list apps/` on a device: its whole entries, who wrote each and when included. */
async function list(device: Device): Promise<Entry[]> {
  const { entries } = await buckyJson<{ entries: Entry[] }>([
    "state",
    "list",
    "apps/",
    "--home",
    homes[device],
  ]);
  return entries;
}

/**
 * Writes on `device`; `flags` as `state set` takes them (`--no-wait` in the partition: a
 * side cut off waits 3 s on each write for a device it cannot reach, and what is checked
 * here is what the writes converge to, not that wait).
 */
async function set(device: Device, key: string, value: unknown, ...flags: string[]) {
  await buckyJson(["state", "set", key, JSON.stringify(value), ...flags, "--home", homes[device]]);
}

function partition(cut: boolean): void {
  lab.block("gw", "client", cut);
  lab.block("gw", "server", cut);
}

beforeAll(async () => {
  await buckyJson(["init", "--home", homes.gw, "--device", "gw"]);
  await start("gw");
  for (const device of ["client", "server"] as const) {
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes.gw]);
    await buckyJson(["join", token, "--home", homes[device], "--device", device, "--no-start"], {
      wrap: lab.on(device, []),
    });
    await start(device);
  }
}, 60_000);

describe("a partition of one device from two, both sides writing the same keys", () => {
  test("healed, every device lists the same entries, and what last-writer-wins keeps is kept", async () => {
    await set("gw", "apps/shared/a", "before");
    await waitFor("everyone to have the first write", async () => {
      const lists = await Promise.all(DEVICES.map(list));
      return lists.every((l) => l.length === 1) ? true : undefined;
    });

    partition(true);
    // Interleaved, so each side wins some keys: gw the ones it wrote last.
    await set("gw", "apps/shared/a", "gw first", "--no-wait");
    await set("client", "apps/shared/a", "client last", "--no-wait");
    await set("client", "apps/shared/b", "client first", "--no-wait");
    await set("server", "apps/shared/c", "server first", "--no-wait");
    await set("gw", "apps/shared/b", "gw last", "--no-wait");
    await set("gw", "apps/shared/c", "gw last", "--no-wait");
    await set("gw", "apps/only/gw", "kept", "--no-wait");
    // Deleted after gw's write: the tombstone wins, on gw too.
    await buckyJson(["state", "del", "apps/shared/c", "--no-wait", "--home", homes.server]);
    const cutAt = Date.now();
    // The two agree on a checkpoint of what they wrote, without gw's writes.
    await waitFor(
      "client and server to compact past the writes",
      async () => {
        const views = await Promise.all(
          (["client", "server"] as const).map((d) =>
            buckyJson<{
              disk: { device: string; usage: { state: { checkpoint: { cut: string } | null } } }[];
            }>(["status", "--disk", "--home", homes[d]]),
          ),
        );
        return views.every((v, i) => {
          const own = v.disk.find((d) => d.device === ["client", "server"][i]);
          const cut = own?.usage?.state.checkpoint?.cut;
          return cut !== undefined && Date.parse(cut) > cutAt;
        })
          ? true
          : undefined;
      },
      30_000,
    );

    partition(false);
    const expected = {
      "apps/only/gw": "kept",
      "apps/shared/a": "client last",
      "apps/shared/b": "gw last",
    };
    const lists = await waitFor(
      "every device to list the same entries",
      async () => {
        const all = await Promise.all(DEVICES.map(list));
        const same = all.every((l) => JSON.stringify(l) === JSON.stringify(all[0]));
        const values = Object.fromEntries((all[0] ?? []).map((e) => [e.key, e.value]));
        return same && JSON.stringify(values) === JSON.stringify(expected) ? all : undefined;
      },
      // Each side waited the other out as it failed (doubling, up to a minute): healed, the
      // first call comes within about as long as the partition lasted.
      60_000,
    );
    // gw took the checkpoint made without it, then its own writes on top.
    expect(daemons.gw?.log()).toContain("checkpoint taken");
    expect(lists[0]?.map((e) => [e.key, e.author])).toEqual([
      ["apps/only/gw", "gw"],
      ["apps/shared/a", "client"],
      ["apps/shared/b", "gw"],
    ]);
  }, 90_000);
});
