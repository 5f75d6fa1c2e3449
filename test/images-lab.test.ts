/**
 * An image app across NAT, in the namespace lab: the registry is on the gateway's own
 * loopback, the install runs on the gateway, and the app is pinned to a device behind a
 * router that lets nothing in. That device gets the image from the gateway (through its
 * relay tunnel), never from the registry, which is stopped as soon as the install is
 * done; a client on the internet reaches the app through the gateway.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AppStatus } from "../lib/apps/status.ts";
import {
  buckyJson,
  cleanUp,
  type Daemon,
  newHomePath,
  scratchDir,
  startDaemon,
  waitFor,
} from "./harness.ts";
import { ImageWorkshop, Registry } from "./images.ts";
import { ADDRESSES, createLab, type Lab } from "./lab.ts";

const PEER_PORT = 4411;
const GATEWAY = `http://${ADDRESSES.gw}:8080`;
const HOST = "zone.test";
const ENV = { BUCKY_CONVERGE_INTERVAL_MS: "300" };

const lab: Lab = createLab();
const homes = { gw: newHomePath(), h1: newHomePath() };
const daemons: Partial<Record<"gw" | "h1", Daemon>> = {};
let workshop: ImageWorkshop;
let registry: Registry;

/**
 * A device's daemon in its host's network. Entered with nsenter rather than `ip netns
 * exec`, which also mounts a /sys of its own and so hides the cgroups Podman needs.
 */
function start(device: "gw" | "h1"): Promise<Daemon> {
  return startDaemon(homes[device], ENV, {
    wrap: ["nsenter", `--net=/run/netns/${lab.ns(device)}`, "--"],
    listen: "0.0.0.0",
    port: PEER_PORT,
  }).then((daemon) => (daemons[device] = daemon));
}

/** A page requested from the client host, through the gateway, by the app's name. */
async function fromClient(path: string): Promise<{ status: number; body: string }> {
  const script = `const r = await fetch(${JSON.stringify(GATEWAY + path)}, { headers: { host: "site.${HOST}" } });
  console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;
  const child = Bun.spawn(lab.on("client", [process.execPath, "-e", script]), {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  if ((await child.exited) !== 0) throw new Error(`the client's request failed: ${stderr}`);
  return JSON.parse(stdout);
}

beforeAll(async () => {
  const scratch = scratchDir();
  workshop = new ImageWorkshop(join(scratch, "workshop"));
  workshop.build("site:1", { "www/index.html": "across the NAT\n" }, [
    "/bin/sh",
    "-c",
    'trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait',
  ]);
  // On the gateway's own loopback: the only place a registry is spoken to in plain HTTP.
  registry = new Registry(join(scratch, "registry"));
  await registry.start(lab.on("gw", []));
  workshop.push("site:1", registry, lab.on("gw", []));
  await buckyJson(["init", "--home", homes.gw, "--device", "gw"]);
  await start("gw");
  await buckyJson([
    "gateway",
    "enable",
    "--listen",
    "0.0.0.0:8080",
    "--tls",
    "off", // plain HTTP: .test is a local name, which the zone CA would certify
    "--host",
    HOST,
    "--home",
    homes.gw,
  ]);
  const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes.gw]);
  await buckyJson(["join", token, "--home", homes.h1, "--device", "h1", "--no-start"], {
    wrap: lab.on("h1", []),
  });
  await start("h1");
  await waitFor(
    "the gateway to hear that h1 runs images",
    async () => {
      const zone = await buckyJson<{ images: { device: string; engine: string | null }[] }>([
        "status",
        "--home",
        homes.gw,
      ]);
      return zone.images.some((d) => d.device === "h1" && d.engine) ? true : undefined;
    },
    30_000,
  ).catch((error: Error) => {
    throw new Error(
      `${error.message}\n${(daemons.h1 as Daemon)
        .log()
        .split("\n")
        .filter((l) => /engine|podman|error|WARN/i.test(l))
        .slice(-20)
        .join("\n")}`,
    );
  });
}, 90_000);

afterAll(async () => {
  await registry?.stop();
  workshop?.destroy();
  await Promise.all(Object.values(daemons).map((daemon) => daemon?.kill()));
  await cleanUp();
  lab.destroy();
});

describe("an image app behind NAT", () => {
  test("gets its image from the gateway, not the registry, and answers the internet through it", async () => {
    const dir = join(scratchDir(), "site");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "bucky-app.json"),
      JSON.stringify({
        id: "site",
        version: "1",
        run: { image: `${registry.host}/site:1`, port: 8080 },
        exposure: "public",
      }),
    );
    const installed = await buckyJson<{ image: string }>(
      ["app", "install", dir, "--device", "h1", "--no-wait", "--home", homes.gw],
      { wrap: lab.on("gw", []) },
    );
    expect(installed.image).toStartWith(`${registry.host}/site:1@sha256:`);
    await registry.stop();
    const page = await waitFor(
      "site to answer the client from h1",
      async () => {
        const answer = await fromClient("/").catch(() => undefined);
        return answer?.status === 200 ? answer.body : undefined;
      },
      60_000,
    ).catch(async (error: Error) => {
      const status = await buckyJson(["app", "status", "site", "--home", homes.gw]);
      const log = (daemons.h1 as Daemon)
        .log()
        .split("\n")
        .filter((line) => /site|image|app /.test(line))
        .slice(-15)
        .join("\n");
      throw new Error(`${error.message}; status ${JSON.stringify(status)}\nh1:\n${log}`);
    });
    expect(page).toBe("across the NAT\n");
    const status = await buckyJson<AppStatus>(["app", "status", "site", "--home", homes.gw]);
    expect(status).toMatchObject({
      device: "h1",
      state: "running",
      engine: expect.stringMatching(/^podman /),
    });
    expect((daemons.h1 as Daemon).log()).toContain("image loaded app=site");
    expect((daemons.h1 as Daemon).log()).not.toContain("image pulled");
  }, 90_000);
});
