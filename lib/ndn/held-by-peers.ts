/**
 * Which of some peers hold an object whole, asked (`GET /v1/ndn/held/<id>`, members only)
 * until one does or a bound for its size has passed: what a write names as named data
 * (a public file, an app's package) outlives the device that wrote it only once another
 * device holds its bytes, not just the zone state's record of it.
 */
import { type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { ObjectStore } from "./store.ts";

/** Where a peer says whether it holds an object whole (lib/node/peer-api.ts). */
const heldPath = (id: ObjectId) => `/v1/ndn/held/${id}`;

/** How often the peers are asked again whether they hold it yet. */
const ASKED_AGAIN_MS = 200;

/**
 * How long to ask: as long as a write's wait for another device (3 s), and a second more
 * for each 50 MiB to copy (a peer fetches at 300 MiB/s and more, bench/apps.ts), within
 * the CLI's wait for the daemon (30 s).
 */
const HELD_WAIT = { baseMs: 3_000, bytesPerMs: 50 * 1024, mostMs: 25_000 };

export interface HeldByPeers {
  /** Those of the peers asked of that hold the whole object. */
  readonly heldBy: readonly string[];
  /** Those that did not yet, when answered. */
  readonly notHeldBy: readonly string[];
}

/**
 * Which of the devices named `among` hold the whole of `id` (`sizeBytes` long), asked until
 * one does or the bound for its size has passed. None of them a peer: answered at once.
 */
export async function untilHeldByPeers(
  node: NodeContext,
  id: ObjectId,
  sizeBytes: number,
  among: ReadonlySet<string>,
): Promise<HeldByPeers> {
  const withinMs = Math.min(HELD_WAIT.baseMs + sizeBytes / HELD_WAIT.bytesPerMs, HELD_WAIT.mostMs);
  const peers = node.peers().filter((peer) => among.has(peer.name));
  const heldBy = new Set<string>();
  const deadline = Date.now() + withinMs;
  while (peers.length > 0) {
    await Promise.all(
      peers.map(async (peer) => {
        try {
          const answer = await node.client.get(
            peer,
            heldPath(id),
            Math.max(deadline - Date.now(), 1),
          );
          if (answer && saysWhole(answer)) heldBy.add(peer.name);
        } catch (error) {
          // Away, or an older bucky without the question: it is not known to hold it.
          if (!(error instanceof BuckyError)) throw error;
        }
      }),
    );
    if (heldBy.size > 0 || Date.now() + ASKED_AGAIN_MS > deadline) break;
    await Bun.sleep(ASKED_AGAIN_MS);
  }
  const names = [...among].sort();
  return {
    heldBy: names.filter((name) => heldBy.has(name)),
    notHeldBy: names.filter((name) => !heldBy.has(name)),
  };
}

function saysWhole(answer: Uint8Array): boolean {
  try {
    return JSON.parse(new TextDecoder().decode(answer)).whole === true;
  } catch {
    return false;
  }
}

/** The size of an object `store` holds (0 when it cannot tell: the shortest wait). */
export function objectSize(store: ObjectStore, id: ObjectId): number {
  const parsed = parseObjectId(id);
  if (!parsed) return 0;
  if (parsed.kind === "chunk") return store.chunkSize(parsed.id) ?? 0;
  return store.heldList(parsed.id)?.size ?? 0;
}
