import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { homePaths } from "../home.ts";
import { createLog } from "../log.ts";
import { LocalApi } from "../node/local-client.ts";
import { AgentLimits, MAX_CALLS_AT_ONCE } from "./limits.ts";
import { createAgentServer, MAX_LISTED_ENTRIES } from "./mcp.ts";

const home = mkdtempSync(join(tmpdir(), "bucky-mcp-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };
const text = (result: ToolResult) => result.content.map((c) => c.text).join("\n");

/**
 * A daemon's local API as the tools see it: tokens name their agent, `/v1/status` hangs
 * until let go (work that never finishes), `/v1/devices` answers at once, `/v1/state`
 * holds `stateKeys` (and keeps what it was asked).
 */
function fakeDaemon(
  scopes: { read: string[]; write: string[] } = { read: ["status"], write: [] },
  stateKeys: readonly string[] = [],
) {
  const audit: { agent: string; tool: string; ok: boolean; outcome: string }[] = [];
  const stateAsked: string[] = [];
  const hanging: (() => void)[] = [];
  const api = new LocalApi(async (request) => {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === "/v1/state") {
      stateAsked.push(url.search);
      const prefix = url.searchParams.get("prefix") ?? "";
      const keys = stateKeys.filter((key) => key.startsWith(prefix));
      const limit = Number(url.searchParams.get("limit") ?? keys.length);
      return Response.json({ entries: keys.slice(0, limit).map((key) => ({ key, value: 1 })) });
    }
    if (path === "/v1/agents/check") {
      const { token } = (await request.json()) as { token: string };
      return Response.json({
        agent: token,
        scopes: { ...scopes, act: [] },
        dataElsewhere: [],
      });
    }
    if (path === "/v1/agents/audit") {
      audit.push((await request.json()) as (typeof audit)[number]);
      return Response.json({ recorded: true });
    }
    if (path === "/v1/status")
      return new Promise((resolve) => hanging.push(() => resolve(Response.json({ zone: "z" }))));
    return Response.json({ devices: [] });
  });
  const letGo = () => {
    for (const go of hanging.splice(0)) go();
  };
  return { api, audit, stateAsked, letGo };
}

async function agentClient(
  daemon: ReturnType<typeof fakeDaemon>,
  token: string,
  limits: AgentLimits,
): Promise<Client> {
  const server = createAgentServer({
    api: daemon.api,
    token,
    paths: homePaths(home),
    now: Date.now,
    log: createLog({ level: "silent" }),
    limits,
    callTimeLimitMs: 200,
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "test", version: "1" });
  await client.connect(clientSide);
  return client;
}

const call = async (client: Client, name: string, args: Record<string, unknown> = {}) =>
  (await client.callTool({ name, arguments: args })) as ToolResult;

describe("an agent's calls are bounded", () => {
  test("a call that takes too long is given up on, said and audited", async () => {
    const daemon = fakeDaemon();
    const client = await agentClient(daemon, "slow", new AgentLimits());
    const result = await call(client, "zone_status");
    expect(result.isError).toBe(true);
    expect(text(result)).toContain("zone_status took longer than");
    expect(daemon.audit).toEqual([
      expect.objectContaining({ agent: "slow", tool: "zone_status", ok: false }),
    ]);
    daemon.letGo();
  });

  test("an agent whose calls hang uses up its own calls at once, and nobody else's", async () => {
    const daemon = fakeDaemon();
    const limits = new AgentLimits();
    const stuck = await agentClient(daemon, "stuck", limits);
    const other = await agentClient(daemon, "other", limits);
    // Each times out for the agent, but its work is still under way.
    for (let i = 0; i < MAX_CALLS_AT_ONCE; i++)
      expect(text(await call(stuck, "zone_status"))).toContain("took longer");
    const refused = await call(stuck, "list_devices");
    expect(refused.isError).toBe(true);
    expect(text(refused)).toContain("too many calls at once");
    expect((await call(other, "list_devices")).isError).toBeFalsy();
    // Once its work is done (a few turns of the event loop later), it may call again.
    daemon.letGo();
    let again = await call(stuck, "list_devices");
    for (let tries = 0; again.isError && tries < 10; tries++) {
      expect(text(again)).toContain("too many calls at once");
      again = await call(stuck, "list_devices");
    }
    expect(again.isError).toBeFalsy();
  });
});

describe("an agent's calls into the data directory", () => {
  const data = join(home, "data");
  mkdirSync(join(data, "private"), { recursive: true });
  writeFileSync(join(data, "private", "secret.txt"), "the safe code is 1234\n");
  // A file where the agent's path wants a directory.
  writeFileSync(join(data, "notes"), "not a directory");

  test("one the file system refuses is audited, and said without the host's paths", async () => {
    const daemon = fakeDaemon({ read: ["data"], write: ["data"] });
    const client = await agentClient(daemon, "writer", new AgentLimits());
    const result = await call(client, "put_file", { path: "notes/summary.md", content: "hi" });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(
      /^put_file failed at data\/notes: part of the way is a file, not a directory \(E[A-Z]+\)$/,
    );
    expect(text(result)).not.toContain(home);
    expect(daemon.audit).toEqual([
      expect.objectContaining({
        agent: "writer",
        tool: "put_file",
        ok: false,
        outcome: text(result),
      }),
    ]);
  });

  test("a search from a place not granted is refused alike whether it exists or not", async () => {
    const daemon = fakeDaemon({ read: ["data/notes"], write: [] });
    const client = await agentClient(daemon, "prober", new AgentLimits());
    const said = [];
    for (const path of ["private/secret.txt", "private/missing.txt"]) {
      const result = await call(client, "search_files", { query: "safe", path });
      expect(result.isError).toBe(true);
      said.push(text(result).replace(path, "<path>"));
    }
    expect(said[0]).toStartWith("not allowed: reading data/<path> was not granted");
    expect(said[1]).toBe(said[0]);
  });
});

describe("an agent's listing of the zone state", () => {
  test("asks the daemon only for the prefixes granted, a bounded number, and says when cut", async () => {
    const many = Array.from(
      { length: MAX_LISTED_ENTRIES + 5 },
      (_, i) => `notes/${String(i).padStart(4, "0")}`,
    );
    const daemon = fakeDaemon({ read: ["state:notes/", "state:todo/"], write: [] }, [
      "money/pin",
      ...many,
      "todo/today",
    ]);
    const client = await agentClient(daemon, "lister", new AgentLimits());
    const listed = JSON.parse(text(await call(client, "list_state", { prefix: "" })));
    expect(daemon.stateAsked).toEqual([
      `?prefix=notes%2F&limit=${MAX_LISTED_ENTRIES + 1}`,
      `?prefix=todo%2F&limit=${MAX_LISTED_ENTRIES + 1}`,
    ]);
    expect([listed.entries.length, listed.entries[0].key, listed.complete]).toEqual([
      MAX_LISTED_ENTRIES,
      "notes/0000",
      false,
    ]);
    daemon.stateAsked.length = 0;
    const one = JSON.parse(text(await call(client, "list_state", { prefix: "todo/t" })));
    expect([daemon.stateAsked, one]).toEqual([
      [`?prefix=todo%2Ft&limit=${MAX_LISTED_ENTRIES + 1}`],
      { entries: [{ key: "todo/today", value: 1 }], complete: true },
    ]);
  });
});
