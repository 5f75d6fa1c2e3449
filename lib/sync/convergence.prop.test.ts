/**
 * Devices converge: a seeded simulated network among three devices, with writes,
 * deletes, lost, duplicated and reordered messages, partitions and restarts. After the
 * network heals, every device holds the same state, and it is the state last-writer-wins
 * says it should be; and each device's seal, kept up to date write by write, is what
 * a full verification of its tables finds. fast-check prints the seed of a failure, and
 * replays it from that.
 *
 * With compaction: devices endorse checkpoints at cuts of their own choosing, adopt those
 * the zone agreed on and prune what they supersede, while others are away (cut off from
 * everyone) and come back behind the compaction. Compaction never changes the converged
 * state: it is still exactly what last-writer-wins over every write ever made gives.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { decodePageRequest } from "../../protocol/checkpoint.ts";
import { signDeviceDocument, signZoneDocument } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { compareHlc, type Hlc } from "../../protocol/hlc.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import type { DeviceName, ZoneName } from "../../protocol/names.ts";
import { candidateSteps } from "../checkpoint/candidate.ts";
import { adoptAgreed, type Compacting, endorseAt } from "../checkpoint/compaction.ts";
import { checkpointPage, offerFor, takeOffer } from "../checkpoint/transfer.ts";
import { createLog } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { StateSeal } from "../state/seal.ts";
import { seed } from "../state/test-db.ts";
import { runThrough, verifyNow } from "../state/verify.ts";
import { openStateDb, type StateDb } from "../store/db.ts";
import { node, state } from "../store/schema.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { entriesMissingFrom, versionVector } from "./exchange.ts";
import { ingestPage } from "./ingest.ts";
import { loadMembership } from "./membership.ts";

const DEVICES = 3;
/** Checkpoint cuts are taken on multiples of this (ms of the simulated clock). */
const CUT_PERIOD_MS = 50;
const KEYS = ["apps/a", "apps/b", "users/x", "users/y"];
const quiet = createLog({ level: "silent" });
const owner = signingKeyFromSeed(seed(1));
const zoneDoc = signZoneDocument({ name: "home" as ZoneName, issuedAt: 1 }, owner);
const keys = Array.from({ length: DEVICES }, (_, i) => signingKeyFromSeed(seed(10 + i)));
const names = keys.map((_, i) => `dev${i}`);
const seals = keys.map((key, i) =>
  StateSeal.fromSeed(seed(10 + i), deviceIdFromPublicKey(key.publicKey)),
);
const deviceDocs = keys.map((key, i) =>
  signDeviceDocument(
    { name: names[i] as DeviceName, devicePublicKey: key.publicKey, issuedAt: 1 },
    owner,
  ),
);

type Action =
  | { kind: "write"; device: number; key: string; value: number | null }
  | {
      kind: "sync";
      from: number;
      to: number;
      drop: number[];
      duplicate: number[];
      shuffle: number;
      /** Changesets per batch as the page is applied (lib/sync/ingest.ts ingestPage). */
      batch: number;
    }
  | { kind: "partition"; a: number; b: number }
  | { kind: "restart"; device: number }
  | { kind: "away"; device: number }
  | { kind: "checkpoint"; devices: number[]; lagMs: number };

const device = fc.integer({ min: 0, max: DEVICES - 1 });
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("write" as const),
      device,
      key: fc.constantFrom(...KEYS),
      value: fc.option(fc.integer({ min: 0, max: 99 }), { nil: null }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("sync" as const),
      from: device,
      to: device,
      drop: fc.array(fc.nat(20), { maxLength: 3 }),
      duplicate: fc.array(fc.nat(20), { maxLength: 2 }),
      shuffle: fc.nat(),
      batch: fc.integer({ min: 1, max: 5 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("partition" as const), a: device, b: device }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("restart" as const), device }) },
);
/** The same, with devices going away and checkpoints taken. */
const compactingAction: fc.Arbitrary<Action> = fc.oneof(
  { weight: 10, arbitrary: action },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("away" as const), device }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("checkpoint" as const),
      devices: fc.uniqueArray(device, { minLength: 1, maxLength: DEVICES }),
      lagMs: fc.integer({ min: 0, max: 60 }),
    }),
  },
);

class Cluster {
  // In memory where it can be: no device crashes here (a restart closes its database whole).
  private readonly dir = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-sim-"));
  readonly dbs: StateDb[];
  private readonly cut = new Set<string>();
  /** Every write made, with the clock and author it was made with: the model. */
  readonly writes: { key: string; value: string | null; hlc: Hlc; author: string }[] = [];
  private nowMs = 1_000_000;

  constructor(private readonly zone: ZoneId) {
    this.dbs = keys.map((key, i) => {
      const db = this.open(i, true);
      db.insert(node)
        .values({
          id: 1,
          zoneId: zone,
          deviceId: deviceIdFromPublicKey(key.publicKey),
          deviceName: names[i] as string,
        })
        .run();
      seals[i]?.init(db.$client);
      return db;
    });
    // Device 0 founded the zone and admitted the others.
    this.write(0, [
      { key: "boot/config", value: JSON.stringify(zoneDoc.jws) },
      ...deviceDocs.map((doc, i) => ({
        key: `devices/${names[i]}/doc`,
        value: JSON.stringify(doc.jws),
      })),
    ]);
  }

  private open(i: number, create: boolean): StateDb {
    return openStateDb(join(this.dir, `d${i}.db`), { create });
  }

  write(i: number, ops: { key: string; value: string | null }[]): void {
    this.nowMs += 7;
    const changeset = appendLocalChangeset(
      this.dbs[i] as StateDb,
      {
        zone: this.zone,
        name: names[i] as string,
        key: keys[i] as SigningKey,
        seal: seals[i] as StateSeal,
      },
      ops,
      this.nowMs - i * 5,
    );
    for (const op of changeset.ops)
      if (!op.key.startsWith("nodes/"))
        this.writes.push({ ...op, hlc: changeset.hlc, author: changeset.author });
  }

  async sync(
    from: number,
    to: number,
    faults?: { drop: number[]; duplicate: number[]; shuffle: number; batch: number },
  ): Promise<number> {
    if (from === to || this.cut.has(pair(from, to)) || this.away.has(from) || this.away.has(to))
      return 0;
    // `to` lacks what `from` compacted away: it fetches the checkpoint first.
    const offer = offerFor(
      (this.dbs[from] as StateDb).$client,
      versionVector(this.dbs[to] as StateDb),
    );
    if (offer) {
      if ((await this.take(from, to, offer)) !== "adopted") return 0;
      this.compactions.taken++;
    }
    let entries: readonly Uint8Array[] = entriesMissingFrom(
      this.dbs[from] as StateDb,
      versionVector(this.dbs[to] as StateDb),
      2048,
    ).entries;
    if (faults) {
      entries = entries.filter((_, i) => !faults.drop.includes(i));
      entries = [...entries, ...faults.duplicate.flatMap((i) => (entries[i] ? [entries[i]] : []))];
      entries = rotate(entries, faults.shuffle);
    }
    this.nowMs += 3;
    // As the daemon applies a page: in batches, a few changesets each when faults are on.
    const result = await ingestPage(
      this.dbs[to] as StateDb,
      entries,
      {
        zone: this.zone,
        nowMs: this.nowMs,
        log: quiet,
        source: names[from] as string,
        seal: seals[to] as StateSeal,
      },
      faults ? { batchChangesets: faults.batch } : {},
    );
    return result.applied.length;
  }

  private take(from: number, to: number, offer: Uint8Array) {
    return takeOffer(
      {
        db: this.dbs[to] as StateDb,
        seal: seals[to] as StateSeal,
        zone: this.zone,
        now: () => this.nowMs,
        log: quiet,
        source: names[from] as string,
        fetchPage: async (request) =>
          checkpointPage((this.dbs[from] as StateDb).$client, decodePageRequest(request), 512),
      },
      offer,
    );
  }

  /** Lets the simulated clock run on. */
  tick(ms: number): void {
    this.nowMs += ms;
  }

  /** Devices cut off from everyone. */
  private readonly away = new Set<number>();

  toggleAway(i: number): void {
    if (!this.away.delete(i)) this.away.add(i);
  }

  /** How many times a device adopted a checkpoint it computed, and took one from a peer. */
  readonly compactions = { adopted: 0, taken: 0 };

  /**
   * Each of `devices` (that is not away) endorses its checkpoint at a cut `lagMs` back, then
   * adopts the newest one agreed that it can compute.
   */
  async checkpoint(devices: readonly number[], lagMs: number): Promise<void> {
    // Cuts on multiples of a period, as the daemon takes them: devices pick the same one.
    const cut = Math.floor((this.nowMs - lagMs) / CUT_PERIOD_MS) * CUT_PERIOD_MS;
    const here = devices.filter((i) => !this.away.has(i));
    for (const i of here) if (await adoptAgreed(this.compacting(i))) this.compactions.adopted++;
    for (const i of here) await endorseAt(this.compacting(i), cut);
    for (const i of here) if (await adoptAgreed(this.compacting(i))) this.compactions.adopted++;
  }

  private compacting(i: number): Compacting {
    const db = this.dbs[i] as StateDb;
    return {
      db,
      seal: seals[i] as StateSeal,
      zone: this.zone,
      deviceName: names[i] as string,
      now: () => this.nowMs,
      membership: () => loadMembership(db, this.zone),
      write: (ops) => this.write(i, [...ops]),
      compute: async (held, target) =>
        runThrough(candidateSteps((this.dbs[i] as StateDb).$client, this.zone, held, target)),
    };
  }

  togglePartition(a: number, b: number): void {
    if (a === b) return;
    const key = pair(a, b);
    if (!this.cut.delete(key)) this.cut.add(key);
  }

  restart(i: number): void {
    (this.dbs[i] as StateDb).$client.close();
    this.dbs[i] = this.open(i, false);
  }

  /** Syncs `among` until nothing moves (the network as it is: partitions and absences hold). */
  async settle(among: readonly number[]): Promise<void> {
    for (let round = 0; round < 50; round++) {
      let applied = 0;
      for (const a of among) for (const b of among) applied += await this.sync(a, b);
      if (applied === 0) return;
    }
  }

  async heal(): Promise<void> {
    this.cut.clear();
    this.away.clear();
    for (let round = 0; round < 50; round++) {
      let applied = 0;
      for (let a = 0; a < DEVICES; a++)
        for (let b = 0; b < DEVICES; b++) applied += await this.sync(a, b);
      if (applied === 0) return;
    }
    throw new Error("the network did not settle");
  }

  stateOf(i: number): Record<string, string | null> {
    const rows = (this.dbs[i] as StateDb)
      .select({ key: state.key, value: state.value })
      .from(state)
      .all();
    return Object.fromEntries(
      rows
        .filter(
          (row) =>
            !row.key.startsWith("devices/") &&
            !row.key.startsWith("nodes/") &&
            row.key !== "boot/config",
        )
        .map((row) => [row.key, row.value])
        .sort(),
    );
  }

  /** Last writer wins over every write ever made: what every device must end with. */
  expected(): Record<string, string | null> {
    const winners = new Map<string, (typeof this.writes)[number]>();
    for (const write of this.writes) {
      const current = winners.get(write.key);
      if (
        !current ||
        compareHlc(write.hlc, current.hlc) > 0 ||
        (compareHlc(write.hlc, current.hlc) === 0 && write.author > current.author)
      ) {
        winners.set(write.key, write);
      }
    }
    return Object.fromEntries(
      [...winners]
        .filter(([key]) => !key.startsWith("devices/") && key !== "boot/config")
        .map(([key, write]) => [key, write.value])
        .sort(),
    );
  }

  /** What a full verification of device i's tables finds wrong (against its seal). */
  problemsOf(i: number): readonly string[] {
    return verifyNow((this.dbs[i] as StateDb).$client, seals[i] as StateSeal, this.zone).problems;
  }

  close(): void {
    for (const db of this.dbs) db.$client.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function pair(a: number, b: number): string {
  return a < b ? `${a}-${b}` : `${b}-${a}`;
}

function rotate<T>(items: readonly T[], by: number): readonly T[] {
  if (items.length === 0) return items;
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)].reverse();
}

async function run(
  cluster: Cluster,
  actions: readonly Action[],
  options: { keepAway?: number } = {},
): Promise<void> {
  for (const step of actions) {
    if (step.kind === "away" && step.device === options.keepAway) continue;
    if (step.kind === "write")
      cluster.write(step.device, [
        { key: step.key, value: step.value === null ? null : String(step.value) },
      ]);
    if (step.kind === "sync") await cluster.sync(step.from, step.to, step);
    if (step.kind === "partition") cluster.togglePartition(step.a, step.b);
    if (step.kind === "restart") cluster.restart(step.device);
    if (step.kind === "away") cluster.toggleAway(step.device);
    if (step.kind === "checkpoint") await cluster.checkpoint(step.devices, step.lagMs);
  }
  await cluster.heal();
}

function expectConverged(cluster: Cluster): void {
  const expected = cluster.expected();
  for (let i = 0; i < DEVICES; i++) {
    expect(cluster.stateOf(i)).toEqual(expected);
    expect(cluster.problemsOf(i)).toEqual([]);
  }
}

describe("sync converges", () => {
  test("under loss, duplication, reordering, partitions and restarts", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 40 }), async (actions) => {
        const cluster = new Cluster(zoneDoc.id);
        try {
          await run(cluster, actions);
          expectConverged(cluster);
        } finally {
          cluster.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  test("compaction never changes the converged state, with devices away across compactions", async () => {
    let adopted = 0;
    let taken = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(compactingAction, { maxLength: 25 }),
        device,
        fc.array(compactingAction, { maxLength: 25 }),
        async (before, gone, during) => {
          const cluster = new Cluster(zoneDoc.id);
          const others = [0, 1, 2].filter((i) => i !== gone);
          try {
            await run(cluster, before);
            // One device goes away; the others write, compact, and go on without it.
            cluster.toggleAway(gone);
            cluster.write(gone, [{ key: "users/x", value: '"written while away"' }]);
            for (const i of others) cluster.write(i, [{ key: "apps/a", value: `"by ${i}"` }]);
            await cluster.settle(others);
            cluster.tick(CUT_PERIOD_MS);
            await cluster.checkpoint(others, 0);
            await cluster.settle(others);
            await cluster.checkpoint(others, 0);
            await run(cluster, during, { keepAway: gone });
            expectConverged(cluster);
            // Then everyone checkpoints what they all hold, and still agrees.
            await cluster.checkpoint([0, 1, 2], 0);
            await cluster.heal();
            await cluster.checkpoint([0, 1, 2], 0);
            await cluster.heal();
            expectConverged(cluster);
            adopted += cluster.compactions.adopted;
            taken += cluster.compactions.taken;
          } finally {
            cluster.close();
          }
        },
      ),
      { numRuns: 60 },
    );
    // The runs did compact, and devices behind a compaction did take checkpoints.
    expect(adopted).toBeGreaterThan(60);
    expect(taken).toBeGreaterThan(50);
  }, 120_000);
});
