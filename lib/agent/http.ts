/**
 * AI agents over the network: `/mcp`, streamable HTTP, with the agent's token as a bearer
 * token. Every daemon serves it on its own peer address (TLS with the device's
 * certificate, which a client pins), and a gateway on its public address as well.
 * Stateless: each request gets its own server and transport, and nothing is kept between
 * them but each agent's limits.
 */
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { LocalApi } from "../node/local-client.ts";
import { AgentLimits } from "./limits.ts";

/** The largest request an agent may send: a file it writes is at most 1 MiB of text. */
const MAX_MCP_BYTES = 4 * 1024 * 1024;

/**
 * The request with its body read, or undefined when the body is over MAX_MCP_BYTES (the
 * gateway accepts large bodies for apps; an agent's are small, and are read whole).
 */
async function withinLimit(request: Request): Promise<Request | undefined> {
  if (!request.body) return request;
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > MAX_MCP_BYTES) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.length;
    if (size > MAX_MCP_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: Buffer.concat(chunks),
  });
}

export class AgentEndpoint {
  private readonly limits: AgentLimits;

  constructor(
    private readonly api: LocalApi,
    private readonly paths: HomePaths,
    private readonly now: () => number,
    private readonly log: Log,
  ) {
    this.limits = new AgentLimits();
  }

  async handle(request: Request): Promise<Response> {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    if (!token) {
      return Response.json(
        {
          jsonrpc: "2.0",
          error: {
            code: -32001,
            message:
              "an agent token is needed: Authorization: Bearer <token> (from `bucky agent grant`)",
          },
          id: null,
        },
        { status: 401, headers: { "www-authenticate": "Bearer" } },
      );
    }
    const limited = await withinLimit(request);
    if (!limited) {
      return Response.json(
        {
          jsonrpc: "2.0",
          error: { code: -32600, message: `a request to /mcp is at most ${MAX_MCP_BYTES} bytes` },
          id: null,
        },
        { status: 413 },
      );
    }
    // Loaded at the first agent request: the MCP SDK and its schemas are much of what an
    // idle daemon would otherwise hold in memory.
    const [{ createAgentServer }, { WebStandardStreamableHTTPServerTransport }] = await Promise.all(
      [import("./mcp.ts"), import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js")],
    );
    const server = createAgentServer({
      api: this.api,
      token,
      paths: this.paths,
      now: this.now,
      log: this.log,
      limits: this.limits,
    });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    await server.connect(transport);
    try {
      return await transport.handleRequest(limited);
    } finally {
      void server.close();
    }
  }
}
