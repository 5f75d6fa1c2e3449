import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { homePaths } from "../home.ts";
import { createLog } from "../log.ts";
import { LocalApi } from "../node/local-client.ts";
import { AgentLimits, MAX_CALLS_AT_ONCE } from "./limits.ts";
import { createAgentServer } from "./mcp.ts";

const home = mkdtempSync(join(tmpdir(), "bucky-mcp-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };
const text = (result: ToolResult) => result.content.map((c) => c.text).join("\n");

/**
 * A daemon's local API as the tools see it: tokens name their agent, `/v1/status` hangs
 * until let go (work that never finishes), `/v1/devices` answers at once.
 */
function fakeDaemon() {
  const audit: { agent: string; tool: string; ok: boolean; outcome: string }[] = [];
  const hanging: (() => void)[] = [];
  const api = new LocalApi(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/v1/agents/check") {
      const { token } = (await request.json()) as { token: string };
      return Response.json({
        agent: token,
        scopes: { read: ["status"], write: [], act: [] },
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
  return { api, audit, letGo };
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

const call = async (client: Client, name: string) =>
  (await client.callTool({ name, arguments: {} })) as ToolResult;

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
