/**
 * AI agents end to end: an MCP client from the official SDK talks to `bucky mcp` over
 * stdio and to a gateway's /mcp over HTTP, with tokens from `bucky agent grant`. It may
 * do what it was granted, is refused the rest (clearly), cannot climb out of the data
 * directory, changes nothing on a dry run, and stops working when revoked; every call
 * is in `bucky agent log`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  answeredOnceHeld,
  BUCKY,
  bucky,
  buckyJson,
  chunkPath,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  startZone,
  storeChunkAlone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

let alpha: Daemon;
let beta: Daemon;
let gateway: string;
const clients: Client[] = [];

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };

async function grant(name: string, flags: string[]): Promise<string> {
  return (
    await buckyJson<{ token: string }>(["agent", "grant", name, ...flags, "--home", alpha.home])
  ).token;
}

async function overStdio(token: string): Promise<Client> {
  const client = new Client({ name: "test", version: "1" });
  await client.connect(
    new StdioClientTransport({
      command: BUCKY,
      args: ["mcp", "--home", alpha.home],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", BUCKY_AGENT_TOKEN: token },
      stderr: "ignore",
    }),
  );
  clients.push(client);
  return client;
}

async function overHttp(token: string): Promise<Client> {
  const client = new Client({ name: "test", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${gateway}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  clients.push(client);
  return client;
}

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<ToolResult> {
  return (await client.callTool({ name, arguments: args })) as ToolResult;
}

const text = (result: ToolResult) => result.content.map((c) => c.text).join("\n");

beforeAll(async () => {
  // Beta without the backup key: what it cannot do, its agents cannot either.
  const zone = await startZone(
    ["alpha", "beta"],
    { BUCKY_CONVERGE_INTERVAL_MS: "300" },
    { backupKey: false },
  );
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  const data = join(alpha.home, "data");
  mkdirSync(join(data, "notes"), { recursive: true });
  mkdirSync(join(data, "private"), { recursive: true });
  writeFileSync(join(data, "notes", "todo.txt"), "buy milk\ncall the plumber\n");
  writeFileSync(join(data, "private", "secret.txt"), "the safe code is 1234\n");
  symlinkSync("/etc/hostname", join(data, "notes", "escape"));
  gateway = await enableGateway(alpha.home);
  await buckyJson([
    "app",
    "install",
    resolve(import.meta.dir, "../fixtures/apps/site"),
    "--home",
    alpha.home,
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => {})));
});

describe("an agent over stdio", () => {
  let client: Client;
  beforeAll(async () => {
    client = await overStdio(
      await grant("helper", ["--read", "status,apps,data/notes", "--act", "app.stop"]),
    );
  });

  test("lists every tool, each with a described input schema", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(
      [
        "list_apps",
        "list_devices",
        "list_state",
        "put_file",
        "read_file",
        "read_object",
        "read_state",
        "run_backup",
        "search_files",
        "start_app",
        "stop_app",
        "zone_status",
      ].sort(),
    );
    const readFile = tools.find((t) => t.name === "read_file");
    expect(readFile?.description).toContain("data directory");
    expect(readFile?.inputSchema.properties).toHaveProperty("path");
    expect(readFile?.inputSchema.required).toEqual(["path"]);
  });

  test("reads the zone's status and a file it may read", async () => {
    const status = await call(client, "zone_status");
    expect(status.isError).toBeFalsy();
    expect(
      JSON.parse(text(status))
        .devices.map((d: { name: string }) => d.name)
        .sort(),
    ).toEqual(["alpha", "beta"]);
    const file = await call(client, "read_file", { path: "notes/todo.txt" });
    expect(JSON.parse(text(file))).toMatchObject({
      path: "data/notes/todo.txt",
      text: "buy milk\ncall the plumber\n",
    });
    const found = await call(client, "search_files", { query: "PLUMBER" });
    expect(JSON.parse(text(found)).matches).toEqual([
      { path: "data/notes/todo.txt", line: "call the plumber" },
    ]);
  });

  test("is refused what it was not granted, saying so", async () => {
    const secret = await call(client, "read_file", { path: "private/secret.txt" });
    expect(secret.isError).toBe(true);
    expect(text(secret)).toContain("reading data/private/secret.txt was not granted");
    const write = await call(client, "put_file", { path: "notes/new.txt", content: "hi" });
    expect(write.isError).toBe(true);
    expect(text(write)).toContain("writing data/notes/new.txt was not granted");
    expect(existsSync(join(alpha.home, "data", "notes", "new.txt"))).toBe(false);
    const state = await call(client, "read_state", { key: "apps/x" });
    expect(state.isError).toBe(true);
    const backup = await call(client, "run_backup", {});
    expect(text(backup)).toContain("backup.run was not granted");
  });

  test("cannot climb out of the data directory, by dots or by a link", async () => {
    for (const path of [
      "../identity/device.key",
      "notes/../../identity/device.key",
      "/etc/passwd",
    ]) {
      const result = await call(client, "read_file", { path });
      expect(result.isError).toBe(true);
      expect(text(result)).not.toContain("bucky-device-key");
    }
    const dotted = await call(client, "read_file", { path: "notes/../private/secret.txt" });
    expect(dotted.isError).toBe(true);
    expect(text(dotted)).toContain("may not climb out");
    const link = await call(client, "read_file", { path: "notes/escape" });
    expect(link.isError).toBe(true);
    expect(text(link)).toContain("leads outside the data directory");
  });

  test("a dry run says what would happen and changes nothing; the real call acts", async () => {
    await waitFor("the site's spec", async () =>
      (await buckyJson<{ desired: string }>(["app", "status", "site", "--home", alpha.home]))
        .desired
        ? true
        : undefined,
    );
    const dry = await call(client, "stop_app", { app: "site", dryRun: true });
    expect(text(dry)).toContain("Would stop site");
    expect(
      (await buckyJson<{ desired: string }>(["app", "status", "site", "--home", alpha.home]))
        .desired,
    ).toBe("running");
    const done = await call(client, "stop_app", { app: "site" });
    expect(done.isError).toBeFalsy();
    expect(
      (await buckyJson<{ desired: string }>(["app", "status", "site", "--home", alpha.home]))
        .desired,
    ).toBe("stopped");
  });

  test("every call is in the audit log, refusals and dry runs marked", async () => {
    const { entries } = await buckyJson<{
      entries: { agent: string; tool: string; ok: boolean; dryRun: boolean }[];
    }>(["agent", "log", "--agent", "helper", "--home", alpha.home]);
    const tools = entries.map((e) => e.tool);
    expect(tools).toContain("zone_status");
    expect(entries.find((e) => e.tool === "put_file")?.ok).toBe(false);
    expect(entries.some((e) => e.tool === "stop_app" && e.dryRun)).toBe(true);
    expect(entries.some((e) => e.tool === "stop_app" && !e.dryRun && e.ok)).toBe(true);
    expect(entries.length).toBeGreaterThanOrEqual(12);
  });

  test("a malformed audit entry or log query is refused, and the daemon carries on", async () => {
    const socket = join(alpha.home, "daemon.sock");
    const bad = await fetch("http://localhost/v1/agents/audit", {
      unix: socket,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ agent: "helper" }),
    });
    expect(bad.status).toBe(400);
    const limit = await bucky(["agent", "log", "--limit", "lots", "--home", alpha.home, "--json"]);
    expect(limit.exitCode).toBe(2);
    expect(jsonError(limit).message).toContain("whole number");
    await buckyJson(["agent", "list", "--home", alpha.home]);
  });

  test("a call sent just before the agent hangs up is done and audited, not cut short", async () => {
    const token = await grant("parting", ["--read", "data/inbox", "--write", "data/inbox"]);
    const mcp = Bun.spawn([BUCKY, "mcp", "--home", alpha.home], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "ignore",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", BUCKY_AGENT_TOKEN: token },
    });
    // Its whole conversation at once, then its end of stdin closed: it hangs up.
    const said = [
      {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "test", version: "1" },
        },
      },
      { jsonrpc: "2.0", method: "notifications/initialized" },
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "put_file", arguments: { path: "inbox/parting.txt", content: "goodbye" } },
      },
    ];
    mcp.stdin.write(said.map((message) => `${JSON.stringify(message)}\n`).join(""));
    await mcp.stdin.end();
    const answers = (await new Response(mcp.stdout).text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { id?: number; result?: ToolResult });
    expect(await mcp.exited).toBe(0);
    expect(answers.find((answer) => answer.id === 2)?.result).toEqual({
      content: [{ type: "text", text: "Did create data/inbox/parting.txt with 7 bytes." }],
    });
    expect(readFileSync(join(alpha.home, "data", "inbox", "parting.txt"), "utf8")).toBe("goodbye");
    const { entries } = await buckyJson<{ entries: { tool: string; ok: boolean }[] }>([
      "agent",
      "log",
      "--agent",
      "parting",
      "--home",
      alpha.home,
    ]);
    expect(entries.filter((entry) => entry.tool === "put_file")).toEqual([
      expect.objectContaining({ tool: "put_file", ok: true }),
    ]);
  });
});

describe("writing, over HTTP, and taking access away", () => {
  test("a writer writes only where granted; a dry run writes nothing", async () => {
    const client = await overHttp(
      await grant("writer", ["--write", "data/inbox", "--read", "data/inbox"]),
    );
    const dry = await call(client, "put_file", {
      path: "inbox/summary.md",
      content: "# Today\n",
      dryRun: true,
    });
    expect(text(dry)).toContain("Would create data/inbox/summary.md");
    expect(existsSync(join(alpha.home, "data", "inbox", "summary.md"))).toBe(false);
    const wrote = await call(client, "put_file", {
      path: "inbox/summary.md",
      content: "# Today\n",
    });
    expect(wrote.isError).toBeFalsy();
    expect(await Bun.file(join(alpha.home, "data", "inbox", "summary.md")).text()).toBe(
      "# Today\n",
    );
    const elsewhere = await call(client, "put_file", { path: "notes/todo.txt", content: "gone" });
    expect(elsewhere.isError).toBe(true);
    expect(await Bun.file(join(alpha.home, "data", "notes", "todo.txt")).text()).toBe(
      "buy milk\ncall the plumber\n",
    );
  });

  test("reads named data stored on another device, verified, the first MiB of a large one", async () => {
    const client = await overHttp(await grant("librarian", ["--read", "objects"]));
    // On beta alone (what `bucky put` stores, every device copies): alpha, which the agent
    // calls, has to fetch them.
    const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) % 251);
    const smallId = storeChunkAlone(
      beta.home,
      new TextEncoder().encode("two eggs, a cup of flour\n"),
    );
    const largeId = storeChunkAlone(beta.home, bytes);
    expect(existsSync(chunkPath(alpha.home, smallId))).toBe(false);
    expect(JSON.parse(text(await call(client, "read_object", { id: smallId })))).toEqual({
      id: smallId,
      size: 25,
      truncated: false,
      text: "two eggs, a cup of flour\n",
    });
    const head = JSON.parse(text(await call(client, "read_object", { id: largeId })));
    expect([head.size, head.truncated]).toEqual([bytes.length, true]);
    expect(
      Buffer.from(head.base64, "base64").equals(Buffer.from(bytes.subarray(0, 1024 * 1024))),
    ).toBe(true);
    const unknown = await call(client, "read_object", { id: `sha256:${"0".repeat(64)}` });
    expect(unknown.isError).toBe(true);
    const notAllowed = await call(
      await overHttp(await grant("reader", ["--read", "status"])),
      "read_object",
      { id: smallId },
    );
    expect(text(notAllowed)).toContain("reading objects was not granted");
  });

  test("reads at most a MiB of a large file; a search stops at its budget and says so", async () => {
    const bulk = join(alpha.home, "data", "bulk");
    mkdirSync(join(bulk, "many"), { recursive: true });
    const large = new Uint8Array(3 * 1024 * 1024).fill(97);
    writeFileSync(join(bulk, "large.txt"), large);
    for (let i = 0; i < 5_100; i++) writeFileSync(join(bulk, "many", `${i}.txt`), "nothing\n");
    const client = await overHttp(await grant("bulk", ["--read", "data/bulk"]));
    const head = JSON.parse(text(await call(client, "read_file", { path: "bulk/large.txt" })));
    expect([head.size, head.truncated, head.text.length]).toEqual([
      large.length,
      true,
      1024 * 1024,
    ]);
    const search = JSON.parse(
      text(await call(client, "search_files", { query: "needle", path: "bulk/many" })),
    );
    expect(search).toEqual({ query: "needle", matches: [], complete: false });
    writeFileSync(join(bulk, "small.txt"), "hay\nthe needle is here\n");
    const one = JSON.parse(
      text(await call(client, "search_files", { query: "NEEDLE", path: "bulk/small.txt" })),
    );
    expect(one.matches).toEqual([{ path: "data/bulk/small.txt", line: "the needle is here" }]);
  });

  test("a request over the size an agent needs is refused before it is read whole", async () => {
    const token = await grant("big", ["--read", "status"]);
    const response = await fetch(`${gateway}/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "ping",
        padding: "x".repeat(5_000_000),
      }),
    });
    expect(response.status).toBe(413);
    expect((await overHttp(token)).getServerVersion()?.name).toBe("bucky");
  });

  test("reads apps and the state keys granted, and runs a backup (a dry run first)", async () => {
    await buckyJson(["state", "set", "notes/today", '"call the plumber"', "--home", alpha.home]);
    await buckyJson(["state", "set", "money/pin", '"1234"', "--home", alpha.home]);
    await buckyJson([
      "backup",
      "target",
      "add",
      "usb",
      join(alpha.home, "..", "usb"),
      "--home",
      alpha.home,
      "--no-backup",
    ]);
    const client = await overHttp(
      await grant("clerk", ["--read", "apps,state:notes/", "--act", "backup.run"]),
    );
    const apps = JSON.parse(text(await call(client, "list_apps")));
    expect(apps.apps.map((a: { app: string }) => a.app)).toContain("site");
    expect(
      JSON.parse(text(await call(client, "read_state", { key: "notes/today" }))),
    ).toMatchObject({ value: "call the plumber" });
    const listed = JSON.parse(text(await call(client, "list_state", { prefix: "" })));
    expect(listed.entries.map((e: { key: string }) => e.key)).toEqual(["notes/today"]);
    expect((await call(client, "read_state", { key: "money/pin" })).isError).toBe(true);

    const dry = await call(client, "run_backup", { dryRun: true });
    expect(text(dry)).toContain(
      "Would back up this device's data to usb (its last backup there never)",
    );
    expect(existsSync(join(alpha.home, "..", "usb", "snapshots"))).toBe(false);
    const run = await call(client, "run_backup", {});
    expect(run.isError).toBeFalsy();
    expect(JSON.parse(text(run)).started).toEqual(["usb"]);
  });

  test("without a token the endpoint says how to get one", async () => {
    const response = await fetch(`${gateway}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(401);
    expect(await response.text()).toContain("bucky agent grant");
  });

  test("revoked: every later call is refused, over stdio and over HTTP", async () => {
    // Said granted only once beta holds it: lost with alpha, the token would work nowhere else.
    const granted = await answeredOnceHeld(
      [beta],
      () =>
        buckyJson<{ token: string; heldElsewhere: string }>([
          ...["agent", "grant", "temp", "--read", "status", "--home", alpha.home],
        ]),
      { what: "alpha to grant temp", seen: () => /agent granted.*agent=temp/.test(alpha.log()) },
    );
    expect(granted.heldElsewhere).toBe("held");
    const token = granted.token;
    const stdio = await overStdio(token);
    const http = await overHttp(token);
    expect((await call(http, "zone_status")).isError).toBeFalsy();
    await buckyJson(["agent", "revoke", "temp", "--home", alpha.home]);
    for (const client of [stdio, http]) {
      const result = await call(client, "zone_status");
      expect(result.isError).toBe(true);
      expect(text(result)).toContain("revoked");
    }
    // On the other device too, once it has synced.
    await waitFor("the revocation to reach beta", async () => {
      const { agents } = await buckyJson<{ agents: { agent: string; revokedAt: string | null }[] }>(
        ["agent", "list", "--home", beta.home],
      );
      return agents.find((a) => a.agent === "temp")?.revokedAt ? true : undefined;
    });
    const refused = await bucky(["mcp", "--home", beta.home, "--json"], {
      env: { BUCKY_AGENT_TOKEN: token },
    });
    expect(refused.exitCode).toBe(1);
    expect(jsonError(refused).message).toContain("revoked");
  });

  test("a grant never widens what its device can do, and a bad scope is refused", async () => {
    const onBeta = await bucky([
      "agent",
      "grant",
      "ops",
      "--act",
      "backup.run",
      "--home",
      beta.home,
      "--json",
    ]);
    expect(onBeta.exitCode).toBe(1);
    expect(jsonError(onBeta).code).toBe("E_PERMISSION");
    const bad = await bucky([
      "agent",
      "grant",
      "x",
      "--read",
      "data/../identity",
      "--home",
      alpha.home,
      "--json",
    ]);
    expect(bad.exitCode).toBe(2);
    expect(jsonError(bad).message).toContain("climbs out");
  });

  test("calls past the agent's rate are refused until it slows down", async () => {
    const client = await overHttp(await grant("busy", ["--read", "status"]));
    const results = await Promise.all(
      Array.from({ length: 30 }, () => call(client, "list_devices")),
    );
    const limited = results.filter((r) => r.isError && text(r).includes("too many calls"));
    expect(limited.length).toBeGreaterThan(0);
    expect(results.filter((r) => !r.isError).length).toBeGreaterThanOrEqual(20);
  });
});
