/**
 * AI agents against an attacker: an agent (or whoever holds a member device) trying to
 * reach further than its grant. Keys and paths that climb, are encoded, absolute or go
 * through links; a FIFO that would wedge the file tools; a grant made on a member device
 * reaching another device's data; refused calls leaving no trace; a token on the command
 * line. Each case here was open once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { AGENT_TOKEN_TYPE } from "../protocol/agent-token.ts";
import { signJws } from "../protocol/jws.ts";
import { pinnedTls } from "../protocol/tls-cert.ts";
import {
  answeredOnceHeld,
  BUCKY,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  newHomePath,
  scratchDir,
  startZone,
  waitFor,
} from "./harness.ts";
import { actAs } from "./member.ts";

afterAll(cleanUp);

/** A grant's record as `agent grant` and `agent list` show it. */
interface AgentRecordShape {
  id: string;
  issuer: string;
  scopes: { read: string[]; write: string[]; act: string[] };
}
const WIDER = { read: ["data@alpha"], write: ["data@alpha"], act: [] };

let alpha: Daemon;
let beta: Daemon;
let gateway: string;
const clients: Client[] = [];

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };
interface Granted {
  token: string;
  mcp: { urls: string[]; certificate: string };
}

async function grant(home: string, name: string, flags: string[]): Promise<Granted> {
  return buckyJson<Granted>(["agent", "grant", name, ...flags, "--home", home]);
}

async function overStdio(home: string, token: string): Promise<Client> {
  const client = new Client({ name: "attacker", version: "1" });
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

/** An MCP client over HTTP; with a certificate, over TLS trusting exactly that one. */
async function overHttp(url: string, token: string, certificate?: string): Promise<Client> {
  const client = new Client({ name: "attacker", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      ...(certificate
        ? {
            fetch: (input: string | URL | Request, init?: RequestInit) =>
              fetch(input, { ...init, tls: pinnedTls(certificate) }),
          }
        : {}),
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

/**
 * Both ways an agent reaches alpha: stdio on the device, and the gateway's /mcp; an agent
 * granted `flags` for each (`<name>-stdio`, `<name>-http`), as an agent's rate on a device
 * is one, whichever way it comes.
 */
async function bothWays(name: string, flags: string[]): Promise<[string, Client][]> {
  return [
    ["stdio", await overStdio(alpha.home, (await grant(alpha.home, `${name}-stdio`, flags)).token)],
    [
      "http",
      await overHttp(`${gateway}/mcp`, (await grant(alpha.home, `${name}-http`, flags)).token),
    ],
  ];
}

const SECRET = "the safe code is 1234";

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], {
    BUCKY_CONVERGE_INTERVAL_MS: "300",
    BUCKY_AGENT_LOG_INTERVAL_MS: "300",
  });
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  const data = join(alpha.home, "data");
  for (const dir of ["notes", "private", "inbox"]) mkdirSync(join(data, dir), { recursive: true });
  writeFileSync(join(data, "notes", "todo.txt"), "buy milk\n");
  writeFileSync(join(data, "private", "secret.txt"), `${SECRET}\n`);
  // Links that stay inside the data directory but lead where the grant does not reach.
  symlinkSync("../private/secret.txt", join(data, "notes", "inside-link"));
  symlinkSync("../notes", join(data, "inbox", "to-notes"));
  symlinkSync("/etc/hostname", join(data, "notes", "escape"));
  expect(spawnSync("mkfifo", [join(data, "notes", "pipe")]).status).toBe(0);
  mkdirSync(join(beta.home, "data", "own"), { recursive: true });
  writeFileSync(join(beta.home, "data", "own", "beta.txt"), "beta's own file\n");
  gateway = await enableGateway(alpha.home);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => {})));
});

describe("keys and paths are checked as they are used", () => {
  test("a state scope holds: no climbing, encoded, doubled or absolute keys", async () => {
    await buckyJson(["state", "set", "secret/thing", '"the crown jewels"', "--home", alpha.home]);
    await buckyJson(["state", "set", "apps/ok", '"fine"', "--home", alpha.home]);
    for (const [way, client] of await bothWays("peek", ["--read", "state:apps/"])) {
      const ok = await call(client, "read_state", { key: "apps/ok" });
      expect([way, JSON.parse(text(ok)).value]).toEqual([way, "fine"]);
      for (const key of [
        "apps/../secret/thing",
        "apps/../../invites",
        "apps/../../agents/log",
        "apps/../../backups",
        "apps/./ok",
        "apps//ok",
        "/apps/ok",
        "apps/ok/",
        "apps/%2e%2e/secret/thing",
        "apps/.%2e/secret/thing",
        "apps%2F..%2Fsecret%2Fthing",
        "apps\\..\\secret\\thing",
      ]) {
        const result = await call(client, "read_state", { key });
        expect([way, key, result.isError]).toEqual([way, key, true]);
        for (const leak of ["crown jewels", '"invites"', '"entries"', '"targets"'])
          expect(text(result)).not.toContain(leak);
      }
      const listed = await call(client, "list_state", { prefix: "apps/../" });
      expect([way, listed.isError]).toEqual([way, true]);
      expect(text(listed)).not.toContain("crown jewels");
    }
  });

  test("a data scope holds: no climbing, encoded or absolute paths, no link to elsewhere", async () => {
    for (const [way, client] of await bothWays("reader", ["--read", "data/notes"])) {
      const ok = await call(client, "read_file", { path: "notes/todo.txt" });
      expect([way, JSON.parse(text(ok)).text]).toEqual([way, "buy milk\n"]);
      for (const path of [
        "notes/../private/secret.txt",
        "notes/%2e%2e/private/secret.txt",
        "notes%2F..%2Fprivate%2Fsecret.txt",
        "notes\\..\\private\\secret.txt",
        "/notes/todo.txt",
        "notes//todo.txt",
        "notes/./todo.txt",
        "notes/inside-link",
        "notes/escape",
      ]) {
        const result = await call(client, "read_file", { path });
        expect([way, path, result.isError]).toEqual([way, path, true]);
        expect(text(result)).not.toContain(SECRET);
      }
      const viaLink = await call(client, "search_files", {
        query: "safe code",
        path: "notes/inside-link",
      });
      expect(text(viaLink)).not.toContain(SECRET);
      const search = await call(client, "search_files", { query: "safe code", path: "notes" });
      expect(JSON.parse(text(search)).matches).toEqual([]);
    }
  });

  test("a write scope holds: no write through a link into a directory not granted", async () => {
    const scribe = ["--read", "data/inbox", "--write", "data/inbox"];
    for (const [way, client] of await bothWays("scribe", scribe)) {
      for (const path of ["inbox/to-notes/planted.txt", "inbox/../notes/planted.txt", "/inbox/x"]) {
        const result = await call(client, "put_file", { path, content: "planted" });
        expect([way, path, result.isError]).toEqual([way, path, true]);
      }
      expect(existsSync(join(alpha.home, "data", "notes", "planted.txt"))).toBe(false);
    }
  });

  test("a FIFO is refused at once and holds up no one: that agent, another, either way", async () => {
    const fifo = join(alpha.home, "data", "notes", "pipe");
    const other = (await grant(alpha.home, "bystander", ["--read", "data/notes"])).token;
    try {
      for (const [way, client] of await bothWays("piper", ["--read", "data/notes"])) {
        const bystander =
          way === "http"
            ? await overHttp(`${gateway}/mcp`, other)
            : await overStdio(alpha.home, other);
        // As many reads of the FIFO as the agent may have under way at once.
        const stuck = Array.from({ length: 4 }, () =>
          call(client, "read_file", { path: "notes/pipe" }),
        );
        const outcome = await Promise.race([
          Promise.all([
            Promise.all(stuck),
            call(bystander, "read_file", { path: "notes/todo.txt" }),
          ]),
          Bun.sleep(10_000).then(() => "wedged" as const),
        ]);
        expect([way, outcome === "wedged"]).toEqual([way, false]);
        const [refused, read] = outcome as [ToolResult[], ToolResult];
        expect(JSON.parse(text(read)).text).toBe("buy milk\n");
        for (const result of refused) {
          expect(result.isError).toBe(true);
          expect(text(result)).toContain("not a regular file");
        }
        const search = await call(client, "search_files", { query: "x", path: "notes/pipe" });
        expect([way, search.isError, text(search)]).toEqual([
          way,
          true,
          expect.stringContaining("not a regular file"),
        ]);
      }
    } finally {
      // Before the fix the reads hang until a writer comes: be that writer, so the
      // daemon is free again for the tests after this one.
      for (let i = 0; i < 16; i++) {
        try {
          openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
        } catch {
          break;
        }
      }
    }
  }, 40_000);
});

describe("a grant reaches no further than the device that made it", () => {
  test("a grant made on a member device does not open another device's data", async () => {
    const { token } = await grant(beta.home, "nosy", ["--read", "data", "--write", "data"]);
    await waitFor("the grant to reach alpha", async () => {
      const { agents } = await buckyJson<{ agents: { agent: string }[] }>([
        "agent",
        "list",
        "--home",
        alpha.home,
      ]);
      return agents.some((a) => a.agent === "nosy") ? true : undefined;
    });
    const client = await overHttp(`${gateway}/mcp`, token);
    const read = await call(client, "read_file", { path: "private/secret.txt" });
    expect(read.isError).toBe(true);
    expect(text(read)).not.toContain(SECRET);
    const wrote = await call(client, "put_file", { path: "private/secret.txt", content: "gone" });
    expect(wrote.isError).toBe(true);
    expect(await Bun.file(join(alpha.home, "data", "private", "secret.txt")).text()).toBe(
      `${SECRET}\n`,
    );
  });

  test("a member device grants neither another device's data nor the owner's actions", async () => {
    const data = await bucky([
      ...["agent", "grant", "x", "--read", "data@alpha/private"],
      ...["--home", beta.home, "--json"],
    ]);
    expect(jsonError(data)).toMatchObject({ code: "E_PERMISSION" });
    expect(jsonError(data).message).toContain("only alpha");
    for (const action of ["app.stop", "app.start"]) {
      const act = await bucky([
        "agent",
        "grant",
        "x",
        "--act",
        action,
        "--home",
        beta.home,
        "--json",
      ]);
      expect(jsonError(act)).toMatchObject({ code: "E_PERMISSION" });
      expect(jsonError(act).message).toContain("owner key");
    }
  });

  test("a token a member forges for another device's data or the owner's actions is refused", async () => {
    const member = await actAs(beta.home);
    const id = randomBytes(12).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    // Signed by beta's own key, as bucky would sign a grant, but naming alpha's data and
    // an owner-level action without the owner's consent.
    const token = signJws(
      { alg: "EdDSA", typ: AGENT_TOKEN_TYPE, kid: member.id },
      {
        zone: member.zone,
        sub: "forged",
        jti: id,
        iat: now,
        exp: now + 3600,
        scopes: { read: ["data@alpha"], write: ["data@alpha"], act: ["app.stop"] },
      },
      member.key,
    );
    // The record every device checks tokens against: any member can write it.
    const record = {
      agent: "forged",
      id,
      issuer: member.id,
      scopes: { read: ["data@alpha"], write: ["data@alpha"], act: ["app.stop"] },
      issuedAt: new Date(now * 1000).toISOString(),
      expiresAt: new Date((now + 3600) * 1000).toISOString(),
      revokedAt: null,
    };
    await buckyJson(["state", "set", "agents/forged", JSON.stringify(record), "--home", beta.home]);
    await waitFor("the record to reach alpha", async () =>
      (await bucky(["state", "get", "agents/forged", "--home", alpha.home])).exitCode === 0
        ? true
        : undefined,
    );
    const client = await overHttp(`${gateway}/mcp`, token);
    const read = await call(client, "read_file", { path: "private/secret.txt" });
    expect(read.isError).toBe(true);
    expect(text(read)).not.toContain(SECRET);
    const stop = await call(client, "stop_app", { app: "site", dryRun: true });
    expect(stop.isError).toBe(true);
  });
});

describe("a token holds only as the grant its record names", () => {
  test("a member signing a token under another device's grant (its name and id, a later end) is refused", async () => {
    const granted = await buckyJson<Granted & { record: { id: string; expiresAt: string } }>([
      ...["agent", "grant", "borrowed", "--read", "status", "--ttl", "1h", "--home", alpha.home],
    ]);
    await waitFor("the grant to reach beta", async () =>
      (await bucky(["state", "get", "agents/borrowed", "--home", beta.home])).exitCode === 0
        ? true
        : undefined,
    );
    // Stolen beta reads the grant's record (every member holds it) and signs a token of its
    // own under that name and id: wider, and ending in ten years. No record is written, so
    // `bucky agent list` still shows alpha's narrow grant, ending within the hour.
    const member = await actAs(beta.home);
    const now = Math.floor(Date.now() / 1000);
    const forged = signJws(
      { alg: "EdDSA", typ: AGENT_TOKEN_TYPE, kid: member.id },
      {
        zone: member.zone,
        sub: "borrowed",
        jti: granted.record.id,
        iat: now,
        exp: now + 10 * 365 * 86_400,
        scopes: { read: ["state", "status"], write: [], act: [] },
      },
      member.key,
    );
    const genuine = await overHttp(`${gateway}/mcp`, granted.token);
    expect((await call(genuine, "zone_status")).isError).toBeFalsy();
    const client = await overHttp(`${gateway}/mcp`, forged);
    const result = await call(client, "zone_status");
    expect([result.isError, text(result)]).toEqual([
      true,
      "the agent token is not the grant of agent borrowed this zone holds (signed by another device, or ending at another time)\nAsk the owner for a new token.",
    ]);
    // Audited as forged, not as the agent's: the agent's own refusals keep their budget.
    const { entries } = await buckyJson<{
      entries: { agent: string; ok: boolean; outcome: string }[];
    }>(["agent", "log", "--home", alpha.home]);
    expect(entries.filter((e) => e.agent === "borrowed" && !e.ok)).toEqual([]);
    expect(
      entries
        .filter((e) => e.agent === "forged:borrowed")
        .map((e) => [e.ok, e.outcome.includes("not the grant of agent borrowed")]),
    ).toEqual([[false, true]]);
  });
});

describe("a token holds only as far as its record says", () => {
  test("a record rewritten to narrower scopes (as the list shows it) stops the wider token", async () => {
    const granted = await buckyJson<Granted & { record: Record<string, unknown> }>([
      ...["agent", "grant", "narrowed", "--read", "status,state", "--home", alpha.home],
    ]);
    const genuine = await overHttp(`${gateway}/mcp`, granted.token);
    expect((await call(genuine, "zone_status")).isError).toBeFalsy();
    // Another member writes the record again, its issuer, id and end as they were, and
    // narrower: every device now lists a grant that reads the status alone.
    const narrower = { ...granted.record, scopes: { read: ["status"], write: [], act: [] } };
    await buckyJson([
      "state",
      "set",
      "agents/narrowed",
      JSON.stringify(narrower),
      "--home",
      beta.home,
    ]);
    await waitFor("the narrower record to reach alpha", async () => {
      const entry = await buckyJson<{ value: { scopes: { read: string[] } } }>([
        ...["state", "get", "agents/narrowed", "--home", alpha.home],
      ]);
      return entry.value.scopes.read.length === 1 ? true : undefined;
    });
    const result = await call(genuine, "read_state", { key: "notes/today" });
    expect([result.isError, text(result)]).toEqual([
      true,
      "the agent token is not the grant of agent narrowed this zone holds (its scopes or its person differ)\nAsk the owner for a new token.",
    ]);
  });
});

describe("a stolen member flooding an agent's name with tokens of its own", () => {
  test("spends no budget of that agent's: its own refusals are still each recorded", async () => {
    const { token } = await grant(alpha.home, "crowded", ["--read", "status"]);
    await buckyJson(["agent", "revoke", "crowded", "--home", alpha.home]);
    const member = await actAs(beta.home);
    const now = Math.floor(Date.now() / 1000);
    const forged = signJws(
      { alg: "EdDSA", typ: AGENT_TOKEN_TYPE, kid: member.id },
      {
        zone: member.zone,
        sub: "crowded",
        jti: "forged-grant",
        iat: now,
        exp: now + 3600,
        scopes: { read: ["status"], write: [], act: [] },
      },
      member.key,
    );
    const flood = await overHttp(`${gateway}/mcp`, forged);
    await Promise.all(Array.from({ length: 40 }, () => call(flood, "zone_status")));
    const revoked = await overHttp(`${gateway}/mcp`, token);
    expect((await call(revoked, "list_devices")).isError).toBe(true);
    const { entries } = await buckyJson<{
      entries: { agent: string; tool: string; ok: boolean; outcome: string }[];
    }>(["agent", "log", "--agent", "crowded", "--limit", "1000", "--home", alpha.home]);
    expect(entries.map((e) => [e.tool, e.ok, e.outcome])).toEqual([
      ["list_devices", false, expect.stringContaining("refused: agent crowded was revoked at")],
    ]);
  });
});

describe("a revocation stands", () => {
  test("a member deleting and rewriting the grant's record or deleting its revocation does not bring the agent back", async () => {
    const { token, record } = await buckyJson<Granted & { record: { id: string } }>([
      ...["agent", "grant", "revived", "--read", "status", "--home", alpha.home],
    ]);
    const client = await overHttp(`${gateway}/mcp`, token);
    expect((await call(client, "zone_status")).isError).toBeFalsy();
    await buckyJson(["agent", "revoke", "revived", "--home", alpha.home]);
    await waitFor("the revocation to reach beta", async () => {
      const { agents } = await buckyJson<{ agents: { agent: string; revokedAt: string | null }[] }>(
        ["agent", "list", "--home", beta.home],
      );
      return agents.find((a) => a.agent === "revived")?.revokedAt ? true : undefined;
    });
    // Beta deletes the record (the token is refused while it is gone), then writes it
    // back as it was before the revocation.
    await buckyJson(["state", "del", "agents/revived", "--home", beta.home]);
    await waitFor("the record deleted at alpha", async () =>
      (await bucky(["state", "get", "agents/revived", "--home", alpha.home])).exitCode !== 0
        ? true
        : undefined,
    );
    expect((await call(client, "zone_status")).isError).toBe(true);
    const unrevoked = JSON.stringify(record);
    await buckyJson(["state", "set", "agents/revived", unrevoked, "--home", beta.home]);
    await waitFor("the rewritten record at alpha", async () => {
      const { value } = await buckyJson<{ value: { revokedAt?: string | null } | null }>([
        ...["state", "get", "agents/revived", "--home", alpha.home],
      ]);
      return value?.revokedAt === null ? true : undefined;
    });
    // Alpha's list still says revoked, as its token check does.
    const { agents } = await buckyJson<{
      agents: { agent: string; revokedAt: string | null; working: boolean }[];
    }>(["agent", "list", "--home", alpha.home]);
    expect(agents.find((a) => a.agent === "revived")).toMatchObject({ working: false });
    expect(agents.find((a) => a.agent === "revived")?.revokedAt).toBeTruthy();
    const result = await call(client, "zone_status");
    expect(result.isError).toBe(true);
    expect(text(result)).toContain("revoked");
    // Nor can it delete the revocation: not through its own daemon, nor by a changeset
    // of its own making sent to alpha.
    const deleted = await bucky([
      ...["state", "del", `revoked-agents/${record.id}`, "--home", beta.home, "--json"],
    ]);
    expect(jsonError(deleted).code).toBe("E_PERMISSION");
    const member = await actAs(beta.home);
    const forged = member.changeset([{ key: `revoked-agents/${record.id}`, value: null }]);
    expect((await member.push(alpha, [forged.bytes])).applied).toBe(0);
    expect((await call(client, "zone_status")).isError).toBe(true);
  });
});

describe("a grant's own record is its issuer's to write", () => {
  test("a member writing one for another device's grant is refused, here and by a changeset of its own making, and no grant is listed replaced", async () => {
    const { record } = await buckyJson<Granted & { record: { id: string; expiresAt: string } }>([
      ...["agent", "grant", "kept", "--read", "status", "--home", alpha.home],
    ]);
    // Beta says alpha made another grant of that name, which a later one replaced.
    const fake = { ...record, id: "fakegrant", issuedAt: "2020-01-01T00:00:00.000Z" };
    const refused = await bucky([
      ...["state", "set", "agent-grants/fakegrant", JSON.stringify(fake), "--json"],
      ...["--home", beta.home],
    ]);
    expect([refused.exitCode, jsonError(refused).code]).toEqual([1, "E_PERMISSION"]);
    expect(jsonError(refused).message).toBe(
      "cannot write agent-grants/fakegrant: agent-grants/fakegrant belongs to the device that granted it, which its record names as issuer",
    );
    const member = await actAs(beta.home);
    const forged = member.changeset([
      { key: "agent-grants/fakegrant", value: JSON.stringify(fake) },
    ]);
    expect((await member.push(alpha, [forged.bytes])).applied).toBe(0);
    for (const daemon of [alpha, beta]) {
      const { agents } = await buckyJson<{ agents: { agent: string; id: string }[] }>([
        ...["agent", "list", "--home", daemon.home],
      ]);
      expect(agents.filter((a) => a.agent === "kept").map((a) => a.id)).toEqual([record.id]);
    }
  });
});

describe("a grant's record under its issuer", () => {
  test("another member cannot write over it: a grant replaced since lists as its issuer made it", async () => {
    const grant = () =>
      buckyJson<{ record: AgentRecordShape }>([
        ...["agent", "grant", "twice", "--read", "status", "--home", alpha.home],
      ]);
    const { record } = await grant();
    const member = await actAs(beta.home);
    // Beta says the grant is its own, reaching alpha's data: where a bucky before kept the
    // record (taken still), and under alpha's id.
    const forged = JSON.stringify({ ...record, issuer: member.id, scopes: WIDER });
    await buckyJson(["state", "set", `agent-grants/${record.id}`, forged, "--home", beta.home]);
    const underAlpha = await bucky([
      ...["state", "set", `agent-grants/${record.issuer}/${record.id}`, forged, "--json"],
      ...["--home", beta.home],
    ]);
    expect(jsonError(underAlpha).code).toBe("E_PERMISSION");
    await waitFor("beta's write at alpha", async () => {
      const got = await bucky(["state", "get", `agent-grants/${record.id}`, "--home", alpha.home]);
      return got.exitCode === 0 && got.stdout.includes(member.id) ? true : undefined;
    });
    // Granted again, the first is replaced: listed (on the other device) as alpha made it.
    await grant();
    const { agents } = await buckyJson<{ agents: AgentRecordShape[] }>([
      ...["agent", "list", "--home", beta.home],
    ]);
    const first = agents.find((agent) => agent.id === record.id);
    expect([first?.issuer, first?.scopes]).toEqual([record.issuer, record.scopes]);
  });
});

describe("a revocation outlives the device that made it", () => {
  test("revoking is answered once another device holds the revocation", async () => {
    await buckyJson(["agent", "grant", "held", "--read", "status", "--home", alpha.home]);
    await waitFor("the grant at beta", async () =>
      (await bucky(["state", "get", "agents/held", "--home", beta.home])).exitCode === 0
        ? true
        : undefined,
    );
    // beta stopped (SIGSTOP): no device can take the revocation until it is let go.
    const revoked = await answeredOnceHeld(
      [beta],
      () => buckyJson<{ heldElsewhere: string }>(["agent", "revoke", "held", "--home", alpha.home]),
      {
        what: "alpha to write the revocation",
        seen: () => /agent revoked.*agent=held/.test(alpha.log()),
      },
    );
    expect(revoked.heldElsewhere).toBe("held");
    // Held by beta before alpha answered: alpha could go now, and the agent stays revoked.
    const { agents } = await buckyJson<{ agents: { agent: string; revokedAt: string | null }[] }>([
      "agent",
      "list",
      "--home",
      beta.home,
    ]);
    expect(agents.find((a) => a.agent === "held")?.revokedAt).toBeTruthy();
  });

  test("a revocation no other device took within 3 s is said to be held here alone", async () => {
    await buckyJson(["agent", "grant", "unheld", "--read", "status", "--home", alpha.home]);
    await waitFor("the grant at beta", async () =>
      (await bucky(["state", "get", "agents/unheld", "--home", beta.home])).exitCode === 0
        ? true
        : undefined,
    );
    process.kill(beta.pid, "SIGSTOP");
    try {
      const revoked = await buckyJson<{ heldElsewhere: string }>([
        ...["agent", "revoke", "unheld", "--home", alpha.home],
      ]);
      expect(revoked.heldElsewhere).toBe("not yet");
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
  });
});

describe("every refused call is in the audit log", () => {
  test("a bad, an expired and a revoked token: each refusal audited, with why", async () => {
    const garbage = await overHttp(`${gateway}/mcp`, "not-a-token");
    expect((await call(garbage, "zone_status")).isError).toBe(true);

    const brief = (await grant(alpha.home, "brief", ["--read", "status", "--ttl", "1s"])).token;
    const late = await overHttp(`${gateway}/mcp`, brief);
    await waitFor("the token to expire", async () => {
      const result = await call(late, "zone_status");
      return result.isError && text(result).includes("expired") ? true : undefined;
    });

    const gone = (await grant(alpha.home, "gone", ["--read", "status"])).token;
    const revokedLater = await overHttp(`${gateway}/mcp`, gone);
    await buckyJson(["agent", "revoke", "gone", "--home", alpha.home]);
    expect((await call(revokedLater, "zone_status")).isError).toBe(true);
    const refusedAtStart = await bucky(["mcp", "--home", alpha.home, "--json"], {
      env: { BUCKY_AGENT_TOKEN: gone },
    });
    expect(refusedAtStart.exitCode).toBe(1);

    const { entries } = await buckyJson<{
      entries: { agent: string; tool: string; ok: boolean; outcome: string }[];
    }>(["agent", "log", "--home", alpha.home]);
    const refusals = (agent: string) => entries.filter((e) => e.agent === agent && !e.ok);
    expect(refusals("unknown").some((e) => e.outcome.includes("does not work"))).toBe(true);
    expect(refusals("brief").some((e) => e.outcome.includes("expired"))).toBe(true);
    const revoked = refusals("gone").filter((e) => e.outcome.includes("revoked"));
    expect(revoked.map((e) => e.tool).sort()).toEqual(["connect", "zone_status"]);
  });
});

describe("tokens stay off the command line", () => {
  test("bucky mcp --token is refused, naming the ways that keep it private", async () => {
    const result = await bucky(["mcp", "--token", "eyJ.x.y", "--home", alpha.home, "--json"]);
    expect(result.exitCode).toBe(2);
    const error = jsonError(result);
    expect(`${error.message} ${error.hint}`).toContain("BUCKY_AGENT_TOKEN");
    expect(`${error.message} ${error.hint}`).toContain("--token-file");
  });

  test("--token-file: a private file works; one others may read is refused", async () => {
    const { token } = await grant(alpha.home, "filed", ["--read", "status"]);
    const file = join(scratchDir(), "token");
    writeFileSync(file, `${token}\n`);
    chmodSync(file, 0o644);
    const open = await bucky(["mcp", "--token-file", file, "--home", alpha.home, "--json"]);
    expect(open.exitCode).toBe(1);
    expect(jsonError(open)).toMatchObject({ code: "E_PERMISSION" });
    expect(jsonError(open).hint).toContain("chmod 600");
    chmodSync(file, 0o600);
    const client = new Client({ name: "attacker", version: "1" });
    await client.connect(
      new StdioClientTransport({
        command: BUCKY,
        args: ["mcp", "--token-file", file, "--home", alpha.home],
        stderr: "ignore",
      }),
    );
    clients.push(client);
    expect((await call(client, "zone_status")).isError).toBeFalsy();
  });
});

describe("/mcp on every device, and one audit log for the zone", () => {
  test("a device that is no gateway serves /mcp on its own address, pinned to its certificate", async () => {
    const granted = await grant(beta.home, "local", ["--read", "data"]);
    expect(granted.mcp.urls[0]).toBe(`${beta.addresses[0]}/mcp`);
    const client = await overHttp(
      granted.mcp.urls[0] as string,
      granted.token,
      granted.mcp.certificate,
    );
    const read = await call(client, "read_file", { path: "own/beta.txt" });
    expect(JSON.parse(text(read)).text).toBe("beta's own file\n");
    // Pinned to another device's certificate, the client refuses to talk to beta.
    const alphaCertificate = (await grant(alpha.home, "pin", ["--read", "status"])).mcp.certificate;
    await expect(
      overHttp(granted.mcp.urls[0] as string, granted.token, alphaCertificate),
    ).rejects.toThrow();
  });

  test("bucky agent log on any device shows every device's calls, after that device is off", async () => {
    const granted = await grant(beta.home, "traveller", ["--read", "data"]);
    const client = await overHttp(
      granted.mcp.urls[0] as string,
      granted.token,
      granted.mcp.certificate,
    );
    expect((await call(client, "read_file", { path: "own/beta.txt" })).isError).toBeFalsy();
    const fromAlpha = async () =>
      (
        await buckyJson<{
          entries: { device: string; agent: string; tool: string; ok: boolean }[];
        }>(["agent", "log", "--agent", "traveller", "--home", alpha.home])
      ).entries;
    const seen = await waitFor("beta's call in alpha's log", async () => {
      const entries = await fromAlpha();
      return entries.length > 0 ? entries : undefined;
    });
    expect(seen).toEqual([
      {
        ...seen[0],
        device: "beta",
        agent: "traveller",
        tool: "read_file",
        ok: true,
      } as (typeof seen)[0],
    ]);
    await beta.stop();
    expect(await fromAlpha()).toEqual(seen);
  });
});

describe("invitations stay off the command line too", () => {
  test("bucky join - and bucky join with a piped stdin read the invitation there", async () => {
    for (const args of [["-"], []]) {
      const { token } = await buckyJson<{ token: string }>(["invite", "--home", alpha.home]);
      const home = newHomePath();
      const name = `joiner${args.length}`;
      const joined = await buckyJson<{ device: { name: string } }>(
        ["join", ...args, "--home", home, "--device", name, "--no-start"],
        { stdin: `${token}\n` },
      );
      expect(joined.device.name).toBe(name);
    }
  });
});
