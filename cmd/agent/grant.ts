/** `bucky agent grant <name>`: a token that gives an AI agent exactly this access. */
import { createHash, X509Certificate } from "node:crypto";
import type { AgentRecord, McpEndpoint } from "../../lib/agent/grants.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { parseDuration } from "../duration.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

const list = (text: string | undefined) =>
  text
    ? text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

export default defineBuckyCommand({
  meta: {
    name: "grant",
    description:
      "Give an AI agent a token for exactly the access named (and nothing the device cannot do itself)",
    examples: [
      "bucky agent grant helper --read status,apps,data/notes",
      "bucky agent grant tidy --read data/inbox --write data/inbox --ttl 7d",
      "bucky agent grant ops --read status,apps --act app.start,app.stop,backup.run   # owner key",
    ],
  },
  args: {
    name: {
      type: "positional",
      required: true,
      description: "A name for the agent (lowercase letters, digits, dashes)",
    },
    read: {
      type: "string",
      valueHint: "scopes",
      description:
        "What it may read: status, apps, objects, state, state:<prefix>, data, data/<dir> (this device's data)",
    },
    write: {
      type: "string",
      valueHint: "scopes",
      description: "Where it may write: data, data/<dir> (this device's data)",
    },
    act: {
      type: "string",
      valueHint: "actions",
      description:
        "What it may do: backup.run (this device's backups), app.start, app.stop (needs the owner key)",
    },
    ttl: {
      type: "string",
      valueHint: "duration",
      description: "How long the token works (default: 30d)",
    },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<
      {
        token: string;
        record: AgentRecord;
        mcp: McpEndpoint;
      } & HeldAnswer
    >(context.home, "POST", pathAsked("/v1/agents", args), {
      name: args.name,
      read: list(args.read),
      write: list(args.write),
      act: list(args.act),
      ttlMs: parseDuration(args.ttl ?? "30d", "--ttl"),
    }),
  text: ({ token, record, mcp, ...held }) =>
    [
      `Agent ${record.agent} may ${[
        record.scopes.read.length ? `read ${record.scopes.read.join(", ")}` : "",
        record.scopes.write.length ? `write ${record.scopes.write.join(", ")}` : "",
        record.scopes.act.length ? `do ${record.scopes.act.join(", ")}` : "",
      ]
        .filter(Boolean)
        .join("; ")}, until ${record.expiresAt}.`,
      "Its token (shown once; keep it as secret as a password):",
      "",
      token,
      "",
      "On this device: BUCKY_AGENT_TOKEN=<token> bucky mcp (or --token-file F, a file only you can read).",
      `Over the network: ${mcp.urls.join(" or ")} with Authorization: Bearer <token>, pinning this`,
      `device's certificate (SHA-256 ${fingerprint(mcp.certificate)}; the whole of it: --json), or any gateway's /mcp.`,
      ...notHeldYetNote(held, "grant"),
    ].join("\n"),
});

/** The SHA-256 fingerprint of a PEM certificate, as TLS tools print it. */
function fingerprint(pem: string): string {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return createHash("sha256").update(pem).digest("hex");
  }
}
