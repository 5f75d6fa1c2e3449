/**
 * The device running an app goes silent, in the namespace lab: its packets dropped, not
 * refused, as a machine whose network vanished looks from outside. The gateway must say so
 * in bounded time, not hold every request for the app's whole time (30 s, then 504).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  buckyJson,
  cleanUp,
  type Daemon,
  newHomePath,
  scratchDir,
  startDaemon,
  waitFor,
} from "./harness.ts";
import { ADDRESSES, createLab, type Host, type Lab } from "./lab.ts";

afterAll(cleanUp);

const PEER_PORT = 4431;
const HOST = "zone.test";
const ENV = { BUCKY_CONVERGE_INTERVAL_MS: "300" };
const APP = `Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: () => new Response("hello from server") });`;

const lab: Lab = createLab();
const homes = { gw: newHomePath(), server: newHomePath() };
const daemons: Partial<Record<"gw" | "server", Daemon>> = {};

afterAll(async () => {
  await Promise.all(Object.values(daemons).map((daemon) => daemon?.kill()));
  lab.destroy();
});

function on(host: Host, args: readonly string[]) {
  return buckyJson(args, { wrap: lab.on(host, []) });
}

/** The app's answer through the gateway, from the client host: status and body, or the error. */
async function fromClient(timeoutMs: number): Promise<string> {
  const script = `try {
      const r = await fetch("http://${ADDRESSES.gw}:8080/", { headers: { host: "hello.${HOST}" }, signal: AbortSignal.timeout(${timeoutMs}) });
      console.log(r.status + " " + (await r.text()).slice(0, 40));
    } catch (e) { console.log("error " + (e.code ?? e.name)); }`;
  const child = Bun.spawn(lab.on("client", [process.execPath, "-e", script]), {
    stdout: "pipe",
    stderr: "ignore",
  });
  const text = await new Response(child.stdout).text();
  await child.exited;
  return text.trim();
}

describe("the device running an app goes silent", () => {
  beforeAll(async () => {
    await buckyJson(["init", "--home", homes.gw, "--device", "gw"]);
    for (const device of ["gw", "server"] as const) {
      if (device === "server") {
        const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes.gw]);
        await on(device, [
          "join",
          token,
          "--home",
          homes[device],
          "--device",
          device,
          "--no-start",
        ]);
      }
      daemons[device] = await startDaemon(homes[device], ENV, {
        wrap: lab.on(device, []),
        listen: "0.0.0.0",
        port: PEER_PORT,
      });
    }
    await on("gw", [
      ...["gateway", "enable", "--listen", "0.0.0.0:8080", "--tls", "off"],
      ...["--host", HOST, "--home", homes.gw],
    ]);
    const dir = join(scratchDir(), "hello");
    mkdirSync(dir);
    writeFileSync(join(dir, "app.ts"), APP);
    writeFileSync(
      join(dir, "bucky-app.json"),
      JSON.stringify({
        id: "hello",
        version: "1.0.0",
        run: { command: ["bun", "app.ts"] },
        http: {},
        exposure: "public",
        health: { path: "/" },
      }),
    );
    await buckyJson(["app", "install", dir, "--device", "server", "--home", homes.gw]);
    await waitFor(
      "the app through the gateway",
      async () => ((await fromClient(5_000)) === "200 hello from server" ? true : undefined),
      60_000,
    );
  }, 120_000);

  test("once the gateway found it silent, a request for its app is answered 502 within 15 s, not held 30 s", async () => {
    lab.blackhole("server", true);
    // The gateway's own calls find it silent (5 s, its sync's time to answer) and say so.
    await waitFor(
      "the gateway to find server silent",
      () =>
        new RegExp(
          `server is not answering at https://${ADDRESSES.server.replaceAll(".", "\\.")}`,
        ).test((daemons.gw as Daemon).log())
          ? true
          : undefined,
      20_000,
    );
    // Its app pipe, known at that address, held each request until the app's time ran out
    // (30 s, then 504). Now the ingress goes through the gateway's own relay, where the
    // device's tunnel stands until its silence is cut: 10 s for the stream to be taken up.
    expect(await fromClient(15_000)).toMatch(/^502 /);
  }, 60_000);
});
