/**
 * Devices behind different NATs, in the namespace lab: a gateway on the "internet", two
 * homes behind routers that let nothing in. The home devices reach each other only
 * through the gateway's relay; a client on the internet reaches an app in home 1.
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  newHomePath,
  scratchDir,
  startDaemon,
  stateUnder,
  storeChunkAlone,
  userState,
  waitFor,
} from "./harness.ts";
import { ADDRESSES, createLab, type Host, type Lab } from "./lab.ts";

afterAll(cleanUp);

const PEER_PORT = 4411;
const GATEWAY = `http://${ADDRESSES.gw}:8080`;
const HOST = "zone.test";
const ENV = { BUCKY_CONVERGE_INTERVAL_MS: "300" };

const lab: Lab = createLab();

/**
 * An app streaming `mb` MiB at /blob, each byte known by its offset i: i*31 + i>>20;
 * answering `kb` KiB at /whole, held whole (so it goes with its Content-Length), byte i
 * being i*7; and echoing a WebSocket's messages at /ws.
 */
const BLOB_APP = `Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  idleTimeout: 0,
  websocket: { message(ws, message) { ws.send("echo " + message); } },
  fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname.endsWith("/ws") && server.upgrade(request)) return;
    if (url.pathname.endsWith("/whole")) {
      const bytes = new Uint8Array(Number(url.searchParams.get("kb")) * 1024);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 255;
      return new Response(bytes);
    }
    if (!url.pathname.endsWith("/blob")) return new Response("blob");
    const mb = Number(url.searchParams.get("mb"));
    let k = 0;
    return new Response(new ReadableStream({
      pull(controller) {
        if (k === mb) return controller.close();
        const chunk = new Uint8Array(1024 * 1024);
        for (let j = 0; j < chunk.length; j++) chunk[j] = ((k * 1048576 + j) * 31 + k) & 255;
        k++;
        controller.enqueue(chunk);
      },
    }), { headers: { "content-length": String(mb * 1048576) } });
  },
});
`;

const homes = { gw: newHomePath(), h1: newHomePath(), h2: newHomePath() };
const daemons: Partial<Record<"gw" | "h1" | "h2", Daemon>> = {};

function start(device: "gw" | "h1" | "h2"): Promise<Daemon> {
  // h2 says its relay hello as a bucky before relay protocol 2 did (no own streams, no
  // pipe streams): such a device must still be reached, by TLS streams and its ingress.
  const env = device === "h2" ? { ...ENV, BUCKY_TEST_RELAY_HELLO_V1: "1" } : ENV;
  return startDaemon(homes[device], env, {
    wrap: lab.on(device, []),
    listen: "0.0.0.0",
    port: PEER_PORT,
  }).then((daemon) => (daemons[device] = daemon));
}

/** `bucky args…` on a host of the lab, as JSON. */
function on<T = Record<string, unknown>>(host: Host, args: readonly string[]): Promise<T> {
  return buckyJson<T>(args, { wrap: lab.on(host, []) });
}

/** An HTTP request made from the client host, through the gateway. */
async function fromClient(
  path: string,
  init: { method?: string; body?: string; app?: string } = {},
): Promise<{ status: number; body: string }> {
  const script = `const r = await fetch(${JSON.stringify(GATEWAY + path)}, {
    method: ${JSON.stringify(init.method ?? "GET")},
    headers: { host: ${JSON.stringify(`${init.app ?? "notes"}.${HOST}`)}, "content-type": "application/json" },
    ${init.body === undefined ? "" : `body: ${JSON.stringify(init.body)},`}
  });
  console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;
  return onClient(script);
}

/** What `script` prints (JSON), run by Bun on the client host. */
async function onClient<T>(script: string): Promise<T> {
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

/** `kb` KiB from an app's /whole, fetched by the client: its status, and its bytes checked. */
async function wholeFromClient(
  app: string,
  kb: number,
): Promise<{ status: number; n: number; wrong: number }> {
  const script = `const r = await fetch(${JSON.stringify(`${GATEWAY}/whole?kb=${kb}`)}, {
      headers: { host: ${JSON.stringify(`${app}.${HOST}`)} },
    });
    const bytes = new Uint8Array(await r.arrayBuffer());
    const wrong = bytes.findIndex((b, i) => b !== ((i * 7) & 255));
    console.log(JSON.stringify({ status: r.status, n: bytes.length, wrong }));`;
  return onClient(script);
}

/** The requests a device's peer API logged for paths starting with `prefix`. */
function ingressLines(device: "h1" | "h2", prefix: string): string[] {
  return (daemons[device] as Daemon)
    .log()
    .split("\n")
    .filter((line) => line.includes(`path=${prefix}`));
}

async function converged(devices: readonly ("gw" | "h1" | "h2")[], expected: object) {
  for (const device of devices) {
    await waitFor(
      `${device} to hold every write`,
      async () => {
        const state = await userState(homes[device]);
        return Object.entries(expected).every(([k, v]) => state[k] === v) ? true : undefined;
      },
      30_000,
    );
  }
}

/** Every changeset a device holds: author, seq and hash, in order. */
function changesets(device: "gw" | "h1" | "h2"): string[] {
  const db = new Database(join(homes[device], "state.db"), { readonly: true });
  try {
    return db
      .query<{ author: string; seq: number; hash: Uint8Array }, []>(
        "SELECT author, seq, hash FROM changesets ORDER BY author, seq",
      )
      .all()
      .map((row) => `${row.author}/${row.seq}/${Buffer.from(row.hash).toString("hex")}`);
  } finally {
    db.close();
  }
}

afterAll(async () => {
  await Promise.all(Object.values(daemons).map((daemon) => daemon?.kill()));
  lab.destroy();
});

/** Installs BLOB_APP as `app` on `device`, and waits for the gateway to route to it. */
async function installBlob(app: string, device: string): Promise<void> {
  const dir = join(scratchDir(), app);
  mkdirSync(dir);
  writeFileSync(join(dir, "app.ts"), BLOB_APP);
  writeFileSync(
    join(dir, "bucky-app.json"),
    JSON.stringify({
      id: app,
      version: "1.0.0",
      run: { command: ["bun", "app.ts"] },
      http: {},
      exposure: "public",
      health: { path: "/" },
    }),
  );
  await buckyJson(["app", "install", dir, "--device", device, "--home", homes.gw]);
  await waitFor(
    `${app} to run on ${device} and the gateway to route to it`,
    async () => ((await fromClient("/", { app })).status === 200 ? true : undefined),
    30_000,
  );
}

describe("devices behind different NATs", () => {
  beforeAll(async () => {
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
    for (const device of ["h1", "h2"] as const) {
      const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes.gw]);
      await on(device, ["join", token, "--home", homes[device], "--device", device, "--no-start"]);
      await start(device);
    }
  }, 60_000);

  test("the home devices cannot call each other: the lab's NAT holds", async () => {
    const probe = `const s = await Bun.connect({ hostname: ${JSON.stringify(ADDRESSES.h1)}, port: ${PEER_PORT}, socket: { data() {} } }).then(() => "open", (e) => "refused: " + e.code);
      console.log(s);`;
    for (const host of ["h2", "gw", "client"] as const) {
      const child = Bun.spawn(lab.on(host, [process.execPath, "-e", probe]), {
        stdout: "pipe",
        stderr: "ignore",
      });
      const answer = await Promise.race([
        new Response(child.stdout).text(),
        Bun.sleep(3_000).then(() => "timed out"),
      ]);
      child.kill();
      expect(answer.trim()).not.toBe("open");
    }
  });

  test("they join through the gateway and converge on writes made on each", async () => {
    await bucky(["state", "set", "from/h1", '"one"', "--home", homes.h1]);
    await bucky(["state", "set", "from/h2", '"two"', "--home", homes.h2]);
    await bucky(["state", "set", "from/gw", '"three"', "--home", homes.gw]);
    await converged(["gw", "h1", "h2"], { "from/h1": "one", "from/h2": "two", "from/gw": "three" });

    // h1 says how it reaches each device: the gateway directly, h2 only through it.
    const { devices } = await waitFor("h1 to have reached h2", async () => {
      const view = await buckyJson<{
        devices: { name: string; route: string | null; via: string | null; rttMs: number | null }[];
      }>(["devices", "--home", homes.h1]);
      return view.devices.find((d) => d.name === "h2")?.route ? view : undefined;
    });
    expect(devices.find((d) => d.name === "gw")).toMatchObject({ route: "direct" });
    expect(devices.find((d) => d.name === "h2")).toMatchObject({ route: "relayed", via: "gw" });
    expect(devices.find((d) => d.name === "h2")?.rttMs).toBeGreaterThanOrEqual(0);
    const text = await bucky(["devices", "--home", homes.h1]);
    expect(text.stdout).toMatch(/h2 .* relayed via gw \(\d+ ms\)/);
  }, 60_000);

  test("the notes app on home device 1 answers the public client through the gateway", async () => {
    const notes = resolve(import.meta.dir, "../fixtures/apps/notes");
    await buckyJson(["app", "install", notes, "--device", "h1", "--home", homes.gw]);
    await waitFor(
      "notes to run on h1 and the gateway to route to it",
      async () => ((await fromClient("/api/notes")).status === 200 ? true : undefined),
      30_000,
    );
    const text = `relayed note ${randomBytes(4).toString("hex")}`;
    const created = await fromClient("/api/notes", {
      method: "POST",
      body: JSON.stringify({ text }),
    });
    expect(created.status).toBe(201);
    const listed = JSON.parse((await fromClient("/api/notes")).body) as {
      notes: { text: string }[];
    };
    expect(listed.notes.map((n) => n.text)).toContain(text);
    // It really runs on h1, behind the NAT.
    const status = await buckyJson<{ device: string; state: string }>([
      "app",
      "status",
      "notes",
      "--home",
      homes.gw,
    ]);
    expect(status).toMatchObject({ device: "h1", state: "running" });
  }, 60_000);

  test("a download from home device 1 through the gateway survives the gateway stalling 12 s, byte for byte", async () => {
    // An app on h1 streaming 64 MiB whose every byte is known (offset i holds i*31 + i>>20).
    await installBlob("blob", "h1");
    const size = 64 * 1024 * 1024;
    // The client says when the body has begun, then reads and checks every byte.
    const script = `const r = await fetch(${JSON.stringify(`${GATEWAY}/blob?mb=64`)}, {
        headers: { host: ${JSON.stringify(`blob.${HOST}`)} },
      });
      let n = 0, wrong = -1, said = false;
      try {
        for await (const chunk of r.body) {
          for (let j = 0; j < chunk.length && wrong < 0; j++) {
            const i = n + j;
            if (chunk[j] !== ((i * 31 + (i >>> 20)) & 255)) wrong = i;
          }
          n += chunk.length;
          if (!said) { said = true; console.log("begun"); }
        }
        console.log(JSON.stringify({ status: r.status, n, wrong }));
      } catch (error) { console.log(JSON.stringify({ status: r.status, n, wrong, error: String(error) })); }`;
    const child = Bun.spawn(lab.on("client", [process.execPath, "-e", script]), {
      stdout: "pipe",
      stderr: "pipe",
    });
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("begun\n")) {
      const { done, value } = await lines.read();
      if (done) throw new Error(`the client ended before the body began: ${seen}`);
      seen += value;
    }
    // The gateway (the relay) stops, as a briefly sleeping or badly blocked machine does,
    // longer than a connection's idle limit used to be (Bun.serve's 10 s by default).
    const gw = daemons.gw as Daemon;
    process.kill(gw.pid, "SIGSTOP");
    try {
      await Bun.sleep(12_000);
    } finally {
      process.kill(gw.pid, "SIGCONT");
    }
    while (true) {
      const { done, value } = await lines.read();
      if (done) break;
      seen += value;
    }
    await child.exited;
    const result = JSON.parse(seen.slice(seen.indexOf("begun\n") + 6).trim());
    expect(result).toEqual({ status: 200, n: size, wrong: -1 });
  }, 60_000);

  test("a relayed app's answer goes by the device's app pipe, not its ingress", async () => {
    // The ingress would send it to the gateway chunked (Bun.serve streams a body it does
    // not hold whole), and the gateway count it in JavaScript; the pipe passes the app's
    // bytes as they are, its length with them (lib/relay/relay.test.ts sees the length).
    const answer = await wholeFromClient("blob", 1024);
    expect(answer).toEqual({ status: 200, n: 1024 * 1024, wrong: -1 });
    expect(ingressLines("h1", "/v1/ingress/blob/whole")).toEqual([]);
  }, 30_000);

  test("a device whose relay hello takes nothing new (an older bucky) is still reached, by its ingress", async () => {
    await installBlob("blob-old", "h2");
    const answer = await wholeFromClient("blob-old", 1024);
    expect(answer).toEqual({ status: 200, n: 1024 * 1024, wrong: -1 });
    expect(ingressLines("h2", "/v1/ingress/blob-old/whole")).toHaveLength(1);
  }, 30_000);

  test("a WebSocket from the public client reaches an app behind NAT through the relay, by pipe and by ingress", async () => {
    const echoes = (app: string) =>
      onClient<
        string[]
      >(`const ws = new WebSocket(${JSON.stringify(`ws://${ADDRESSES.gw}:8080/ws`)}, {
        headers: { host: ${JSON.stringify(`${app}.${HOST}`)} },
      });
      const got = [];
      const timer = setTimeout(() => { console.log(JSON.stringify(got)); process.exit(0); }, 10000);
      ws.onopen = () => { ws.send("one"); ws.send("x".repeat(200000)); };
      ws.onmessage = (event) => {
        got.push(event.data.length > 100 ? "long " + event.data.length : event.data);
        if (got.length === 2) { clearTimeout(timer); console.log(JSON.stringify(got)); ws.close(); }
      };
      ws.onerror = () => { clearTimeout(timer); console.log(JSON.stringify(["error", ...got])); process.exit(0); };`);
    // blob on h1, reached by its app pipe; blob-old on h2, by its ingress (tests above).
    expect(await echoes("blob")).toEqual(["echo one", `long ${"echo ".length + 200000}`]);
    expect(await echoes("blob-old")).toEqual(["echo one", `long ${"echo ".length + 200000}`]);
  }, 60_000);

  test("bucky get on home device 1 fetches a file stored on home device 2, verified", async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    // On device 2 alone (what `bucky put` stores, device 1 would copy first): fetched over
    // the relay by get itself.
    const id = storeChunkAlone(homes.h2, bytes);
    const output = join(scratchDir(), "fetched.bin");
    const got = await on<{ size: number }>("h1", ["get", id, "-o", output, "--home", homes.h1]);
    expect(got.size).toBe(bytes.length);
    expect(Buffer.compare(readFileSync(output), bytes)).toBe(0);
  }, 60_000);

  test("home device 2 backs up through home device 1, over the relay, to a target only 1 reaches", async () => {
    const repo = join(scratchDir(), "h1-usb");
    await on("h1", ["backup", "target", "add", "usb", repo, "--home", homes.h1, "--no-backup"]);
    await waitFor(
      "home device 2 to see the target",
      async () =>
        (
          await on<{ targets: { name: string; reach: string }[] }>("h2", [
            "backup",
            "target",
            "list",
            "--home",
            homes.h2,
          ])
        ).targets.some((t) => t.name === "usb" && t.reach === "through")
          ? true
          : undefined,
      30_000,
    );
    const run = await on<{ via: string; snapshot: string }>("h2", [
      "backup",
      "run",
      "--home",
      homes.h2,
    ]);
    expect(run.via).toBe("h1");
    const { snapshots } = await on<{ snapshots: { id: string; device: string }[] }>("h1", [
      "backup",
      "list",
      "--home",
      homes.h1,
    ]);
    expect(snapshots).toContainEqual(expect.objectContaining({ id: run.snapshot, device: "h2" }));
  }, 60_000);

  test("cutting the gateway's link, then restarting it: tunnels come back, nothing lost or doubled", async () => {
    const net = lab;
    net.link("gw", false);
    // Not waited for (3 s each, gw cut off): the link stays cut as long as the sleep says,
    // and what is checked is that the writes reach everyone once it is back.
    await bucky(["state", "set", "cut/h1", '"a"', "--no-wait", "--home", homes.h1]);
    await bucky(["state", "set", "cut/h2", '"b"', "--no-wait", "--home", homes.h2]);
    await Bun.sleep(4_000);
    net.link("gw", true);
    await converged(["gw", "h1", "h2"], { "cut/h1": "a", "cut/h2": "b" });

    await (daemons.gw as Daemon).stop();
    await bucky(["state", "set", "down/h1", '"c"', "--no-wait", "--home", homes.h1]);
    await bucky(["state", "set", "down/h2", '"d"', "--no-wait", "--home", homes.h2]);
    await Bun.sleep(2_000);
    await start("gw");
    await converged(["gw", "h1", "h2"], { "down/h1": "c", "down/h2": "d" });
    // The tunnels were reopened (h1 and h2 reach each other through gw again).
    await waitFor(
      "both tunnels to be back",
      () => {
        const log = (daemons.gw as Daemon).log();
        const open = (device: string) =>
          new RegExp(`relay tunnel open.*device=${device}`).test(log);
        return open("h1") && open("h2") ? true : undefined;
      },
      30_000,
    );

    const held = changesets("gw");
    expect(new Set(held).size).toBe(held.length);
    expect(changesets("h1")).toEqual(held);
    expect(changesets("h2")).toEqual(held);
  }, 90_000);

  test("a capture on the gateway host holds none of the values the homes exchange", async () => {
    const pcap = join(scratchDir(), "gw.pcap");
    const tcpdump = Bun.which("tcpdump", { PATH: "/usr/sbin:/usr/bin" });
    expect(tcpdump, "tcpdump is needed (apt-get install tcpdump)").toBeTruthy();
    const capture = Bun.spawn(
      lab.on("gw", [tcpdump as string, "-i", "eth0", "-U", "-s", "0", "-w", pcap, "tcp"]),
      { stdout: "ignore", stderr: "pipe" },
    );
    await Bun.sleep(1_000);
    const secrets = [1, 2, 3].map(() => `plaintext-${randomBytes(8).toString("hex")}`);
    for (const [i, secret] of secrets.entries()) {
      await bucky([
        "state",
        "set",
        `secret/${i}`,
        JSON.stringify(secret),
        "--home",
        homes[i % 2 ? "h2" : "h1"],
      ]);
    }
    await converged(["h1", "h2"], Object.fromEntries(secrets.map((s, i) => [`secret/${i}`, s])));
    await Bun.sleep(500);
    capture.kill("SIGINT");
    await capture.exited;
    const captured = readFileSync(pcap);
    // Traffic did cross the gateway host, and none of it is readable.
    expect(captured.length).toBeGreaterThan(10_000);
    for (const secret of secrets) expect(captured.includes(Buffer.from(secret))).toBe(false);
  }, 60_000);

  test("home device 2 made a gateway too, a relay behind its NAT, keeps its tunnel to the public one and is still reached", async () => {
    // Answered once h2's daemon runs it: its tunnels were looked at again on the write.
    await on("h2", [
      ...["gateway", "enable", "--listen", "0.0.0.0:8090", "--tls", "off"],
      ...["--home", homes.h2],
    ]);
    await waitFor(
      "h1 to hold h2's gateway",
      async () =>
        Object.keys(await stateUnder(homes.h1, "nodes/h2/gateway")).length > 0 ? true : undefined,
      30_000,
    );
    // A relay needed no tunnel, it was thought: h2 dropped its own, and only its LAN
    // reached it. Through the public gateway's relay, h1 still gets what h2 alone holds.
    const bytes = randomBytes(256 * 1024 + 5);
    const id = storeChunkAlone(homes.h2, bytes);
    const output = join(scratchDir(), "from-h2-the-gateway.bin");
    const got = await on<{ size: number }>("h1", ["get", id, "-o", output, "--home", homes.h1]);
    expect(got.size).toBe(bytes.length);
    expect(Buffer.compare(readFileSync(output), bytes)).toBe(0);
    expect(daemons.gw?.log()).not.toMatch(/relay tunnel closed.*device=h2\b/);
    await on("h2", ["gateway", "disable", "--home", homes.h2]);
  }, 90_000);
});

describe("a relay-only node outside the zone", () => {
  // A second zone, on port 4412 of the same hosts: its founder on the internet (it can be
  // called, but is no gateway), and a device in each home. Its only relay is a node of
  // another zone, on the client host, made relay-only.
  const PORT = 4412;
  const other = { founder: newHomePath(), h1: newHomePath(), h2: newHomePath() };
  const relayHome = newHomePath();
  const startOn = (home: string, host: Host, port: number) =>
    startDaemon(home, ENV, { wrap: lab.on(host, []), listen: "0.0.0.0", port });

  beforeAll(async () => {
    await buckyJson(["init", "--home", relayHome, "--device", "relay"]);
    await startOn(relayHome, "client", PEER_PORT);
    const { ticket } = await buckyJson<{ ticket: string }>([
      "gateway",
      "enable",
      "--relay-only",
      "--home",
      relayHome,
    ]);
    await buckyJson(["init", "--home", other.founder, "--device", "founder"]);
    await startOn(other.founder, "gw", PORT);
    await buckyJson(["relay", "add", ticket, "--home", other.founder]);
    for (const device of ["h1", "h2"] as const) {
      const { token } = await buckyJson<{ token: string }>(["invite", "--home", other.founder]);
      await on(device, ["join", token, "--home", other[device], "--device", device, "--no-start"]);
      await startOn(other[device], device, PORT);
    }
  }, 60_000);

  test("relays between members of a zone it does not belong to", async () => {
    const relays = await buckyJson<{ relays: { name: string; member: boolean }[] }>([
      "relay",
      "list",
      "--home",
      other.h1,
    ]);
    expect(relays.relays).toEqual([expect.objectContaining({ name: "relay", member: false })]);
    await bucky(["state", "set", "other/h1", '"x"', "--home", other.h1]);
    await bucky(["state", "set", "other/h2", '"y"', "--home", other.h2]);
    for (const home of [other.h1, other.h2]) {
      await waitFor(
        "the second zone to converge",
        async () => {
          const state = await userState(home);
          return state["other/h1"] === "x" && state["other/h2"] === "y" ? true : undefined;
        },
        30_000,
      );
    }
    const { devices } = await waitFor(
      "h1 to have reached h2 through the relay",
      async () => {
        const view = await buckyJson<{
          devices: { name: string; route: string | null; via: string | null }[];
        }>(["devices", "--home", other.h1]);
        return view.devices.find((d) => d.name === "h2")?.route === "relayed" ? view : undefined;
      },
      30_000,
    );
    expect(devices.find((d) => d.name === "h2")).toMatchObject({ via: "relay" });
    // The relay's own zone knows nothing of the other: its state is untouched.
    expect(await userState(relayHome)).toEqual({});
  }, 60_000);

  test("a ticket that is not one, or one whose certificate is not its device's, is refused", async () => {
    const garbage = await bucky([
      "relay",
      "add",
      "bucky-relay:notbase64!",
      "--home",
      other.h1,
      "--json",
    ]);
    expect(garbage.exitCode).not.toBe(0);
    expect(JSON.parse(garbage.stderr).error.code).toBe("E_INVALID_INPUT");
    const { ticket } = await buckyJson<{ ticket: string }>([
      "gateway",
      "enable",
      "--relay-only",
      "--home",
      relayHome,
    ]);
    const decoded = JSON.parse(
      Buffer.from(ticket.slice("bucky-relay:".length), "base64url").toString(),
    );
    const founderCert = (
      await buckyJson<{ entries: { key: string; value: { cert: string } }[] }>([
        "state",
        "list",
        "devices/founder/info",
        "--home",
        other.founder,
      ])
    ).entries[0]?.value.cert;
    const forged = `bucky-relay:${Buffer.from(JSON.stringify({ ...decoded, cert: founderCert })).toString("base64url")}`;
    const refused = await bucky(["relay", "add", forged, "--home", other.h1, "--json"]);
    expect(JSON.parse(refused.stderr).error).toMatchObject({ code: "E_INVALID_INPUT" });
    expect(JSON.parse(refused.stderr).error.message).toContain("certificate");
  });
});
