/**
 * App data replication under a steady write load, over repeated SIGKILLs of the holder:
 *
 * 1. Writes lost per failover (p50, p99): the notes app takes a note every 50 ms on its
 *    holder; the holder's daemon and app are killed; once the standby serves the app, the
 *    acknowledged notes it lacks are counted, as seconds of writes. Goal: p99 ≤ 10 s.
 * 2. Failover time: until the notes app answers again on the standby, beside the same
 *    for apps with no data in the same zone, which fail over as before (the anchor: "the
 *    failover time the zone already has"). Goal: no longer than the anchor's.
 * 3. Bytes shipped per byte written (what the holder sent its standby against the bytes of
 *    the notes the app took), and the holder daemon's CPU while shipping.
 *
 * The heartbeat is 2 s here (BENCH_HEARTBEAT_MS to change it; 30 s by default in a zone),
 * so a round takes seconds, not minutes: it sets failover times, both ours and the
 * anchor's, and not what is lost, which snapshotting and shipping decide.
 *
 *   just bench        (or: bun bench/replication.ts [rounds])
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buckyJson, localGet, startDaemon } from "./daemon.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUCKY = join(ROOT, "dist/bucky");
const ROUNDS = Number(process.argv[2] ?? 6);
const HEARTBEAT_MS = process.env.BENCH_HEARTBEAT_MS ?? "2000";
const ENV = {
  BUCKY_HEARTBEAT_MS: HEARTBEAT_MS,
  BUCKY_CONVERGE_INTERVAL_MS: "500",
  BUCKY_SYNC_INTERVAL_MS: "500",
};
const WRITE_EVERY_MS = 50;
const LOAD_MS = 5_000;
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-replication-"));
const daemons = new Map<string, ReturnType<typeof Bun.spawn>>();
const homes = { a: join(scratch, "a"), b: join(scratch, "b") } as Record<string, string>;

interface AppStatus {
  state: string;
  device: string | null;
  url: string | null;
  data: {
    holder: { device: string; epoch: number } | null;
    standbys: { device: string; lagMs: number | null; snapshotAt: string | null }[];
  } | null;
}

function bucky<T>(args: string[]): T {
  return buckyJson<T>(BUCKY, args);
}

const local = localGet;

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** A request to an app, at the URL its status gives (a socket into its sandbox, or a port). */
function appFetch(url: string, path: string, init: RequestInit = {}): Promise<Response> {
  return url.startsWith("unix:")
    ? fetch(`http://app${path}`, { ...init, unix: url.slice(5) } as RequestInit)
    : fetch(`${url}${path}`, init);
}

async function start(device: string): Promise<void> {
  daemons.set(device, await startDaemon(BUCKY, homes[device] as string, ENV));
}

function kill(device: string, apps: readonly string[]): void {
  for (const app of apps) {
    const pid = join(homes[device] as string, "apps", app, "pid");
    if (existsSync(pid))
      try {
        process.kill(Number(readFileSync(pid, "utf8")), "SIGKILL");
      } catch {
        // Gone with its daemon.
      }
  }
  daemons.get(device)?.kill("SIGKILL");
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** Copies of the static site under other names: apps with no data, spread over the devices. */
function dataless(count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const id = `site${i + 1}`;
    const dir = join(scratch, id);
    cpSync(join(ROOT, "fixtures/apps/site"), dir, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(dir, "bucky-app.json"), "utf8"));
    writeFileSync(join(dir, "bucky-app.json"), JSON.stringify({ ...manifest, id }));
    return dir;
  });
}

async function main(): Promise<void> {
  bucky(["init", "--home", homes.a as string, "--device", "a"]);
  await start("a");
  const { token } = bucky<{ token: string }>(["invite", "--home", homes.a as string]);
  bucky(["join", token, "--home", homes.b as string, "--device", "b", "--no-start"]);
  await start("b");
  await until("both devices online", async () =>
    (
      await local<{ devices: { status: string }[] }>(homes.a as string, "/v1/devices")
    ).devices.every((d) => d.status === "online")
      ? true
      : undefined,
  );
  bucky(["app", "install", join(ROOT, "fixtures/apps/notes"), "--home", homes.a as string]);
  const sites = dataless(4).map((dir) => {
    bucky(["app", "install", dir, "--home", homes.a as string]);
    return dir.split("/").at(-1) as string;
  });

  const lostS: number[] = [];
  const ours: number[] = [];
  const anchor: number[] = [];
  let written = 0;
  let shipped = 0;
  let cpuShare = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const status = (home: string, app: string) => local<AppStatus>(home, `/v1/apps/${app}`);
    const running = await until("notes running and caught up", async () => {
      const s = await status(homes.a as string, "notes");
      const caughtUp = s.data?.standbys.length && s.data.standbys.every((x) => x.lagMs === 0);
      return s.state === "running" && s.device && caughtUp ? s : undefined;
    });
    const holder = running.device as string;
    const standby = holder === "a" ? "b" : "a";
    const holderPid = daemons.get(holder)?.pid as number;
    // Shipping a steady load: what it costs the holder, and what it sends.
    const servedBefore = await served(holder);
    const cpuBefore = cpuSeconds(holderPid);
    let n = round * 1_000_000;
    const write = async () => {
      const text = `note ${++n} ${"x".repeat(60)}`;
      const response = await appFetch(running.url as string, "/api/notes", {
        method: "POST",
        body: JSON.stringify({ text }),
      }).catch(() => undefined);
      if (response?.status !== 201) return undefined;
      written += text.length;
      return { n, at: Date.now() };
    };
    const loadStart = performance.now();
    while (performance.now() - loadStart < LOAD_MS) {
      await write();
      await Bun.sleep(WRITE_EVERY_MS);
    }
    cpuShare += (cpuSeconds(holderPid) - cpuBefore) / (LOAD_MS / 1000);
    // Until the standby has the last note: what shipping the load cost, whole.
    await until("the standby caught up", async () => {
      const s = await status(homes[standby] as string, "notes");
      return s.data?.standbys.every((x) => x.lagMs === 0) ? true : undefined;
    });
    shipped += (await served(holder)) - servedBefore;

    // Then the holder dies in the middle of the same load.
    const acked: { n: number; at: number }[] = [];
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const done = await write();
        if (done) acked.push(done);
        await Bun.sleep(WRITE_EVERY_MS);
      }
    })();
    await Bun.sleep(1000 + Math.random() * 2000);
    const onHolder = (
      await Promise.all(
        sites.map(async (app) =>
          (await status(homes.a as string, app)).device === holder ? app : "",
        ),
      )
    ).filter(Boolean);
    kill(holder, ["notes", ...onHolder]);
    const killedAt = performance.now();
    writing = false;
    await writer;
    const answering = async (app: string, path: string) => {
      const s = await status(homes[standby] as string, app);
      return s.state === "running" &&
        s.device === standby &&
        (await appFetch(s.url as string, path)).ok
        ? s
        : undefined;
    };
    const [notes] = await Promise.all([
      until("notes on the standby", () => answering("notes", "/api/notes")).then((s) => {
        ours.push((performance.now() - killedAt) / 1000);
        return s;
      }),
      ...onHolder.map((app) =>
        until(`${app} on the standby`, () => answering(app, "/")).then(() => {
          anchor.push((performance.now() - killedAt) / 1000);
        }),
      ),
    ]);
    const body = (await (await appFetch(notes.url as string, "/api/notes")).json()) as {
      notes: { text: string }[];
    };
    const have = new Set(body.notes.map((note) => Number(note.text.split(" ")[1])));
    const lastKept = acked.filter((a) => have.has(a.n)).at(-1);
    const lastAcked = acked.at(-1);
    lostS.push(lastAcked && lastKept ? (lastAcked.at - lastKept.at) / 1000 : LOAD_MS / 1000);
    console.log(
      `round ${round}: ${holder} killed; ${acked.length - acked.filter((a) => have.has(a.n)).length} of ${acked.length} notes lost (${(lostS.at(-1) as number).toFixed(1)} s), notes back in ${(ours.at(-1) as number).toFixed(1)} s`,
    );
    await start(holder);
  }

  const row = (name: string, value: string, beside: string, goal: string) =>
    console.log(`${name.padEnd(36)} ${value.padStart(14)} ${beside.padStart(18)}   ${goal}`);
  console.log(`\nreplication, ${ROUNDS} SIGKILLs of the holder (heartbeat ${HEARTBEAT_MS} ms)`);
  console.log(`${"".padEnd(36)} ${"bucky".padStart(14)} ${"anchor".padStart(18)}`);
  row(
    "writes lost per failover",
    `p50 ${percentile(lostS, 50).toFixed(1)} s`,
    "-",
    `goal p99 ≤ 10 s (p99 ${percentile(lostS, 99).toFixed(1)} s)`,
  );
  row(
    "failover, until the app answers",
    `p50 ${percentile(ours, 50).toFixed(1)} s`,
    anchor.length > 0 ? `p50 ${percentile(anchor, 50).toFixed(1)} s` : "(none on holder)",
    "goal ≤ the anchor: apps with no data failing over in the same zone",
  );
  row(
    "bytes shipped per byte written",
    `${(shipped / Math.max(1, written)).toFixed(1)}`,
    "-",
    `${(shipped / 1024 / 1024).toFixed(1)} MiB sent for ${(written / 1024).toFixed(0)} KiB of notes`,
  );
  row(
    "holder daemon CPU while shipping",
    `${((cpuShare / ROUNDS) * 100).toFixed(0)} %`,
    "-",
    "of one core",
  );
}

/** Bytes the device holding notes has sent its standbys since its daemon started. */
async function served(holder: string): Promise<number> {
  const facts = await local<{ held: Record<string, { servedBytes?: number }> }>(
    homes[holder] as string,
    "/v1/replicas",
  );
  return facts.held.notes?.servedBytes ?? 0;
}

try {
  await main();
} finally {
  for (const child of daemons.values()) child.kill("SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
}
