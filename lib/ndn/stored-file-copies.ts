/**
 * This device's part in keeping the zone's stored files (lib/ndn/stored-files.ts): a whole
 * copy of each within the zone's budget for them, fetched as soon as it hears of one and
 * tried again as a peer answers again and every minute (lib/ndn/keep-copies.ts), each no
 * larger than its record says and only while the disk keeps its spare room; and the
 * zone's word of what it holds (`nodes/<device>/files/<id>`), which `bucky status` counts.
 *
 * It also brings what `bucky put` pinned here into the zone: a file put while the daemon
 * was not running, or by a bucky from before stored files were zone records, gets its
 * record now; one whose record another device deleted (`bucky rm` there, while this one
 * was away) is let go here too, never recorded again: unless it was put again here after
 * that deletion.
 */
import { statfsSync } from "node:fs";
import type { Op } from "../../protocol/changeset.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { parseObjectId } from "../../protocol/ndn.ts";
import type { NodeContext } from "../node/node-context.ts";
import { ndnPins } from "../store/schema.ts";
import { formatBytes } from "../units.ts";
import { NEARLY_FULL_BYTES, NEARLY_FULL_SHARE } from "../zone/reliability.ts";
import type { FetchLimit } from "./fetch.ts";
import { type KeptCopies, keepCopies } from "./keep-copies.ts";
import { unpin } from "./pins.ts";
import type { ObjectStore } from "./store.ts";
import {
  FILES_KEYS,
  FILES_PREFIX,
  fileHolders,
  heldFileOps,
  storedFileOps,
  storedFileRow,
  storedFilesBudget,
} from "./stored-files.ts";

export interface KeptStoredFiles extends KeptCopies {
  /** Says again what this device holds (soon): something of it was collected. */
  sayHoldings(): void;
}

export function keepStoredFileCopies(node: NodeContext): KeptStoredFiles {
  let sizes: ReadonlyMap<ObjectId, number> = new Map();
  /** The files left uncopied for want of room, said once each. */
  const noRoom = new Set<ObjectId>();
  let pending = false;
  let stopped = false;
  // Soon, not within the change that asked: a write from inside a merge's listeners would
  // nest in it.
  const holdings = () => {
    if (pending || stopped) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      if (stopped) return;
      try {
        sayHoldings(node);
      } catch (error) {
        node.diskFull(error);
      }
    }, 0);
  };
  const copies = keepCopies(node, {
    what: "stored file",
    // The records and the budget's own key: a budget raised copies what now fits.
    prefix: FILES_KEYS,
    ids: function* () {
      sizes = new Map(
        storedFilesBudget(node.db).within.map((record) => [record.id, record.sizeBytes ?? 0]),
      );
      for (const [id, sizeBytes] of sizes) {
        if (node.store.holdsWhole(id)) {
          yield id;
          continue;
        }
        // Measured as each is about to be fetched: the copies before it took their room.
        if (!roomFor(node.store, sizeBytes)) {
          if (!noRoom.has(id))
            node.log.warn("stored file not copied: the disk keeps its spare room", {
              id,
              size: formatBytes(sizeBytes),
            });
          noRoom.add(id);
          continue;
        }
        noRoom.delete(id);
        yield id;
      }
    },
    limitOf: (id) => storedFileLimit(sizes.get(id) ?? 0),
    copied: holdings,
    holders: () => fileHolders(node.db),
  });
  // What the zone says of the files changed (a record, a deletion): the pins and holdings
  // follow.
  const stop = node.onChange((changesets) => {
    if (changesets.some((c) => c.ops.some((op) => op.key.startsWith(FILES_PREFIX)))) holdings();
  });
  const stopRebase = node.onRebase(holdings);
  // A copy found damaged (set aside) or gone is held no more: said, until fetched again.
  const stopLoss = node.store.onMaybeLost(holdings);
  holdings();
  return {
    sayHoldings: holdings,
    stop() {
      stopped = true;
      copies.stop();
      stop();
      stopRebase();
      stopLoss();
    },
  };
}

/** The most a stored file recorded as `sizeBytes` may be. */
export function storedFileLimit(sizeBytes: number): FetchLimit {
  return { bytes: sizeBytes, what: `a file stored as ${sizeBytes} bytes` };
}

/**
 * Whether the disk takes `sizeBytes` more and keeps the room a disk needs not to count as
 * nearly full (a tenth of it, and 1 GiB): a copy is worth less than a device that works.
 */
function roomFor(store: ObjectStore, sizeBytes: number): boolean {
  try {
    const disk = statfsSync(store.root);
    const free = disk.bavail * disk.bsize;
    const total = disk.blocks * disk.bsize;
    return free - sizeBytes >= Math.max(NEARLY_FULL_SHARE * total, NEARLY_FULL_BYTES);
  } catch {
    // A store not made yet: its first copy makes it.
    return true;
  }
}

/**
 * Brings the pins of `bucky put` here and this device's word of what it holds in line with
 * the zone's records (see the top of this file), in at most two writes.
 */
export function sayHoldings(node: NodeContext): void {
  if (node.quarantined()) return;
  const ops: Op[] = [];
  for (const pin of node.db.select().from(ndnPins).all()) {
    const id = parseObjectId(pin.id)?.id;
    if (!id) continue;
    const row = storedFileRow(node.db, id);
    if (row.kind === "live") continue;
    if (row.kind === "released" && row.atMs >= pin.pinnedAt) {
      // Let go zone-wide after it was put here: here too.
      unpin(node.db, id);
      node.log.info("stored file released on another device", { id });
      continue;
    }
    const sizeBytes = node.store.wholeSize(id);
    if (sizeBytes === undefined) continue;
    ops.push(
      ...storedFileOps(node.deviceName, { id, sizeBytes, name: pin.note, atMs: pin.pinnedAt }),
    );
    node.log.info("stored file recorded in the zone", { id });
  }
  if (ops.length > 0) node.write(ops);
  const held = heldFileOps(node.db, node.deviceName, (id) => node.store.holdsWhole(id));
  if (held.length > 0) node.write(held);
}
