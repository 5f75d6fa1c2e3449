/**
 * An agent's calls as the whole zone sees them: what it changed through one device is in
 * the audit log of every other, even when the device it went through is killed at once,
 * and what it read through a device a second before that device was killed is there too,
 * as is a call refused there for its token;
 * an agent pressing past its limits cannot flood the log every device keeps. The audit is
 * published at its default pace here (every 10 s, a call within a second), as in a real zone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { pinnedTls } from "../protocol/tls-cert.ts";
import {
  answeredOnceHeld,
  BUCKY,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

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

interface Granted {
  token: string;
  mcp: { urls: string[]; certificate: string };
  heldElsewhere: string;
}

async function grant(home: string, name: string, flags: string[]): Promise<Granted> {
  return buckyJson<Granted>(["agent", "grant", name, ...flags, "--home", home]);
}

/** An agent connected to a device's own /mcp (`url`), pinned to its certificate. */
async function connect(url: string, token: string, certificate: string): Promise<Client> {
  const client = new Client({ name: "agent", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      fetch: (input: string | URL | Request, init?: RequestInit) =>
        fetch(input, { ...init, tls: pinnedTls(certificate) }),
    }),
  );
  clients.push(client);
  return client;
}

/** An agent on the device itself: `bucky mcp` over stdio. */
async function overStdio(home: string, token: string): Promise<Client> {
  const client = new Client({ name: "agent", version: "1" });
  await client.connect(
    new StdioClientTransport({
      command: BUCKY,
      args: ["mcp", "--home", home],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", BUCKY_AGENT_TOKEN: token },
      stderr: "ignore",
    }),
  );
  clients.push(client);
  return client;
}

/** An agent granted on `home`, connected to that device's own /mcp. */
async function agentOn(home: string, name: string, flags: string[]): Promise<Client> {
  const { token, mcp } = await grant(home, name, flags);
  return connect(mcp.urls[0] as string, token, mcp.certificate);
}

let alphaEndpoint: { url: string; certificate: string } | undefined;
/** Alpha's own /mcp, and its certificate. */
async function alphaMcp(): Promise<{ url: string; certificate: string }> {
  if (!alphaEndpoint) {
    const { mcp } = await grant(alpha.home, "alpha-probe", ["--read", "status"]);
    alphaEndpoint = { url: mcp.urls[0] as string, certificate: mcp.certificate };
  }
  return alphaEndpoint;
}

let betaEndpoint: { url: string; certificate: string } | undefined;
/** Beta's own /mcp, and its certificate (asked while alpha runs: a grant waits for a peer). */
async function betaMcp(): Promise<{ url: string; certificate: string }> {
  if (!betaEndpoint) {
    const { mcp } = await grant(beta.home, "beta-probe", ["--read", "status"]);
    betaEndpoint = { url: mcp.urls[0] as string, certificate: mcp.certificate };
  }
  return betaEndpoint;
}

const text = (result: ToolResult) => result.content.map((c) => c.text).join("\n");

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
    const results: ToolResult[] = [];
    // Fifty calls at once. On a loaded machine they take seconds to come in, and the agent's
    // rate (5 a second) lets more of them through: it floods until enough were refused.
    const flood = async () => {
      results.push(
        ...(await Promise.all(Array.from({ length: 50 }, () => call(client, "list_devices")))),
      );
    };
    // Each refusal recorded would be an entry every device keeps for 90 days: a burst of
    // 20, then one a second.
    const refusalsAtMost = () => 20 + Math.ceil((Date.now() - startedMs) / 1000);
    // Past the first burst, the next refusal recorded says how many were left out.
    const counted = /\d+ more refusals before this one were not recorded/;
    await waitFor(
      "a refusal recorded with those left out before it",
      async () => {
        await flood();
        const entries = await log(alpha.home, "flood");
        expect(entries.filter((e) => !e.ok).length).toBeLessThanOrEqual(refusalsAtMost());
        return entries.some((e) => counted.test(e.outcome)) ? true : undefined;
      },
      40_000,
    );
    const entries = await log(alpha.home, "flood");
    const recorded = entries.filter((e) => !e.ok).length;
    expect(recorded).toBeLessThanOrEqual(refusalsAtMost());
    // Counted, not each recorded.
    expect(results.filter((r) => r.isError).length).toBeGreaterThan(recorded);
    // The calls let through are each recorded.
    expect(entries.filter((e) => e.ok).length).toBe(results.filter((r) => !r.isError).length);
  }, 60_000);
});

describe("an agent's rate", () => {
  test("is the device's, however many ways it connects: stdio and /mcp share it", async () => {
    const { token, mcp } = await grant(alpha.home, "twice", ["--read", "status"]);
    const ways = [
      await overStdio(alpha.home, token),
      await connect(mcp.urls[0] as string, token, mcp.certificate),
    ];
    const startedMs = Date.now();
    // Four calls at a time each way (never more than may be under way), 32 each.
    const answered = await Promise.all(
      ways.flatMap((client) =>
        Array.from({ length: 4 }, async () => {
          const results: ToolResult[] = [];
          for (let i = 0; i < 8; i++) results.push(await call(client, "list_devices"));
          return results;
        }),
      ),
    );
    const seconds = (Date.now() - startedMs) / 1000;
    const done = answered.flat().filter((r) => !r.isError).length;
    // A burst of 20, then 5 a second, for the device as a whole.
    expect(done).toBeLessThanOrEqual(20 + Math.ceil(5 * seconds) + 1);
    expect(answered.flat().some((r) => text(r).includes("too many calls"))).toBe(true);
  });
});

describe("bucky mcp started while its agent is past its rate", () => {
  test("says so as something to try again later (exit 3), not as a token that does not work", async () => {
    const { token, mcp } = await grant(alpha.home, "eager", ["--read", "status"]);
    const client = await connect(mcp.urls[0] as string, token, mcp.certificate);
    // Calls go on while it starts: its first call (its connect) finds the agent's rate
    // spent. Made only before it, on a loaded machine they came in no faster than the rate
    // refilled (5 a second), and each start found a call left.
    const flood = () => Promise.all(Array.from({ length: 8 }, () => call(client, "list_devices")));
    const refused = await waitFor("bucky mcp refused", async () => {
      await flood();
      let starting = true;
      const started = bucky(["mcp", "--home", alpha.home, "--json"], {
        env: { BUCKY_AGENT_TOKEN: token },
      }).finally(() => {
        starting = false;
      });
      while (starting) await flood();
      const run = await started;
      return run.exitCode === 0 ? undefined : run;
    });
    expect([refused.exitCode, jsonError(refused).code]).toEqual([3, "E_UNAVAILABLE"]);
    expect(jsonError(refused).message).toContain("too many calls");
  });
});

describe("a stranger flooding /mcp with bad tokens", () => {
  test("does not hide a revoked agent's calls: each agent's refusals have a budget of their own", async () => {
    const { token } = await grant(alpha.home, "sacked", ["--read", "status"]);
    await buckyJson(["agent", "revoke", "sacked", "--home", alpha.home]);
    const { url, certificate } = await alphaMcp();
    const garbage = await connect(url, "not-a-token", certificate);
    await Promise.all(Array.from({ length: 60 }, () => call(garbage, "zone_status")));
    const sacked = await connect(url, token, certificate);
    expect((await call(sacked, "list_devices")).isError).toBe(true);
    const entries = await log(alpha.home, "sacked");
    expect(entries.map((e) => [e.tool, e.ok, e.outcome])).toEqual([
      ["list_devices", false, expect.stringContaining("refused: agent sacked was revoked")],
    ]);
  });
});

describe("what an agent says, as the log shows it", () => {
  test("cannot write a line of its own into `bucky agent log`: control characters are shown escaped", async () => {
    const client = await agentOn(alpha.home, "forger", ["--read", "apps", "--act", "app.stop"]);
    // A carriage return and "clear the line", then an entry of someone else's making.
    const forged = "x\r\u001b[2K2026-12-01T00:00:00.000Z  alpha  admin  stop_app  ok: fine";
    expect((await call(client, "stop_app", { app: forged })).isError).toBe(true);
    const shown = await bucky(["agent", "log", "--agent", "forger", "--home", alpha.home]);
    expect(shown.exitCode).toBe(0);
    expect([shown.stdout.includes("\r"), shown.stdout.includes("\u001b")]).toEqual([false, false]);
    expect(shown.stdout.trim().split("\n")).toHaveLength(1);
    expect(shown.stdout).toContain("x\\u000d\\u001b[2K2026-12-01T00:00:00.000Z");
  });
});

let grantedOnAlpha: Granted;

describe("a grant made on one device", () => {
  test("is answered once another device holds it, and works there", async () => {
    grantedOnAlpha = await answeredOnceHeld(
      [beta],
      () => grant(alpha.home, "roamer", ["--read", "status"]),
      {
        what: "alpha to write the grant",
        seen: () => /agent granted.*agent=roamer/.test(alpha.log()),
      },
    );
    expect(grantedOnAlpha.heldElsewhere).toBe("held");
    const { url, certificate } = await betaMcp();
    const client = await connect(url, grantedOnAlpha.token, certificate);
    expect((await call(client, "zone_status")).isError).toBeFalsy();
  });
});

let dismissedToken: string;

describe("a revocation made on one device", () => {
  test("holds at another the moment it is answered, and after the revoking device is killed", async () => {
    const { token } = await grant(alpha.home, "dismissed", ["--read", "status"]);
    dismissedToken = token;
    const { url, certificate } = await betaMcp();
    const atBeta = await connect(url, token, certificate);
    expect((await call(atBeta, "zone_status")).isError).toBeFalsy();
    const revoked = await buckyJson<{ heldElsewhere: string }>([
      ...["agent", "revoke", "dismissed", "--home", alpha.home],
    ]);
    expect(revoked.heldElsewhere).toBe("held");
    const refused = await call(atBeta, "zone_status");
    expect([refused.isError, text(refused)]).toEqual([
      true,
      expect.stringContaining("agent dismissed was revoked"),
    ]);
  });
});

describe("a grant's end", () => {
  test("is kept by every device: a token that expired is refused at one that did not grant it", async () => {
    const { token } = await grant(alpha.home, "fleeting", ["--read", "status", "--ttl", "3s"]);
    const { url, certificate } = await betaMcp();
    const atBeta = await connect(url, token, certificate);
    expect((await call(atBeta, "zone_status")).isError).toBeFalsy();
    await waitFor("the token to expire at beta", async () => {
      const result = await call(atBeta, "zone_status");
      return result.isError && text(result).includes("expired") ? true : undefined;
    });
  });
});

interface Listed {
  agent: string;
  id: string;
  grantedBy: string;
  working: boolean;
  stopped?: { why: string; message: string };
}
/** How `twin`'s two grants are listed: [granted by, working, why stopped]. */
async function twins(home: string): Promise<[string, boolean, string | undefined][]> {
  const { agents } = await buckyJson<{ agents: Listed[] }>(["agent", "list", "--home", home]);
  return agents
    .filter((a) => a.agent === "twin")
    .map((a) => [a.grantedBy, a.working, a.stopped?.why]);
}

describe("two devices granting one name", () => {
  test("the grant the other replaced is listed as replaced on every device, its token refused", async () => {
    // As two grants at the same moment end: the later record holds everywhere.
    const first = await grant(alpha.home, "twin", ["--read", "status"]);
    const second = await grant(beta.home, "twin", ["--read", "status"]);
    expect([first.heldElsewhere, second.heldElsewhere]).toEqual(["held", "held"]);
    const replaced: [string, boolean, string | undefined][] = [
      ["beta", true, undefined],
      ["alpha", false, "replaced"],
    ];
    await waitFor("alpha to hold beta's grant", async () =>
      (await twins(alpha.home))[0]?.[0] === "beta" ? true : undefined,
    );
    expect(await twins(alpha.home)).toEqual(replaced);
    expect(await twins(beta.home)).toEqual(replaced);
    const { url, certificate } = await alphaMcp();
    const refused = await call(await connect(url, first.token, certificate), "zone_status");
    expect(refused.isError).toBe(true);
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
    // Nor does a grant alpha made stop with it: its token still works at beta.
    const { url, certificate } = await betaMcp();
    const roamer = await connect(url, grantedOnAlpha.token, certificate);
    expect((await call(roamer, "list_devices")).isError).toBeFalsy();
    // A revocation alpha answered holds at beta with alpha gone.
    const dismissed = await call(await connect(url, dismissedToken, certificate), "zone_status");
    expect([dismissed.isError, text(dismissed)]).toEqual([
      true,
      expect.stringContaining("agent dismissed was revoked"),
    ]);
    // The grant alpha made that beta's replaced is still listed so, with alpha gone.
    expect(await twins(beta.home)).toEqual([
      ["beta", true, undefined],
      ["alpha", false, "replaced"],
    ]);
    const entries = await log(beta.home, "stopper");
    expect(
      entries.map(({ device, agent, tool, ok, dryRun }) => ({ device, agent, tool, ok, dryRun })),
    ).toEqual([{ device: "alpha", agent: "stopper", tool: "stop_app", ok: true, dryRun: false }]);
  });
});

describe("what an agent read through a device", () => {
  test("is published within a second: killing that device soon after loses none of it", async () => {
    // Alpha back (the test before killed it; alone, it is restarted), and holding beta's
    // word again: a grant waits for a peer.
    await alpha.kill();
    alpha = await startDaemon(alpha.home, { BUCKY_CONVERGE_INTERVAL_MS: "300" });
    const client = await agentOn(alpha.home, "reader", ["--read", "status"]);
    const read = async () => expect((await call(client, "zone_status")).isError).toBeFalsy();
    // The first read is published at once; those within the second after it, together at
    // its end.
    await read();
    await waitFor("beta to hold the first read", async () =>
      (await log(beta.home, "reader")).length === 1 ? true : undefined,
    );
    await read();
    await read();
    await client.close();
    // The second they are published within, and half a second for beta to take them (a
    // loaded machine's margin), then the device is gone with whatever it had not published.
    await Bun.sleep(1_500);
    await alpha.kill();
    const entries = await log(beta.home, "reader");
    expect(entries.map(({ device, tool, ok }) => ({ device, tool, ok }))).toEqual(
      Array(3).fill({ device: "alpha", tool: "zone_status", ok: true }),
    );
  });
});

describe("a call refused through a device for its token", () => {
  test("is published within a second, as a read is: killing that device then loses none", async () => {
    // Alpha's audit timer pushed out of reach: only the prompt publication can carry them.
    // Before, refusals at /v1/agents/check waited for that timer (every 10 s by default).
    await alpha.kill();
    alpha = await startDaemon(alpha.home, {
      BUCKY_CONVERGE_INTERVAL_MS: "300",
      BUCKY_AGENT_LOG_INTERVAL_MS: "600000",
    });
    const { token, mcp } = await grant(alpha.home, "turned-away", ["--read", "status"]);
    await buckyJson(["agent", "revoke", "turned-away", "--home", alpha.home]);
    const client = await connect(mcp.urls[0] as string, token, mcp.certificate);
    const refused = async () => {
      const result = await call(client, "zone_status");
      expect([result.isError, text(result)]).toEqual([
        true,
        expect.stringContaining("agent turned-away was revoked"),
      ]);
    };
    const heldAtBeta = (count: number) =>
      waitFor(
        `beta to hold ${count} of turned-away's refusals`,
        async () => ((await log(beta.home, "turned-away")).length === count ? true : undefined),
        5_000,
      );
    await refused();
    await heldAtBeta(1);
    await refused();
    await heldAtBeta(2);
    await alpha.kill();
    const entries = await log(beta.home, "turned-away");
    expect(entries.map(({ device, tool, ok }) => ({ device, tool, ok }))).toEqual(
      Array(2).fill({ device: "alpha", tool: "zone_status", ok: false }),
    );
  });
});
