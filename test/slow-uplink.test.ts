/**
 * App data over a slow uplink, in the namespace lab: the notes app's holder sends to the
 * internet at 1 Mbit/s, as many homes do, and its standby must still catch up. A device
 * once gave a peer's whole answer one time, 5 s: the 800 KB of new data here took longer
 * than that to cross such a link, and the standby asked again forever (this test fails so
 * with the build before the fix).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import type { AppStatus } from "../lib/apps/status.ts";
import {
  appFetch,
  buckyJson,
  cleanUp,
  type Daemon,
  newHomePath,
  startDaemon,
  waitFor,
} from "./harness.ts";
import { createLab, type Lab } from "./lab.ts";

afterAll(cleanUp);

// Heartbeats as a user's (30 s, a device gone after 90 s): the transfer fills the link for
// seconds, and the holder's own calls to its peers wait behind it (heartbeats of 1 s had
// the standby take the holder for gone and take over, its writes then a conflict copy).
const ENV = {
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "300",
};
type Device = "gw" | "server";

const lab: Lab = createLab();
const homes = { gw: newHomePath(), server: newHomePath() };
const daemons: Partial<Record<Device, Daemon>> = {};

afterAll(async () => {
  await Promise.all(Object.values(daemons).map((daemon) => daemon?.kill()));
  lab.destroy();
});

async function start(device: Device): Promise<void> {
  daemons[device] = await startDaemon(homes[device], ENV, {
    wrap: lab.on(device, []),
    listen: "0.0.0.0",
    port: 4411,
  });
}

function status(device: Device): Promise<AppStatus> {
  return buckyJson<AppStatus>(["app", "status", "notes", "--home", homes[device]]);
}

let holder: Device;
let standby: Device;

beforeAll(async () => {
  await buckyJson(["init", "--home", homes.gw, "--device", "gw"]);
  await start("gw");
  const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes.gw]);
  await buckyJson(["join", token, "--home", homes.server, "--device", "server", "--no-start"], {
    wrap: lab.on("server", []),
  });
  await start("server");
  await buckyJson([
    "app",
    "install",
    resolve(import.meta.dir, "../fixtures/apps/notes"),
    "--no-wait",
    "--home",
    homes.gw,
  ]);
  const running = await waitFor(
    "notes running, its copy on the other device",
    async () => {
      const s = await status("gw");
      return s.state === "running" && s.data?.standbys[0]?.lagMs === 0 ? s : undefined;
    },
    60_000,
  );
  holder = running.device as Device;
  standby = holder === "gw" ? "server" : "gw";
}, 120_000);

describe("a holder behind a slow uplink", () => {
  test("its standby catches up with what it wrote, seen from the standby", async () => {
    lab.uplink(holder, 1000);
    try {
      const { url } = await status(holder);
      // 80 notes of 10,000 characters that do not compress: about 800 KB, 6.5 s at 1 Mbit/s.
      for (let note = 0; note < 80; note++) {
        const response = await appFetch(url as string, "/api/notes", {
          method: "POST",
          body: JSON.stringify({ text: randomBytes(7_500).toString("base64") }),
        });
        expect(response.status).toBe(201);
      }
      const wroteAt = Date.now();
      const caughtUp = await waitFor(
        "the standby to have every note",
        async () => {
          const s = await status(standby);
          const copy = s.data?.standbys.find((position) => position.device === standby);
          return copy?.lagMs === 0 && Date.parse(copy.snapshotAt ?? "") >= wroteAt ? s : undefined;
        },
        90_000,
      );
      expect(caughtUp.data?.holder?.device).toBe(holder);
    } finally {
      lab.uplink(holder, undefined);
    }
  }, 120_000);
});
