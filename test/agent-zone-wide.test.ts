/**
 * An agent's calls as the whole zone sees them: what it changed through one device is in
 * the audit log of every other, even when the device it went through is killed at once,
 * and an agent pressing past its limits cannot flood the log every device keeps. The
 * audit is published at its default pace here (every 10 s), as in a real zone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { pinnedTls } from "../protocol/tls-cert.ts";
import { buckyJson, cleanUp, type Daemon, startZone, waitFor } from "./harness.ts";

afterAll(cleanUp);

let alpha: Daemon;
let beta: Daemon;
const clients: Client[] = [];

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };
interface AuditEntry {
  device: string;
  agent: string;
  tool: string;
  ok: boolean;
  dryRun: boolean;
  outcome: string;
}

/** An agent granted on `home`, connected to that device's own /mcp, pinned to it. */
async function agentOn(home: string, name: string, flags: string[]): Promise<Client> {
  const { token, mcp } = await buckyJson<{
    token: string;
    mcp: { urls: string[]; certificate: string };
  }>(["agent", "grant", name, ...flags, "--home", home]);
  const client = new Client({ name, version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcp.urls[0] as string), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      fetch: (input: string | URL | Request, init?: RequestInit) =>
        fetch(input, { ...init, tls: pinnedTls(mcp.certificate) }),
    }),
  );
  clients.push(client);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}) {
  return (await client.callTool({ name, arguments: args })) as ToolResult;
}

async function log(home: string, agent: string): Promise<AuditEntry[]> {
  return (
    await buckyJson<{ entries: AuditEntry[] }>([
      ...["agent", "log", "--agent", agent, "--limit", "1000", "--home", home],
    ])
  ).entries;
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], { BUCKY_CONVERGE_INTERVAL_MS: "300" });
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  await buckyJson([
    ...["app", "install", resolve(import.meta.dir, "../fixtures/apps/site")],
    ...["--device", "beta", "--no-wait", "--home", alpha.home],
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => {})));
});

describe("an agent pressing past its limits", () => {
  test("leaves a bounded trace: its refusals past a few are counted, not each recorded", async () => {
    const client = await agentOn(alpha.home, "flood", ["--read", "status"]);
    const startedMs = Date.now();
    const flood = () => Promise.all(Array.from({ length: 50 }, () => call(client, "list_devices")));
    const results = await flood();
    const refusalsAtMost = () => 20 + Math.ceil((Date.now() - startedMs) / 1000);
    // Each refusal recorded would be an entry every device keeps for 90 days: a burst of
    // 20, then one a second.
    expect(results.filter((r) => r.isError).length).toBeGreaterThan(25);
    expect((await log(alpha.home, "flood")).filter((e) => !e.ok).length).toBeLessThanOrEqual(
      refusalsAtMost(),
    );
    // Past the first burst, the next refusal recorded says how many were left out.
    const counted = /\d+ more refusals before this one were not recorded/;
    await waitFor("a refusal recorded with those left out before it", async () => {
      results.push(...(await flood()));
      return (await log(alpha.home, "flood")).some((e) => counted.test(e.outcome))
        ? true
        : undefined;
    });
    const entries = await log(alpha.home, "flood");
    expect(entries.filter((e) => !e.ok).length).toBeLessThanOrEqual(refusalsAtMost());
    // The calls let through are each recorded.
    expect(entries.filter((e) => e.ok).length).toBe(results.filter((r) => !r.isError).length);
  });
});

describe("what an agent changed through a device", () => {
  test("is in the zone's audit log before the agent is answered: killing that device loses neither", async () => {
    await waitFor(
      "the site running on beta",
      async () => {
        const status = await buckyJson<{ state: string; device: string | null }>([
          ...["app", "status", "site", "--home", beta.home],
        ]);
        return status.state === "running" && status.device === "beta" ? true : undefined;
      },
      30_000,
    );
    // Through alpha, on an app that runs on beta; alpha is gone the moment it answers.
    const client = await agentOn(alpha.home, "stopper", ["--read", "apps", "--act", "app.stop"]);
    const stopped = await call(client, "stop_app", { app: "site" });
    expect(stopped.isError).toBeFalsy();
    await alpha.kill();
    const status = await buckyJson<{ desired: string }>([
      ...["app", "status", "site", "--home", beta.home],
    ]);
    expect(status.desired).toBe("stopped");
    const entries = await log(beta.home, "stopper");
    expect(
      entries.map(({ device, agent, tool, ok, dryRun }) => ({ device, agent, tool, ok, dryRun })),
    ).toEqual([{ device: "alpha", agent: "stopper", tool: "stop_app", ok: true, dryRun: false }]);
  });
});
