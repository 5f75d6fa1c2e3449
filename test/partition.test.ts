/**
 * A partition in the NAT lab, with both sides serving the notes app: the link of the
 * holder's home router is cut, the standby on the other side takes over, each side takes
 * writes, then the link comes back. The side with the older epoch steps down and keeps
 * what it wrote as a conflict copy: nothing is thrown away, and every device says so.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { AppStatus } from "../lib/apps/status.ts";
import {
  appFetch,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  newHomePath,
  startDaemon,
  waitFor,
} from "./harness.ts";
import { createLab, type Lab } from "./lab.ts";
import { installNotesWithCopy } from "./notes-pair.ts";

afterAll(cleanUp);

const PEER_PORT = 4411;
/** A device is gone after three missed one-second heartbeats. */
const ENV = {
  BUCKY_HEARTBEAT_MS: "1000",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "300",
};
type Device = "gw" | "h1" | "h2";
const ROUTER = { h1: "r1", h2: "r2" } as const;

const lab: Lab = createLab();
const homes = { gw: newHomePath(), h1: newHomePath(), h2: newHomePath() };
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

function status(device: Device): Promise<AppStatus> {
  return buckyJson<AppStatus>(["app", "status", "notes", "--home", homes[device]]);
}

/** Writes a note to the app as `device` runs it (its socket is a file: reachable across the cut). */
async function write(device: Device, text: string): Promise<void> {
  const s = await status(device);
  expect(s.device).toBe(device);
  const response = await appFetch(s.url as string, "/api/notes", {
    method: "POST",
    body: JSON.stringify({ text }),
  });
  expect(response.status).toBe(201);
}

async function notes(device: Device): Promise<string[]> {
  const s = await status(device);
  const response = await appFetch(s.url as string, "/api/notes");
  return ((await response.json()) as { notes: { text: string }[] }).notes.map((n) => n.text);
}

let holder: "h1" | "h2";
let standby: "h1" | "h2";

beforeAll(async () => {
  await buckyJson(["init", "--home", homes.gw, "--device", "gw"]);
  await start("gw");
  // A gateway on the "internet": the homes, behind their NATs, reach each other through it.
  await buckyJson(["gateway", "enable", "--listen", "0.0.0.0:8080", "--home", homes.gw]);
  for (const device of ["h1", "h2"] as const) {
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes.gw]);
    await buckyJson(["join", token, "--home", homes[device], "--device", device, "--no-start"], {
      wrap: lab.on(device, []),
    });
    await start(device);
  }
  // The gateway relays for the homes and keeps no app data: the app lives on h1 and h2.
  // (Drained, it is not done: it stays the zone's only gateway.)
  const drained = await bucky([
    "devices",
    "drain",
    "gw",
    "--no-wait",
    "--json",
    "--home",
    homes.gw,
  ]);
  expect([drained.exitCode, JSON.parse(drained.stdout)]).toMatchObject([
    3,
    { draining: true, onlyGateway: true },
  ]);
  const running = await installNotesWithCopy(homes.gw, () => status("gw"));
  holder = running.device as "h1" | "h2";
  standby = holder === "h1" ? "h2" : "h1";
}, 120_000);

describe("a partition with both sides serving the app", () => {
  test("cut off, the holder keeps serving its side while the other side takes over", async () => {
    await write(holder, "before the cut");
    const wroteAt = Date.now();
    await waitFor(
      "the standby to have it",
      async () => {
        const s = await status("gw");
        const copy = s.data?.standbys[0];
        return copy?.lagMs === 0 && Date.parse(copy.snapshotAt ?? "") >= wroteAt ? true : undefined;
      },
      60_000,
    );
    lab.link(ROUTER[holder], false);
    await waitFor(
      "the other side to take the app over",
      async () => {
        const s = await status(standby);
        return s.state === "running" && s.device === standby ? true : undefined;
      },
      30_000,
    );
    // Both sides serve it now, and each takes a write the other never sees.
    await write(holder, `written on ${holder} while cut off`);
    await write(standby, `written on ${standby} while cut off`);
    expect(await notes(standby)).toEqual(["before the cut", `written on ${standby} while cut off`]);
  }, 60_000);

  test("healed: the older epoch steps down, its writes kept as a conflict copy everyone sees", async () => {
    lab.link(ROUTER[holder], true);
    const s = await waitFor(
      "a conflict copy, seen from the gateway",
      async () => {
        const now = await status("gw");
        return now.data?.conflicts.length === 1 && now.data.holder?.device === standby
          ? now
          : undefined;
      },
      60_000,
    );
    expect(s.data?.conflicts[0]?.device).toBe(holder);
    // The copy holds what was written on the cut-off side, whole.
    const copy = new Database(
      join(
        homes[holder],
        "apps",
        "notes",
        "conflicts",
        s.data?.conflicts[0]?.name as string,
        "db",
        "notes.db",
      ),
      { readonly: true },
    );
    const kept = copy.query<{ text: string }, []>("SELECT text FROM notes ORDER BY id").all();
    copy.close();
    expect(kept.map((n) => n.text)).toEqual([
      "before the cut",
      `written on ${holder} while cut off`,
    ]);
    // The side that took over keeps serving its own writes, and the old holder follows it.
    expect(await notes(standby)).toEqual(["before the cut", `written on ${standby} while cut off`]);
    await waitFor(
      "the old holder to follow",
      async () => {
        const now = await status("gw");
        return now.data?.standbys.some((x) => x.device === holder && x.lagMs === 0)
          ? true
          : undefined;
      },
      30_000,
    );
  }, 90_000);
});
