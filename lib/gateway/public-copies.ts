/**
 * A gateway's own copy of every object the zone made public. Fetched only when a client
 * asked for it, an object stored on one device alone (a laptop's `bucky put --public`)
 * was gone from every gateway the moment that device went away, though the zone had said
 * it serves it. So a gateway takes a copy as soon as it hears an object is public (and
 * looks again at start, after a checkpoint replaced the state, and every so often for
 * what no device could give it yet); the public root (lib/ndn/roots.ts) keeps it.
 */
import type { ObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import { fetchToStore, peerSource, storeSource } from "../ndn/fetch.ts";
import type { NodeContext } from "../node/node-context.ts";
import { PUBLIC_PREFIX, publicObjects } from "./public-objects.ts";

/** How often what could not be fetched (its devices away) is tried again. */
export const PUBLIC_COPIES_AGAIN_MS = 60_000;

export interface PublicCopies {
  stop(): void;
}

export function keepPublicCopies(
  node: NodeContext,
  againMs: number = PUBLIC_COPIES_AGAIN_MS,
): PublicCopies {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  /** The objects a fetch failed for, and why: said once each, until it works. */
  const failed = new Map<ObjectId, string>();

  const fetchMissing = async () => {
    const ids = publicObjects(node.db);
    // One made private since is not tried again.
    for (const id of failed.keys()) if (!ids.includes(id)) failed.delete(id);
    for (const id of ids) {
      if (stopped) return;
      if (node.store.holdsWhole(id)) continue;
      try {
        await fetchToStore(id, node.store, [
          storeSource(node.store),
          ...node.peers().map((peer) => peerSource(node.client, peer)),
        ]);
        failed.delete(id);
        node.log.info("public object copied", { id });
      } catch (error) {
        if (!(error instanceof BuckyError)) throw error;
        if (failed.get(id) !== error.message)
          node.log.warn("public object not copied yet", { id, error: error.message });
        failed.set(id, error.message);
      }
    }
  };
  const soon = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = fetchMissing()
      .catch((error) => node.log.error("public objects not copied", { error: String(error) }))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          soon();
        }
      });
  };

  const stops = [
    node.onChange((changesets) => {
      if (changesets.some((c) => c.ops.some((op) => op.key.startsWith(PUBLIC_PREFIX)))) soon();
    }),
    node.onRebase(soon),
  ];
  const timer = setInterval(() => {
    if (failed.size > 0) soon();
  }, againMs);
  timer.unref();
  soon();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      for (const stop of stops) stop();
    },
  };
}
