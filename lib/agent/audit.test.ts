import { describe, expect, test } from "bun:test";
import { count, eq, like, sql } from "drizzle-orm";
import { MAX_AUDIT_BATCH_BYTES } from "../../protocol/agent-audit.ts";
import { type Changeset, MAX_CHANGESET_BYTES } from "../../protocol/changeset.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { createLog } from "../log.ts";
import type { ChangeListener } from "../node/node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode } from "../state/test-db.ts";
import { agentAudit, changesets, state } from "../store/schema.ts";
import {
  AUDIT_RETENTION_MS,
  type AuditWriter,
  publishAudit,
  readAudit,
  recordCall,
} from "./audit.ts";
import { AuditProgress } from "./audit-progress.ts";
import { AUDIT_SOON_GAP_MS, AuditPublisher } from "./audit-publisher.ts";

const quiet = createLog({ level: "silent" });
const DAY_MS = 24 * 3600_000;

function device(seed: number, startMs = 1_800_000_000_000) {
  const { db, zone, key, seal } = openTestNode(seed);
  let nowMs = startMs;
  const name = `d${seed}`;
  const deviceId = deviceIdFromPublicKey(key.publicKey);
  const writer: AuditWriter = {
    db,
    deviceName: name,
    deviceId,
    auditProgress: new AuditProgress({ db, deviceName: name, deviceId }),
    now: () => nowMs,
    write: (ops) => appendLocalChangeset(db, { zone, name, key, seal }, ops, nowMs),
  };
  return {
    db,
    name,
    writer,
    at: (ms: number) => {
      nowMs = ms;
    },
    now: () => nowMs,
    call(agent: string, outcome = "ok") {
      recordCall(
        writer,
        {
          agent,
          tool: "read_file",
          arguments: { path: "notes/a" },
          dryRun: false,
          ok: true,
          outcome,
        },
        nowMs,
      );
    },
    changesetCount: () => db.select({ n: count() }).from(changesets).get()?.n ?? 0,
    batches: () =>
      db
        .select({ key: state.key, value: state.value })
        .from(state)
        .where(like(state.key, `nodes/${name}/agent-log/%`))
        .all(),
  };
}

/** Another device's batches, as sync brings them. */
function syncBatches(from: ReturnType<typeof device>, to: ReturnType<typeof device>): void {
  const batches = from.batches();
  if (batches.length === 0) return;
  to.db
    .insert(state)
    .values(
      batches.map((b) => ({
        key: b.key,
        value: b.value,
        hlcMs: from.now(),
        hlcCounter: 0,
        author: from.name,
        seq: 1,
      })),
    )
    .onConflictDoUpdate({ target: state.key, set: { value: sql`excluded.value` } })
    .run();
}

describe("publishing the audit to the zone state", () => {
  test("one changeset when agents called, none when they did not", () => {
    const d = device(31);
    expect(publishAudit(d.writer)).toBe(0);
    expect(d.changesetCount()).toBe(0);
    for (const agent of ["a", "b", "c"]) d.call(agent);
    expect(publishAudit(d.writer)).toBe(3);
    expect(d.changesetCount()).toBe(1);
    expect(publishAudit(d.writer)).toBe(0);
    expect(d.changesetCount()).toBe(1);
    d.call("a");
    expect(publishAudit(d.writer)).toBe(1);
    expect(d.batches().map((b) => b.key)).toEqual([
      `nodes/d31/agent-log/${d.now()}-${"3".padStart(15, "0")}`,
      `nodes/d31/agent-log/${d.now()}-${"4".padStart(15, "0")}`,
    ]);
  });

  test("a clock set back publishes each entry once: how far is the highest entry published, not the newest key", () => {
    const d = device(36);
    for (const agent of ["a", "b"]) d.call(agent);
    expect(publishAudit(d.writer)).toBe(2);
    d.at(d.now() - 3600_000);
    d.call("c");
    expect(publishAudit(d.writer)).toBe(1);
    expect(publishAudit(d.writer)).toBe(0);
    expect(d.changesetCount()).toBe(2);
  });

  test("batches another device of the same name wrote (revoked, its name taken again) do not say how far this one published", () => {
    const d = device(37);
    d.db
      .insert(state)
      .values({
        key: `nodes/${d.name}/agent-log/${d.now() - 1000}-${"900".padStart(15, "0")}`,
        value: null,
        hlcMs: d.now() - 1000,
        hlcCounter: 0,
        author: "an-earlier-device",
        seq: 1,
      })
      .run();
    d.call("a");
    expect(publishAudit(d.writer)).toBe(1);
  });

  test("batches stay under the value limit and a changeset under its own; the rest waits its turn", () => {
    const d = device(32);
    for (let i = 0; i < 3_000; i++) d.call(`agent-${i % 7}`, `${i} ${"x".repeat(1_000)}`);
    const published: number[] = [];
    for (let n = publishAudit(d.writer); n > 0; n = publishAudit(d.writer)) published.push(n);
    expect(published.length).toBeGreaterThan(1);
    expect(published.reduce((a, b) => a + b, 0)).toBe(3_000);
    for (const batch of d.batches())
      expect(Buffer.byteLength(batch.value as string)).toBeLessThanOrEqual(MAX_AUDIT_BATCH_BYTES);
    for (const row of d.db.select({ bytes: changesets.bytes }).from(changesets).all())
      expect(row.bytes.length).toBeLessThan(MAX_CHANGESET_BYTES);
    // Every entry once, in order, as another device reads them.
    const reader = device(36);
    syncBatches(d, reader);
    const read = readAudit(reader.db, {
      self: "d36",
      selfId: reader.writer.deviceId,
      limit: 1_000,
      nowMs: d.now(),
      log: quiet,
    });
    expect(read.length).toBe(1_000);
    expect(read.map((e) => Number(e.outcome.split(" ")[0]))).toEqual(
      Array.from({ length: 1_000 }, (_, i) => 2_999 - i),
    );
    expect(read[0]).toMatchObject({ device: "d32", agent: "agent-3", tool: "read_file" });
    expect((read[0] as { outcome: string }).outcome.length).toBeLessThanOrEqual(300);
  });
});

describe("reading the zone's audit", () => {
  test("this device's rows and the others' batches, merged by time, newest first, filtered", () => {
    const here = device(33);
    const there = device(34);
    let t = 1_800_000_000_000;
    for (const [who, agent] of [
      [here, "a"],
      [there, "b"],
      [here, "b"],
      [there, "a"],
      [there, "b"],
    ] as const) {
      t += 1000;
      here.at(t);
      there.at(t);
      who.call(agent, `${who.name} ${agent} ${t}`);
    }
    publishAudit(there.writer);
    syncBatches(there, here);
    const all = readAudit(here.db, {
      self: "d33",
      selfId: here.writer.deviceId,
      limit: 10,
      nowMs: t,
      log: quiet,
    });
    expect(all.map((e) => `${e.device} ${e.agent}`)).toEqual([
      "d34 b",
      "d34 a",
      "d33 b",
      "d34 b",
      "d33 a",
    ]);
    const b = readAudit(here.db, {
      self: "d33",
      selfId: here.writer.deviceId,
      agent: "b",
      limit: 2,
      nowMs: t,
      log: quiet,
    });
    expect(b.map((e) => e.outcome)).toEqual([`d34 b ${t}`, `d33 b ${t - 2000}`]);
  });
});

describe("publishing soon, for a call that changed something", () => {
  test("publishes at once, then at most once a gap, the calls meanwhile sharing it, whatever the clock does", async () => {
    const d = device(40);
    const publisher = new AuditPublisher(
      {
        ...d.writer,
        diskFull: (error) => {
          throw error;
        },
      },
      3_600_000,
      (error) => {
        throw error;
      },
    );
    d.call("a");
    await publisher.publishSoon();
    expect(d.changesetCount()).toBe(1);
    d.call("b");
    // The clock set back an hour: the next publication still comes within the gap.
    d.at(d.now() - 3_600_000);
    const startedMs = Date.now();
    const first = publisher.publishSoon();
    d.call("c");
    expect(publisher.publishSoon()).toBe(first);
    await first;
    expect(Date.now() - startedMs).toBeLessThan(AUDIT_SOON_GAP_MS + 500);
    expect(d.changesetCount()).toBe(2);
    expect(publishAudit(d.writer)).toBe(0);
    publisher.stop();
  });
});

describe("the same answer on every device", () => {
  test("the device an agent called through shows its calls as every other device does", () => {
    const here = device(38);
    const there = device(39);
    const long = `${"y".repeat(1_000)}`;
    here.call("a", long);
    here.at(here.now() + 1000);
    // A batch under this device's name from an earlier device of that name (revoked, its
    // name taken again): its calls are shown here as everywhere else.
    here.db
      .insert(state)
      .values({
        key: `nodes/${here.name}/agent-log/${here.now() - 500}-${"7".padStart(15, "0")}`,
        value: JSON.stringify({
          v: 1,
          entries: [
            {
              at: here.now() - 500,
              agent: "old",
              tool: "read_file",
              arguments: {},
              dryRun: false,
              ok: true,
              outcome: "from the earlier device",
            },
          ],
        }),
        hlcMs: here.now() - 500,
        hlcCounter: 0,
        author: "an-earlier-device",
        seq: 1,
      })
      .run();
    const read = (db: typeof here.db, self: string, selfId: DeviceId) =>
      readAudit(db, { self, selfId, limit: 10, nowMs: here.now(), log: quiet });
    const hereId = here.writer.deviceId;
    const before = read(here.db, here.name, hereId);
    // Not published yet: the device shows its call as it will be published.
    expect(before.map((e) => [e.agent, e.outcome.length])).toEqual([
      ["old", "from the earlier device".length],
      ["a", 300],
    ]);
    publishAudit(here.writer);
    syncBatches(here, there);
    expect(read(here.db, here.name, hereId)).toEqual(before);
    expect(read(there.db, there.name, there.writer.deviceId)).toEqual(before);
  });
});

describe("retention", () => {
  test("after 90 days a device deletes its batches and rows, and nobody shows them", () => {
    const d = device(35);
    const reader = device(37);
    d.call("old");
    publishAudit(d.writer);
    syncBatches(d, reader);
    d.at(d.now() + AUDIT_RETENTION_MS + DAY_MS);
    // Even before the device deleted its old batches, nobody shows them.
    expect(
      readAudit(reader.db, {
        self: "d37",
        selfId: reader.writer.deviceId,
        limit: 10,
        nowMs: d.now(),
        log: quiet,
      }),
    ).toEqual([]);
    d.call("new");
    publishAudit(d.writer);
    syncBatches(d, reader);
    expect(d.batches().filter((b) => b.value !== null).length).toBe(1);
    expect(
      d.db
        .select()
        .from(agentAudit)
        .all()
        .map((r) => r.agent),
    ).toEqual(["new"]);
    const read = readAudit(reader.db, {
      self: "d37",
      selfId: reader.writer.deviceId,
      limit: 10,
      nowMs: d.now(),
      log: quiet,
    });
    expect(read.map((e) => e.agent)).toEqual(["new"]);
  });

  test("a call after every row aged out is published and shown, its id past the batches'", () => {
    const d = device(38);
    const reader = device(39);
    for (const n of [1, 2, 3]) d.call(`old ${n}`);
    publishAudit(d.writer);
    d.at(d.now() + AUDIT_RETENTION_MS + DAY_MS);
    publishAudit(d.writer);
    expect(d.db.select().from(agentAudit).all()).toEqual([]);
    d.call("new");
    expect(publishAudit(d.writer)).toBe(1);
    syncBatches(d, reader);
    const agents = (db: typeof d.db, self: string, selfId: DeviceId) =>
      readAudit(db, { self, selfId, limit: 10, nowMs: d.now(), log: quiet }).map((e) => e.agent);
    expect(agents(d.db, d.name, d.writer.deviceId)).toEqual(["new"]);
    expect(agents(reader.db, reader.name, reader.writer.deviceId)).toEqual(["new"]);
  });

  test("old batches past one publication's share are deleted in turns, every one, each once", () => {
    const d = device(40);
    const start = d.now();
    for (let i = 0; i < 450; i++) {
      d.at(start + i * 1000);
      d.call(`old ${i}`);
      publishAudit(d.writer);
    }
    const live = () => d.batches().filter((b) => b.value !== null).length;
    expect(live()).toBe(450);
    d.at(start + AUDIT_RETENTION_MS + DAY_MS);
    const deletes: number[] = [];
    for (let turn = 0; turn < 5; turn++) {
      const before = d.changesetCount();
      publishAudit(d.writer);
      const written = d.db
        .select({ ops: sql<number>`count(*)` })
        .from(state)
        .where(sql`${state.key} LIKE ${`nodes/${d.name}/agent-log/%`} AND ${state.value} IS NULL`)
        .get()?.ops;
      deletes.push(d.changesetCount() - before, written ?? 0);
    }
    // 200, 200, then 50: three changesets, the rest of the turns none.
    expect(deletes).toEqual([1, 200, 1, 400, 1, 450, 0, 450, 0, 450]);
    expect(live()).toBe(0);
  });

  test("a batch published with the clock set back below where the deletes reached is deleted in its turn", () => {
    const d = device(41);
    const start = d.now();
    d.call("old");
    publishAudit(d.writer);
    d.at(start + AUDIT_RETENTION_MS + DAY_MS);
    publishAudit(d.writer);
    expect(d.batches().filter((b) => b.value !== null)).toEqual([]);
    // Set back past the retention, then right again: its batch is as old as the one deleted.
    d.at(start + 1000);
    d.call("set back");
    publishAudit(d.writer);
    expect(d.batches().filter((b) => b.value !== null).length).toBe(1);
    d.at(start + AUDIT_RETENTION_MS + 2 * DAY_MS);
    publishAudit(d.writer);
    expect(d.batches().filter((b) => b.value !== null)).toEqual([]);
  });
});

describe("how far a device published, remembered", () => {
  test("walked once; walked again when its own changesets come back from a peer, or a checkpoint replaces the state", () => {
    const d = device(42);
    d.call("a");
    publishAudit(d.writer);
    let change: ChangeListener = () => {};
    let rebase = () => {};
    const progress = new AuditProgress(d.writer, {
      onChange: (listener) => {
        change = listener;
        return () => {};
      },
      onRebase: (listener) => {
        rebase = listener;
        return () => {};
      },
    });
    expect(progress.publishedUpTo()).toBe(1);
    // Its home put back from an older backup, a peer gives it the batches it wrote since.
    const later = `nodes/${d.name}/agent-log/${d.now()}-${"7".padStart(15, "0")}`;
    d.db
      .insert(state)
      .values({
        key: later,
        value: "{}",
        hlcMs: d.now(),
        hlcCounter: 0,
        author: d.writer.deviceId,
        seq: 9,
      })
      .run();
    expect(progress.publishedUpTo()).toBe(1);
    const changeset = { author: d.writer.deviceId, ops: [] } as unknown as Changeset;
    const another = { author: "someone-else", ops: [] } as unknown as Changeset;
    change([changeset], "local");
    change([another], "remote");
    expect(progress.publishedUpTo()).toBe(1);
    change([another, changeset], "remote");
    expect(progress.publishedUpTo()).toBe(7);
    // Batches under its name from another device (an earlier one of its name): walked again.
    const earlier = {
      author: "someone-else",
      ops: [{ key: `nodes/${d.name}/agent-log/1-${"1".padStart(15, "0")}`, value: "{}" }],
    } as unknown as Changeset;
    d.db
      .insert(state)
      .values({
        key: later.replace(/7$/, "9"),
        value: "{}",
        hlcMs: d.now(),
        hlcCounter: 0,
        author: d.writer.deviceId,
        seq: 10,
      })
      .run();
    change([another], "remote");
    expect(progress.publishedUpTo()).toBe(7);
    change([earlier], "remote");
    expect(progress.publishedUpTo()).toBe(9);
    d.db
      .update(state)
      .set({ key: later.replace(/7$/, "8") })
      .where(eq(state.key, later))
      .run();
    d.db
      .delete(state)
      .where(eq(state.key, later.replace(/7$/, "9")))
      .run();
    rebase();
    expect(progress.publishedUpTo()).toBe(8);
  });
});
