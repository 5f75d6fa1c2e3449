/**
 * What publishing an agent's reads to the zone's audit log costs: a busy agent reading
 * as fast as its rate lets it (5 calls a second, lib/agent/limits.ts) through device a of
 * a zone of two, for a while. Counted: the changesets a's feed grew by, their bytes, the
 * audit batches (keys kept 90 days) and entries, and each daemon's CPU. Run against
 * another build (`--bucky`, e.g. one publishing reads every 10 s) for the anchor.
 *
 *   bun bench/agent-audit.ts [seconds] [--bucky BINARY]
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { pinnedTls } from "../protocol/tls-cert.ts";
import { benchBinary, buckyJson, cpuMsOf, startTwoDevices } from "./daemon.ts";

const { values: flags, positionals } = parseArgs({
  options: { bucky: { type: "string" } },
  allowPositionals: true,
});
const LOAD_MS = Number(positionals[0] ?? 30) * 1000;
/** Just under the agent's rate (5 a second), so that none is refused. */
const CALL_EVERY_MS = 210;

interface Figures {
  readonly changesetsPerS: number;
  readonly bytesPerS: number;
  readonly batches: number;
  readonly entries: number;
  readonly cpuMsPerS: readonly [number, number];
}

async function measure(binary: string): Promise<Figures> {
  const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-audit-"));
  const children: ReturnType<typeof Bun.spawn>[] = [];
  try {
    const { homes, daemons } = await startTwoDevices(binary, scratch, children);
    const [a] = homes;
    const { token, mcp } = buckyJson<{
      token: string;
      mcp: { urls: string[]; certificate: string };
    }>(binary, ["agent", "grant", "reader", "--read", "status", "--home", a]);
    const client = new Client({ name: "bench", version: "1" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcp.urls[0] as string), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
        fetch: (input: string | URL | Request, init?: RequestInit) =>
          fetch(input, { ...init, tls: pinnedTls(mcp.certificate) }),
      }),
    );
    const feed = () => {
      const db = new Database(join(a, "state.db"), { readonly: true });
      try {
        return db
          .query<{ n: number; bytes: number }, []>(
            `SELECT count(*) AS n, coalesce(sum(length(bytes)), 0) AS bytes FROM changesets
             WHERE author = (SELECT device_id FROM node)`,
          )
          .get() as { n: number; bytes: number };
      } finally {
        db.close();
      }
    };
    const before = feed();
    const cpuBefore = daemons.map((d) => cpuMsOf(d.pid));
    const startedMs = performance.now();
    let entries = 0;
    while (performance.now() - startedMs < LOAD_MS) {
      const next = performance.now() + CALL_EVERY_MS;
      const result = (await client.callTool({ name: "zone_status", arguments: {} })) as {
        isError?: boolean;
      };
      if (!result.isError) entries++;
      await Bun.sleep(Math.max(0, next - performance.now()));
    }
    const seconds = (performance.now() - startedMs) / 1000;
    const cpu = daemons.map(
      (d) => (cpuMsOf(d.pid) - (cpuBefore[daemons.indexOf(d)] ?? 0)) / seconds,
    );
    // What was left to publish goes out with the next timer or the daemon's stop: counted
    // as the rate it was written at while the agent read.
    const after = feed();
    await client.close();
    const db = new Database(join(a, "state.db"), { readonly: true });
    const batches = (
      db
        .query<{ n: number }, []>(
          "SELECT count(*) AS n FROM state WHERE key LIKE 'nodes/a/agent-log/%' AND value IS NOT NULL",
        )
        .get() as { n: number }
    ).n;
    db.close();
    return {
      changesetsPerS: (after.n - before.n) / seconds,
      bytesPerS: (after.bytes - before.bytes) / seconds,
      batches,
      entries,
      cpuMsPerS: [cpu[0] ?? 0, cpu[1] ?? 0],
    };
  } finally {
    for (const child of children) child.kill();
    await Promise.all(children.map((child) => child.exited));
    rmSync(scratch, { recursive: true, force: true });
  }
}

function row(name: string, f: Figures): string {
  return `${name.padEnd(12)} ${f.changesetsPerS.toFixed(2).padStart(8)} changesets/s ${Math.round(f.bytesPerS).toString().padStart(7)} B/s  ${f.batches} batches for ${f.entries} reads (${(f.entries / Math.max(1, f.batches)).toFixed(1)} a batch)  CPU a ${f.cpuMsPerS[0].toFixed(1)} ms/s, b ${f.cpuMsPerS[1].toFixed(1)} ms/s`;
}

console.log(
  `a busy agent reading through device a for ${LOAD_MS / 1000} s, ~${(1000 / CALL_EVERY_MS).toFixed(1)} reads/s`,
);
console.log(row("this build", await measure(benchBinary(undefined))));
if (flags.bucky !== undefined) console.log(row("--bucky", await measure(benchBinary(flags.bucky))));
