/**
 * What a new user meets on the way to a working zone, each a detour someone took before:
 * lists without headers, "1 files", a device called online before its node ever ran,
 * log lines in the runtime's words, a hint that sent a device without the backup key to
 * add a target, and a second box refused for sharing the first one's host name.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { suggestName } from "../protocol/names.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  newHomePath,
  scratchDir,
  startDaemon,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const NOTES = resolve(import.meta.dir, "../fixtures/apps/notes");

interface DeviceView {
  name: string;
  status: string;
  lastSeenAt: string | null;
}

async function devices(home: string): Promise<DeviceView[]> {
  return (await buckyJson<{ devices: DeviceView[] }>(["devices", "--home", home])).devices;
}

describe("a second device, step by step", () => {
  let founder: Daemon;
  let beta: Daemon;
  let joinedHome: string;

  test("joined but its node never ran: offline and never seen, not online", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "alpha"]);
    founder = await startDaemon(home);
    // Without the backup key, for the hint below.
    const { token } = await buckyJson<{ token: string }>([
      "invite",
      "--no-backup-key",
      "--home",
      home,
    ]);
    joinedHome = newHomePath();
    await buckyJson(["join", token, "--home", joinedHome, "--device", "beta", "--no-start"]);
    // The join itself called the founder several times; that is not the device's node.
    expect((await devices(home)).find((d) => d.name === "beta")).toEqual(
      expect.objectContaining({ status: "offline", lastSeenAt: null }),
    );
  });

  test("online once its node is heard from", async () => {
    beta = await startDaemon(joinedHome);
    await waitFor("beta online", async () =>
      (await devices(founder.home)).find((d) => d.name === "beta" && d.status === "online"),
    );
  });

  test("`bucky devices` and `bucky app list` print a header over aligned columns", async () => {
    const text = (await bucky(["devices", "--home", founder.home])).stdout.split("\n");
    expect(text[0]).toMatch(/^DEVICE +STATUS +LAST SEEN +BUCKY +REACHED$/);
    const statusColumn = (text[0] as string).indexOf("STATUS");
    for (const line of text.slice(1).filter(Boolean))
      expect(line.slice(statusColumn)).toMatch(/^(online|offline)/);
    await buckyJson(["app", "install", NOTES, "--device", "alpha", "--home", founder.home]);
    const apps = (await bucky(["app", "list", "--home", founder.home])).stdout.split("\n");
    expect(apps[0]).toMatch(/^APP +VERSION +STATE +DEVICE +ACCESS$/);
    expect(apps[1]).toMatch(/^notes +1\.0\.0 +running +alpha +zone-only$/);
  });

  test("a device without the backup key is pointed to `bucky backup key` first", async () => {
    const run = await bucky(["backup", "run", "--home", joinedHome, "--json"]);
    expect(jsonError(run)).toMatchObject({
      code: "E_PERMISSION",
      message: "this device does not hold the backup key",
      hint: expect.stringMatching(/^Give this device the key with `bucky backup key`/),
    });
  });

  test("`bucky panel` on a device that is no gateway signs a browser in on the zone's gateway", async () => {
    const gateway = await enableGateway(founder.home);
    const link = (await buckyJson<{ url: string }>(["panel", "--home", joinedHome])).url;
    expect(new URL(link).origin).toBe(gateway);
    const signIn = await fetch(link, { redirect: "manual" });
    expect([302, 303]).toContain(signIn.status);
    const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const panel = await fetch(new URL(signIn.headers.get("location") as string, link), {
      headers: { cookie },
    });
    expect(panel.status).toBe(200);
    // Its backups and traffic are the zone's: every device's backups are listed there.
    expect(await panel.text()).toContain("No device backs up yet");
  });

  test("a peer that stops answering is said in plain words", async () => {
    await beta.stop();
    const line = await waitFor("the founder to notice", () =>
      founder
        .log()
        .split("\n")
        .find((l) => l.includes("beta is not answering at")),
    );
    // Why, in words a person reads (which words depends on how the connection failed).
    expect(line).toMatch(
      /\((nothing is listening there|the connection was cut|no answer in time)\)/,
    );
    expect(founder.log()).not.toContain("verbose: true");
  });
});

describe("two boxes with the same host name", () => {
  test("the second joins under the name with a number", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    await startDaemon(home);
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", home]);
    const joined = await buckyJson<{ device: { name: string } }>([
      "join",
      token,
      "--home",
      newHomePath(),
      "--no-start",
    ]);
    expect(joined.device.name).toBe(`${suggestName(hostname()) ?? "device"}-2`);
  });

  test("a name given with --device is kept or refused, never changed", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "nas"]);
    await startDaemon(home);
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", home]);
    const refused = await bucky([
      "join",
      token,
      "--home",
      join(scratchDir(), "b"),
      "--device",
      "nas",
      "--no-start",
      "--json",
    ]);
    expect(jsonError(refused).code).toBe("E_EXISTS");
  });
});
