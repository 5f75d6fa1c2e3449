/**
 * A zone of devices in one process, for tests of checkpoints and sync: each device a
 * state database of its own, syncing by calling the same functions the peer API and the
 * sync loop call (a checkpoint offered, fetched page by page, then entries), and
 * compacting by the same steps as the daemon's Compactor.
 */
import type { Op } from "../../protocol/changeset.ts";
import { decodePage, decodePageRequest, encodePage } from "../../protocol/checkpoint.ts";
import { signDeviceDocument, signZoneDocument } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import type { DeviceName, ZoneName } from "../../protocol/names.ts";
import { createLog, type Log } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { StateSeal } from "../state/seal.ts";
import { seed } from "../state/test-db.ts";
import { runThrough, type Verdict, verifyNow } from "../state/verify.ts";
import { openStateDb, type StateDb } from "../store/db.ts";
import { node, state } from "../store/schema.ts";
import { entriesMissingFrom, versionVector } from "../sync/exchange.ts";
import { type IngestResult, ingestEntries } from "../sync/ingest.ts";
import { loadMembership } from "../sync/membership.ts";
import { candidateSteps } from "./candidate.ts";
import { type Adopted, adoptAgreed, type Compacting, endorseAt } from "./compaction.ts";
import { checkpointPage, type OfferOutcome, offerFor, takeOffer } from "./transfer.ts";

export const owner = signingKeyFromSeed(seed(1));
export const zoneDocument = signZoneDocument({ name: "home" as ZoneName, issuedAt: 1 }, owner);

export interface Device {
  readonly name: string;
  readonly key: SigningKey;
  readonly seal: StateSeal;
  db: StateDb;
  readonly path: string;
}

export class TestZone {
  readonly zone: ZoneId = zoneDocument.id;
  readonly devices: Device[];
  readonly log: Log;
  /** The simulated wall clock (ms). */
  nowMs = 1_000_000;

  /** Devices named `names`, their databases in `dir`. */
  constructor(
    names: readonly string[],
    dir: string,
    options: { seedBase?: number; log?: Log } = {},
  ) {
    this.log = options.log ?? createLog({ level: "silent" });
    const base = options.seedBase ?? 40;
    this.devices = names.map((name, i) => {
      const key = signingKeyFromSeed(seed(base + i));
      const id = deviceIdFromPublicKey(key.publicKey);
      const path = `${dir}/${name}.db`;
      const db = openStateDb(path, { create: true });
      db.insert(node).values({ id: 1, zoneId: this.zone, deviceId: id, deviceName: name }).run();
      const seal = StateSeal.fromSeed(seed(base + i), id);
      seal.init(db.$client);
      return { name, key, seal, db, path };
    });
    // The first device founded the zone and admitted the others.
    this.write(0, [
      { key: "boot/config", value: JSON.stringify(zoneDocument.jws) },
      ...this.devices.map((device) => ({
        key: `devices/${device.name}/doc`,
        value: JSON.stringify(
          signDeviceDocument(
            {
              name: device.name as DeviceName,
              devicePublicKey: device.key.publicKey,
              issuedAt: 1,
            },
            owner,
          ).jws,
        ),
      })),
    ]);
  }

  device(i: number): Device {
    return this.devices[i] as Device;
  }

  /** A write on device `i`, a few milliseconds after the last thing that happened. */
  write(i: number, ops: readonly Op[]) {
    this.nowMs += 7;
    const device = this.device(i);
    return appendLocalChangeset(
      device.db,
      { zone: this.zone, name: device.name, key: device.key, seal: device.seal },
      ops,
      this.nowMs,
    );
  }

  /**
   * One pull of `to` from `from`, as the sync loop makes it: a checkpoint offered first if
   * `to` lacks what `from` compacted away, then the entries `to` lacks (optionally
   * mangled in transit). Returns how many changesets `to` applied.
   */
  async sync(
    from: number,
    to: number,
    transit: (entries: readonly Uint8Array[]) => readonly Uint8Array[] = (e) => e,
  ): Promise<number> {
    if (from === to) return 0;
    const source = this.device(from);
    const target = this.device(to);
    this.nowMs += 3;
    const offer = offerFor(source.db.$client, versionVector(target.db));
    if (offer && (await this.take(from, to, offer)) !== "adopted") return 0;
    const result = this.ingest(
      to,
      transit(entriesMissingFrom(source.db, versionVector(target.db), 2048).entries),
      source.name,
    );
    return result.applied.length;
  }

  /**
   * `to` takes the checkpoint `from` offers, fetching its pages from it (each page's
   * changesets optionally mangled in transit).
   */
  take(
    from: number,
    to: number,
    offer: Uint8Array,
    transit?: (changesets: readonly Uint8Array[]) => Uint8Array[],
  ): Promise<OfferOutcome> {
    const source = this.device(from);
    const target = this.device(to);
    const pageOf = (request: Uint8Array) =>
      checkpointPage(source.db.$client, decodePageRequest(request));
    return takeOffer(
      {
        db: target.db,
        seal: target.seal,
        zone: this.zone,
        now: () => this.nowMs,
        log: this.log,
        source: source.name,
        fetchPage: async (request) => {
          if (!transit) return pageOf(request);
          const page = decodePage(pageOf(request));
          return encodePage({ ...page, changesets: transit(page.changesets) });
        },
      },
      offer,
    );
  }

  ingest(to: number, entries: readonly Uint8Array[], source: string): IngestResult {
    const target = this.device(to);
    return ingestEntries(target.db, entries, {
      zone: this.zone,
      nowMs: this.nowMs,
      log: this.log,
      source,
      seal: target.seal,
    });
  }

  compacting(i: number): Compacting {
    const device = this.device(i);
    return {
      db: device.db,
      seal: device.seal,
      zone: this.zone,
      deviceName: device.name,
      now: () => this.nowMs,
      membership: () => loadMembership(device.db, this.zone),
      write: (ops) => {
        this.write(i, ops);
      },
      compute: async (held, target) =>
        runThrough(candidateSteps(device.db.$client, this.zone, held, target)),
    };
  }

  /** Device `i` endorses its checkpoint at `cut`; returns its id, if it made one. */
  async endorse(i: number, cut: number): Promise<string | undefined> {
    return (await endorseAt(this.compacting(i), cut))?.checkpoint.id;
  }

  /** Device `i` adopts the newest agreed checkpoint it can compute. */
  adopt(i: number): Promise<Adopted | undefined> {
    return adoptAgreed(this.compacting(i));
  }

  /** The state's rows of device `i`, key to value (tombstones as null). */
  stateOf(i: number, prefix = ""): Record<string, string | null> {
    return Object.fromEntries(
      this.device(i)
        .db.select({ key: state.key, value: state.value })
        .from(state)
        .all()
        .filter((row) => row.key.startsWith(prefix))
        .map((row) => [row.key, row.value])
        .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)),
    );
  }

  changesetCount(i: number): number {
    return (
      this.device(i).db.$client.query("SELECT count(*) AS n FROM changesets").get() as {
        n: number;
      }
    ).n;
  }

  verify(i: number): Verdict {
    const device = this.device(i);
    return verifyNow(device.db.$client, device.seal, this.zone);
  }

  restart(i: number): void {
    const device = this.device(i);
    device.db.$client.close();
    device.db = openStateDb(device.path, { create: false });
  }

  close(): void {
    for (const device of this.devices) device.db.$client.close();
  }
}
