/**
 * Devices converge: a seeded simulated network among three devices, with writes,
 * deletes, lost, duplicated and reordered messages, partitions and restarts. After the
 * network heals, every device holds the same state, and it is the state last-writer-wins
 * says it should be; and each device's seal, kept up to date write by write, is what
 * a full verification of its tables finds. fast-check prints the seed of a failure, and
 * replays it from that.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { signDeviceDocument, signZoneDocument } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { compareHlc, type Hlc } from "../../protocol/hlc.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import type { DeviceName, ZoneName } from "../../protocol/names.ts";
import { createLog } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { StateSeal } from "../state/seal.ts";
import { seed } from "../state/test-db.ts";
import { verifyNow } from "../state/verify.ts";
import { openStateDb, type StateDb } from "../store/db.ts";
import { node, state } from "../store/schema.ts";
import { entriesMissingFrom, versionVector } from "./exchange.ts";
import { ingestEntries } from "./ingest.ts";

const DEVICES = 3;
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
  | { kind: "sync"; from: number; to: number; drop: number[]; duplicate: number[]; shuffle: number }
  | { kind: "partition"; a: number; b: number }
  | { kind: "restart"; device: number };

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
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("partition" as const), a: device, b: device }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("restart" as const), device }) },
);

class Cluster {
  private readonly dir = mkdtempSync(join(tmpdir(), "bucky-sim-"));
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
      this.writes.push({ ...op, hlc: changeset.hlc, author: changeset.author });
  }

  sync(
    from: number,
    to: number,
    faults?: { drop: number[]; duplicate: number[]; shuffle: number },
  ): number {
    if (from === to || this.cut.has(pair(from, to))) return 0;
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
    return ingestEntries(this.dbs[to] as StateDb, entries, {
      zone: this.zone,
      nowMs: this.nowMs,
      log: quiet,
      source: names[from] as string,
      seal: seals[to] as StateSeal,
    }).applied.length;
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

  heal(): void {
    this.cut.clear();
    for (let round = 0; round < 50; round++) {
      let applied = 0;
      for (let a = 0; a < DEVICES; a++)
        for (let b = 0; b < DEVICES; b++) applied += this.sync(a, b);
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
        .filter((row) => !row.key.startsWith("devices/") && row.key !== "boot/config")
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

describe("sync converges", () => {
  test("under loss, duplication, reordering, partitions and restarts", () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 40 }), (actions) => {
        const cluster = new Cluster(zoneDoc.id);
        try {
          for (const step of actions) {
            if (step.kind === "write")
              cluster.write(step.device, [
                { key: step.key, value: step.value === null ? null : String(step.value) },
              ]);
            if (step.kind === "sync") cluster.sync(step.from, step.to, step);
            if (step.kind === "partition") cluster.togglePartition(step.a, step.b);
            if (step.kind === "restart") cluster.restart(step.device);
          }
          cluster.heal();
          const expected = cluster.expected();
          for (let i = 0; i < DEVICES; i++) {
            expect(cluster.stateOf(i)).toEqual(expected);
            expect(cluster.problemsOf(i)).toEqual([]);
          }
        } finally {
          cluster.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
