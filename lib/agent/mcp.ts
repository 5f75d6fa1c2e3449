/**
 * The Model Context Protocol server an AI agent talks to: the same tools whether it runs
 * on stdio (`bucky mcp`) or over streamable HTTP (a device's or a gateway's `/mcp`).
 * Every call is checked against the agent's token afresh (so a revocation bites at once;
 * a refusal is audited by the daemon), limited in rate and in calls at once, held to the
 * token's scopes as they apply on this device, bounded in time, done through the
 * daemon's local API (the CLI's), and written to the audit log with how it went.
 * Keys and paths are checked in their plain form before anything else, and never pasted
 * into a URL unencoded. Whatever changes something can be tried with `dryRun`, which
 * says what would happen and changes nothing.
 */
import { join } from "node:path";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import {
  type AgentScopes,
  mayLookInto,
  mayReadState,
  mayUseData,
} from "../../protocol/agent-token.ts";
import { checkAppName } from "../../protocol/names.ts";
import { stateKeyProblem, statePrefixProblem } from "../../protocol/state-key.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { readObjectHead } from "../ndn/files.ts";
import { requireObjectId } from "../ndn/object-id.ts";
import type { LocalApi } from "../node/local-client.ts";
import { contentOf, DataDirectory, dataPathProblem, MAX_READ_BYTES } from "./data-files.ts";
import type { GrantHere } from "./grants.ts";
import type { AgentLimits } from "./limits.ts";

/**
 * The tools that change something (each takes `dryRun`): the zone's apps, the backups,
 * the data directory. Their calls' entries are in the zone state before the agent is
 * answered.
 */
const CHANGING_TOOLS: ReadonlySet<string> = new Set([
  "start_app",
  "stop_app",
  "run_backup",
  "put_file",
]);

/** The state entries list_state gives at most (then it says it is not complete). */
export const MAX_LISTED_ENTRIES = 500;

/** How long a call may take before the agent is told it took too long. */
export const CALL_TIME_LIMIT_MS = 30_000;

export interface AgentContext {
  readonly api: LocalApi;
  readonly token: string;
  readonly paths: HomePaths;
  readonly now: () => number;
  readonly log: Log;
  /**
   * Each agent's calls at once, shared by its calls (and its connections); its rate is
   * the daemon's (AgentRates), taken by the token check.
   */
  readonly limits: AgentLimits;
  /** CALL_TIME_LIMIT_MS unless a test says otherwise. */
  readonly callTimeLimitMs?: number;
  /** The calls under way, for a process that serves one agent to wait for before it ends. */
  readonly underWay?: CallsUnderWay;
}

/**
 * A server's tool calls under way, each whole (its work, then its audit): `bucky mcp`
 * waits for them once its agent hangs up, so a call begun is neither cut part way (a file
 * half written) nor left out of the audit log.
 */
export class CallsUnderWay {
  private readonly pending = new Set<Promise<unknown>>();

  track<T>(call: Promise<T>): Promise<T> {
    this.pending.add(call);
    const done = () => this.pending.delete(call);
    call.then(done, done);
    return call;
  }

  /** Resolves once none is under way, or after `limitMs` (work given up on may hang on). */
  async settled(limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs;
    while (this.pending.size > 0 && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...this.pending]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, deadline - Date.now());
        }),
      ]);
      clearTimeout(timer);
    }
  }
}

type Text = { content: { type: "text"; text: string }[]; isError?: boolean };

export function createAgentServer(context: AgentContext): McpServer {
  const server = new McpServer({ name: "bucky", version: "1" });
  const data = new DataDirectory(join(context.paths.home, "data"));

  const timeLimitMs = context.callTimeLimitMs ?? CALL_TIME_LIMIT_MS;
  const underWay = context.underWay ?? new CallsUnderWay();

  /**
   * One tool call: the token checked (a refusal audited by the daemon), the rate and the
   * calls at once limited, the scope checked, the work done within the time limit, and
   * the call audited, whatever happened.
   */
  const answerCall = async (
    tool: string,
    args: Record<string, unknown>,
    allowed: (grant: GrantHere) => string | undefined,
    work: (grant: GrantHere) => Promise<unknown>,
  ): Promise<Text> => {
    const dryRun = args.dryRun === true;
    const checked = await context.api.post<GrantHere>("/v1/agents/check", {
      token: context.token,
      call: { tool, arguments: redact(args), dryRun },
    });
    if (!checked.ok) return refusal(checked.error.message, checked.error.hint);
    const grant = checked.data;
    // `changed`: the entry of a call that set out to change something, which the daemon
    // answers once another device holds it; `limited`: a call refused for the agent's
    // calls at once, which the daemon records within the agent's budget of refusals.
    const audit = (ok: boolean, outcome: string, mark?: "changed" | "limited") =>
      context.api.post("/v1/agents/audit", {
        agent: grant.agent,
        tool,
        arguments: redact(args),
        dryRun,
        ok,
        outcome,
        ...(mark ? { [mark]: true } : {}),
      });
    const changes = CHANGING_TOOLS.has(tool) && !dryRun;
    const admitted = context.limits.admit(grant.agent);
    if (!admitted.ok) {
      await audit(false, admitted.reason, "limited");
      return refusal(admitted.reason);
    }
    const denied = allowed(grant);
    if (denied) {
      admitted.release();
      await audit(false, `refused: ${denied}`);
      return refusal(
        `not allowed: ${denied}`,
        grant.dataElsewhere.length > 0
          ? `This grant covers the data of ${grant.dataElsewhere.join(", ")}: reach it through that device (its \`bucky mcp\` or its /mcp).`
          : "The owner can grant more with `bucky agent grant`.",
      );
    }
    let answer: Text;
    let outcome: { ok: boolean; said: string };
    try {
      const result = await withinTime(
        underWay.track(work(grant)),
        timeLimitMs,
        tool,
        admitted.release,
      );
      const text = typeof result === "string" ? result : JSON.stringify(result, null, 2);
      answer = { content: [{ type: "text", text }] };
      outcome = { ok: true, said: text.slice(0, 500) };
    } catch (error) {
      // Whatever failed is audited and said, in words that name no place on the host.
      const failed = agentFacing(error, tool, data.root);
      if (failed.code === "E_INTERNAL")
        context.log.warn("agent call failed", { agent: grant.agent, tool, error: String(error) });
      answer = refusal(failed.message, failed.hint);
      outcome = { ok: false, said: failed.message };
    }
    const audited = await audit(outcome.ok, outcome.said, changes ? "changed" : undefined).catch(
      (error: unknown) => ({ ok: false as const, error: { message: String(error) } }),
    );
    if (!audited.ok)
      context.log.warn("agent call not audited", {
        agent: grant.agent,
        tool,
        error: audited.error.message,
      });
    return answer;
  };
  // The call whole, and its work apart (which may outlive the time limit): both waited for.
  const call: typeof answerCall = (...args) => underWay.track(answerCall(...args));

  const needsRead = (scope: string) => (grant: GrantHere) =>
    grant.scopes.read.includes(scope) ? undefined : `reading ${scope} was not granted`;
  const needsAct = (action: string) => (grant: GrantHere) =>
    (grant.scopes.act as readonly string[]).includes(action)
      ? undefined
      : `${action} was not granted${action === "backup.run" ? " here (an agent runs the backups of the device that granted them)" : ""}`;
  const fromApi = async <T>(
    result: Promise<
      { ok: true; data: T } | { ok: false; error: { code: string; message: string; hint?: string } }
    >,
  ) => {
    const answer = await result;
    if (answer.ok) return answer.data;
    throw new BuckyError("E_UNAVAILABLE", answer.error.message, answer.error.hint);
  };
  const dryRun = z.boolean().optional().describe("Say what would happen, and change nothing");

  server.registerTool(
    "zone_status",
    {
      description:
        "The zone at a glance: its name, devices, and how safe its data is (the reliability level and its warnings).",
    },
    () =>
      call("zone_status", {}, needsRead("status"), () => fromApi(context.api.get("/v1/status"))),
  );
  server.registerTool(
    "list_devices",
    { description: "The zone's devices: online or not, how they are reached, when last seen." },
    () =>
      call("list_devices", {}, needsRead("status"), () => fromApi(context.api.get("/v1/devices"))),
  );
  server.registerTool(
    "list_apps",
    {
      description:
        "The apps installed in the zone: their state, version, and the device each runs on.",
    },
    () =>
      call("list_apps", {}, needsRead("apps"), (grant) =>
        // A person's agent sees the apps that person may use, no others.
        fromApi(
          context.api.get(
            grant.user ? `/v1/apps?for=${encodeURIComponent(grant.user)}` : "/v1/apps",
          ),
        ),
      ),
  );
  server.registerTool(
    "read_state",
    {
      description: "Read one key of the zone's key/value state.",
      inputSchema: { key: z.string().min(1).max(512).describe("The key, like apps/music/volume") },
    },
    (args) => {
      const problem = stateKeyProblem(args.key);
      return call(
        "read_state",
        args,
        (grant) =>
          problem
            ? `${JSON.stringify(args.key)} is not a state key: ${problem}`
            : mayReadState(grant.scopes, args.key)
              ? undefined
              : `reading state key ${args.key} was not granted`,
        () =>
          fromApi(
            context.api.get(`/v1/state/${args.key.split("/").map(encodeURIComponent).join("/")}`),
          ),
      );
    },
  );
  server.registerTool(
    "list_state",
    {
      description:
        "List the keys of the zone state under a prefix, with their values (only those the agent may read).",
      inputSchema: {
        prefix: z
          .string()
          .max(512)
          .default("")
          .describe("A key prefix, like apps/ (empty for all)"),
      },
    },
    (args) => {
      const problem = statePrefixProblem(args.prefix);
      return call(
        "list_state",
        args,
        (grant) =>
          problem
            ? `${JSON.stringify(args.prefix)} is not a key prefix: ${problem}`
            : grant.scopes.read.some((scope) => scope === "state" || scope.startsWith("state:"))
              ? undefined
              : "reading the state was not granted",
        async (grant) => {
          // Only the granted parts of the prefix are asked for, a bounded number each: a
          // grant of one key's prefix does not make the daemon list the whole state.
          const entries: { key: string }[] = [];
          for (const prefix of grantedPrefixes(grant.scopes, args.prefix)) {
            const listed = await fromApi(
              context.api.get<{ entries: { key: string }[] }>(
                `/v1/state?prefix=${encodeURIComponent(prefix)}&limit=${MAX_LISTED_ENTRIES + 1}`,
              ),
            );
            entries.push(
              ...listed.entries.filter((entry) => mayReadState(grant.scopes, entry.key)),
            );
          }
          entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
          return {
            entries: entries.slice(0, MAX_LISTED_ENTRIES),
            complete: entries.length <= MAX_LISTED_ENTRIES,
          };
        },
      );
    },
  );
  server.registerTool(
    "read_file",
    {
      description:
        "Read a file in the owner's data directory (text as is, other files as base64), up to 1 MiB.",
      inputSchema: {
        path: z
          .string()
          .min(1)
          .max(1024)
          .describe("The file's path inside the data directory, like notes/todo.txt"),
      },
    },
    (args) =>
      call(
        "read_file",
        args,
        (grant) => dataScope(grant.scopes, "read", args.path),
        (grant) => data.read(args.path, (real) => mayUseData(grant.scopes, "read", real)),
      ),
  );
  server.registerTool(
    "search_files",
    {
      description:
        "Find files in the owner's data directory whose name or text contains a phrase (case does not matter); up to 50 matches, with the matching line.",
      inputSchema: {
        query: z.string().min(1).max(200).describe("What to look for"),
        path: z
          .string()
          .max(1024)
          .default("")
          .describe("Only under this directory of the data directory"),
      },
    },
    (args) => {
      const problem = dataPathProblem(args.path);
      // Searched from a place the grant reads, or one on the way to it, judged by the path
      // as given before anything is looked at: else whether it exists would be told.
      // Only what may be read is reported.
      const searchable = (grant: GrantHere) =>
        problem
          ? `${JSON.stringify(args.path)} is not a path in the data directory: ${problem}`
          : mayUseData(grant.scopes, "read", args.path) || mayLookInto(grant.scopes, args.path)
            ? undefined
            : args.path === ""
              ? "reading the data directory was not granted"
              : `reading data/${args.path} was not granted`;
      return call("search_files", args, searchable, (grant) =>
        data.search(args.path, args.query, {
          read: (file) => mayUseData(grant.scopes, "read", file),
          enter: (dir) => mayLookInto(grant.scopes, dir),
        }),
      );
    },
  );
  server.registerTool(
    "read_object",
    {
      description:
        "Read named data by its id (sha256:… or clist:…), as stored with `bucky put` on any device of the zone, up to 1 MiB.",
      inputSchema: { id: z.string().min(1).max(80).describe("The object's id") },
    },
    (args) =>
      call("read_object", args, needsRead("objects"), async () => readObject(context, args.id)),
  );
  for (const [tool, action, verb] of [
    ["start_app", "app.start", "start"],
    ["stop_app", "app.stop", "stop"],
  ] as const) {
    server.registerTool(
      tool,
      {
        description: `${verb === "start" ? "Start" : "Stop"} an app of the zone (on whichever device runs it).`,
        inputSchema: { app: z.string().min(1).max(64).describe("The app's name"), dryRun },
      },
      (args) =>
        call(
          tool,
          args,
          (grant) =>
            checkAppName(args.app).ok
              ? needsAct(action)(grant)
              : `${args.app} is not an app's name`,
          async () => {
            const app = encodeURIComponent(args.app);
            const status = await fromApi(
              context.api.get<{ state: string; desired: string; device: string | null }>(
                `/v1/apps/${app}`,
              ),
            );
            if (args.dryRun)
              return `Would ${verb} ${args.app}: it is now ${status.state} (wanted ${status.desired}) on ${status.device ?? "no device"}.`;
            await fromApi(context.api.post(`/v1/apps/${app}/${verb}`));
            return `${args.app} will ${verb} (it was ${status.state}).`;
          },
        ),
    );
  }
  server.registerTool(
    "run_backup",
    {
      description:
        "Back up this device's data now (its apps' data, its files and the zone state), to one target or to each. Every device backs itself up on its own schedule; zone_status says each device's last backup.",
      inputSchema: {
        target: z.string().max(32).optional().describe("The target's name (default: each)"),
        dryRun,
      },
    },
    (args) =>
      call("run_backup", args, needsAct("backup.run"), async () => {
        if (args.dryRun) {
          const { targets } = await fromApi(
            context.api.get<{ targets: { name: string; lastBackup?: { at: string } }[] }>(
              "/v1/backups",
            ),
          );
          const chosen = targets.filter((t) => !args.target || t.name === args.target);
          if (chosen.length === 0) throw new BuckyError("E_NOT_FOUND", "no such backup target");
          // This device's own runs: other devices' backups are theirs (zone_status says them).
          return `Would back up this device's data to ${chosen.map((t) => `${t.name} (its last backup there ${t.lastBackup?.at ?? "never"})`).join(", ")}.`;
        }
        return fromApi(
          context.api.post("/v1/backups/run", args.target ? { target: args.target } : {}),
        );
      }),
  );
  server.registerTool(
    "put_file",
    {
      description:
        "Write a text file into the owner's data directory (creating its directories, replacing a file there).",
      inputSchema: {
        path: z
          .string()
          .min(1)
          .max(1024)
          .describe("Where, inside the data directory, like notes/summary.md"),
        content: z.string().max(MAX_READ_BYTES).describe("The file's text"),
        dryRun,
      },
    },
    (args) =>
      call(
        "put_file",
        args,
        (grant) => dataScope(grant.scopes, "write", args.path),
        (grant) =>
          data.write(args.path, args.content, args.dryRun === true, (real) =>
            mayUseData(grant.scopes, "write", real),
          ),
      ),
  );
  return server;
}

/** The first MiB of an object, from this device or fetched from another (verified). */
async function readObject(context: AgentContext, id: string): Promise<unknown> {
  const parsed = requireObjectId(id);
  const { bytes, size } = await readObjectHead({
    home: context.paths.home,
    id: parsed.id,
    maxBytes: MAX_READ_BYTES,
    log: context.log,
    now: context.now,
  });
  return { id: parsed.id, size, truncated: size > bytes.length, ...contentOf(bytes) };
}

function refusal(message: string, hint?: string): Text {
  return {
    content: [{ type: "text", text: hint ? `${message}\n${hint}` : message }],
    isError: true,
  };
}

/** What the audit keeps of arguments: a file's content is summed up, not copied. */
function redact(args: Record<string, unknown>): Record<string, unknown> {
  return typeof args.content === "string"
    ? { ...args, content: `${args.content.length} characters` }
    : args;
}

/**
 * The prefixes of the zone state under `asked` that `scopes` let an agent read, none
 * inside another: `asked` itself where a scope covers it whole, else each granted prefix
 * that starts with it.
 */
function grantedPrefixes(scopes: AgentScopes, asked: string): string[] {
  const granted = scopes.read.flatMap((scope) =>
    scope === "state" ? [""] : scope.startsWith("state:") ? [scope.slice(6)] : [],
  );
  const within = granted.flatMap((prefix) =>
    asked.startsWith(prefix) ? [asked] : prefix.startsWith(asked) ? [prefix] : [],
  );
  return [...new Set(within)].filter(
    (prefix, _, all) => !all.some((other) => other !== prefix && prefix.startsWith(other)),
  );
}

/** Why an agent may not use data path `path` as given: not plain, or not granted. */
function dataScope(scopes: AgentScopes, mode: "read" | "write", path: string): string | undefined {
  const problem = dataPathProblem(path);
  if (problem) return `${JSON.stringify(path)} is not a path in the data directory: ${problem}`;
  return mayUseData(scopes, mode, path)
    ? undefined
    : `${mode === "read" ? "reading" : "writing"} data/${path} was not granted`;
}

/**
 * `work`, or an error once it has taken `limitMs`; `done` is called when the work itself
 * settles (it may outlive the wait: the agent's calls at once count it until then).
 */
async function withinTime<T>(
  work: Promise<T>,
  limitMs: number,
  tool: string,
  done: () => void,
): Promise<T> {
  void work.then(done, done);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new BuckyError(
            "E_UNAVAILABLE",
            `${tool} took longer than ${Math.round(limitMs / 1000)} s; it was given up on (what it was doing may still finish)`,
          ),
        ),
      limitMs,
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A file system's refusals, in words an agent can act on. */
const FILE_SYSTEM_REASONS: Readonly<Record<string, string>> = {
  ENOTDIR: "part of the way is a file, not a directory",
  EEXIST: "part of the way is a file, not a directory",
  EISDIR: "it is a directory",
  ENOSPC: "the device's disk is full",
  EDQUOT: "the device's disk is full",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "the file system is read-only",
  ENAMETOOLONG: "a name is too long",
};

/**
 * What an agent is told of a call that failed: a BuckyError as it is; a file system's
 * error by what it means and the data path it names (never where the home is on the
 * host); anything else as an internal error, whose details go to the log.
 */
function agentFacing(error: unknown, tool: string, dataRoot: string): BuckyError {
  if (error instanceof BuckyError) return error;
  const failure = error as NodeJS.ErrnoException | undefined;
  if (typeof failure?.code === "string" && typeof failure.syscall === "string") {
    const path = failure.path ?? "";
    const where =
      path === dataRoot
        ? " at data"
        : path.startsWith(`${dataRoot}/`)
          ? ` at data/${path.slice(dataRoot.length + 1)}`
          : "";
    const reason = FILE_SYSTEM_REASONS[failure.code] ?? "the file system refused";
    return new BuckyError("E_IO", `${tool} failed${where}: ${reason} (${failure.code})`);
  }
  return new BuckyError(
    "E_INTERNAL",
    `${tool} failed inside bucky`,
    "The log of the bucky serving this agent says why.",
  );
}
