/**
 * The device running an app goes silent, in the namespace lab: its packets dropped, not
 * refused, as a machine whose network vanished looks from outside. The gateway must say so
 * in bounded time, not hold every request for the app's whole time (30 s, then 504).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  appDir,
  buckyJson,
  cleanUp,
  type Daemon,
  newHomePath,
  startDaemon,
  waitFor,
} from "./harness.ts";
import { ADDRESSES, createLab, type Host, type Lab } from "./lab.ts";

afterAll(cleanUp);

const PEER_PORT = 4431;
const HOST = "zone.test";
const ENV = { BUCKY_CONVERGE_INTERVAL_MS: "300" };
/**
 * The app: "/slow" answers after 5 s, "/hang" never does ("/hung" says how many it has),
 * "/ws" echoes; anything else answers at once.
 */
const APP = `let hung = 0;
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  idleTimeout: 120,
  fetch(request, server) {
    const path = new URL(request.url).pathname;
    if (path === "/slow") return Bun.sleep(5000).then(() => new Response("slow but here"));
    if (path === "/hang") { hung++; return new Promise(() => {}); }
    if (path === "/hung") return new Response(String(hung));
    if (path === "/ws" && server.upgrade(request)) return;
    return new Response("hello from server");
  },
  websocket: { message(ws, message) { ws.send(message); } },
});`;

const lab: Lab = createLab();
const homes = { gw: newHomePath(), server: newHomePath() };
const daemons: Partial<Record<"gw" | "server", Daemon>> = {};

afterAll(async () => {
  await Promise.all(Object.values(daemons).map((daemon) => daemon?.kill()));
  lab.destroy();
});

/** Makes the server a black hole (once: the cases after the first find it so). */
let silent = false;
function silence(): void {
  if (!silent) lab.blackhole("server", true);
  silent = true;
}

function on(host: Host, args: readonly string[]) {
  return buckyJson(args, { wrap: lab.on(host, []) });
}

/** Runs `script` on the client host: what it printed. */
async function onClient(script: string): Promise<string> {
  const child = Bun.spawn(lab.on("client", [process.execPath, "-e", script]), {
    stdout: "pipe",
    stderr: "ignore",
  });
  const text = await new Response(child.stdout).text();
  await child.exited;
  return text.trim();
}

/** The app's answer through the gateway, from the client host: status and body, or the error. */
function fromClient(timeoutMs: number, path = "/", method = "GET", body?: string): Promise<string> {
  return onClient(`try {
      const r = await fetch("http://${ADDRESSES.gw}:8080${path}", { method: "${method}", ${body === undefined ? "" : `body: ${JSON.stringify(body)}, `}headers: { host: "hello.${HOST}" }, signal: AbortSignal.timeout(${timeoutMs}) });
      console.log(r.status + " " + (await r.text()).slice(0, 40));
    } catch (e) { console.log("error " + (e.code ?? e.name)); }`);
}

/**
 * A WebSocket to the app's "/ws" through the gateway, from the client host: "echo" once a
 * message came back, else how it closed ("close <code> <reason>"), or "timeout".
 */
function webSocketFromClient(timeoutMs: number): Promise<string> {
  return onClient(`const ws = new WebSocket("ws://${ADDRESSES.gw}:8080/ws", { headers: { host: "hello.${HOST}" } });
    const timer = setTimeout(() => { console.log("timeout"); process.exit(0); }, ${timeoutMs});
    ws.onopen = () => ws.send("ping");
    ws.onmessage = (e) => { console.log("echo " + e.data); process.exit(0); };
    ws.onclose = (e) => { console.log("close " + e.code + " " + e.reason); process.exit(0); };`);
}

/** Times `run`: its result and how long it took (ms). */
async function timed<T>(run: Promise<T>, fromMs = performance.now()) {
  const result = await run;
  return { result, afterMs: Math.round(performance.now() - fromMs) };
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
    const dir = appDir(
      {
        id: "hello",
        version: "1.0.0",
        run: { command: ["bun", "app.ts"] },
        http: {},
        exposure: "public",
        health: { path: "/" },
      },
      { "app.ts": APP },
    );
    await buckyJson(["app", "install", dir, "--device", "server", "--home", homes.gw]);
    await waitFor(
      "the app through the gateway",
      async () => ((await fromClient(5_000)) === "200 hello from server" ? true : undefined),
      60_000,
    );
  }, 120_000);

  test("on a live device, an app that answers after 5 s is answered, and a WebSocket bridged", async () => {
    const [slow, ws] = await Promise.all([
      timed(fromClient(20_000, "/slow")),
      webSocketFromClient(10_000),
    ]);
    // The device was asked whether it is there (after 1.5 s), and was: the app kept its time.
    expect({ slow: slow.result, ws }).toEqual({ slow: "200 slow but here", ws: "echo ping" });
    expect(slow.afterMs).toBeGreaterThan(4_500);
  }, 30_000);

  test("a request under way when the device falls silent is answered 502 in seconds, a WebSocket opening is closed", async () => {
    const post = fromClient(25_000, "/hang", "POST", "form");
    const get = fromClient(25_000, "/hang");
    await waitFor(
      "both requests with the app",
      async () => ((await fromClient(5_000, "/hung")) === "200 2" ? true : undefined),
      15_000,
    );
    silence();
    const silentAtMs = performance.now();
    // Each timed from the silence.
    const [posted, got, bridged] = await Promise.all([
      timed(post, silentAtMs),
      timed(get, silentAtMs),
      timed(webSocketFromClient(15_000), silentAtMs),
    ]);
    console.log(
      `after the silence: POST ${posted.afterMs} ms, GET ${got.afterMs} ms, WebSocket ${bridged.afterMs} ms`,
    );
    // Held until the app's time ran out (30 s, then 504) before: now the device is asked
    // after 1.5 s, and every 2 s after, whether it takes a connection; it does not, twice
    // in a row (4.3 s after the silence, measured; 3 s when one was enough). The
    // POST, which the app may have acted on, is answered at once; the GET goes by the next
    // route: the gateway's own relay, whose silent tunnel neither takes the stream nor
    // answers a pong in 3 s, by its own stream and then by TLS (10 s each before).
    expect({ post: posted.result, get: got.result, ws: bridged.result }).toEqual({
      post: expect.stringMatching(/^502 /),
      get: expect.stringMatching(/^502 /),
      ws: "close 1011 the app's device did not answer",
    });
    expect(posted.afterMs).toBeLessThan(8_000);
    expect(bridged.afterMs).toBeLessThan(8_000);
    expect(got.afterMs).toBeLessThan(15_000);
  }, 60_000);

  test("once the gateway found it silent, a request for its app is answered 502 within 15 s, not held 30 s", async () => {
    silence();
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
    // device's tunnel stands until its silence is cut: 3 s for the stream to be taken up
    // or a pong heard (10 s before).
    expect(await fromClient(15_000)).toMatch(/^502 /);
  }, 60_000);
});
