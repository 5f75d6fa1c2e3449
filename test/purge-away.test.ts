/**
 * An app purged while a device holding its data (its holder, when that is not the owner's
 * device) is away: back once the owner's device that purged is killed, it deletes what it
 * kept and runs nothing of it; the app and its data do not come back anywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  buckyJson,
  cleanUp,
  type Daemon,
  scratchDir,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

const FAST = {
  BUCKY_HEARTBEAT_MS: "500",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
};
const OWNER = "alpha";
let daemons: Map<string, Daemon>;
const { home, status, write, settled, killDevice } = notesApp(() => daemons);

function kept(on: string) {
  return {
    data: existsSync(join(home(on), "apps", "notes", "data")),
    copy: existsSync(join(home(on), "replicas", "notes")),
  };
}

let holder = "";

beforeAll(async () => {
  daemons = await startZone([OWNER, "beta", "gamma"], FAST);
  const dir = join(scratchDir(), "notes");
  cpSync(resolve(import.meta.dir, "../fixtures/apps/notes"), dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, "bucky-app.json"), "utf8"));
  writeFileSync(join(dir, "bucky-app.json"), JSON.stringify({ ...manifest, standbys: 2 }));
  await buckyJson(["app", "install", dir, "--home", home(OWNER)]);
  const running = await waitFor(
    "notes running with standbys",
    async () => {
      const s = await status(OWNER).catch(() => undefined);
      return s?.state === "running" && s.data?.holder && s.data.standbys.length > 1 ? s : undefined;
    },
    30_000,
  );
  holder = running.data?.holder?.device as string;
  await write(holder, "first");
  await settled(OWNER, holder);
}, 120_000);

describe("a purge while a device holding the data is away", () => {
  test("the device, back with the purger killed, deletes its data and runs nothing", async () => {
    const away = holder !== OWNER ? holder : "beta";
    const other = ["beta", "gamma"].find((d) => d !== away) as string;
    await killDevice(away);
    expect(kept(away).data || kept(away).copy).toBe(true);
    await buckyJson(["app", "remove", "notes", "--purge", "--home", home(OWNER)]);
    await waitFor(
      `${other} to delete its notes`,
      () => (!kept(other).data && !kept(other).copy ? true : undefined),
      20_000,
    );
    await killDevice(OWNER);
    daemons.set(away, await startDaemon(home(away), FAST));
    await waitFor(
      `${away} to delete its notes`,
      () => (!kept(away).data && !kept(away).copy ? true : undefined),
      20_000,
    );
    // Nothing of it listed or running there, nor on the device that stayed.
    for (const on of [away, other])
      expect(await buckyJson(["app", "list", "--home", home(on)])).toEqual({ apps: [] });
    expect(existsSync(join(home(away), "apps", "notes", "pid"))).toBe(false);
  }, 90_000);
});
