/**
 * A device's own copy of objects the zone says it keeps, taken from the other devices as
 * soon as it hears of them: an object stored on one device alone is gone the moment that
 * device goes away, whatever the zone said of it. The objects are fetched again when the
 * state under `prefix` changes, at start, after a checkpoint replaced the state, as soon as
 * a peer answers again (what no device could give yet may be on the one that was away: a
 * minute's wait for it could outlast the device that added it), and every so often.
 * Whoever names the objects keeps them (a root of lib/ndn/roots.ts): this only fetches them.
 */
import type { ObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { type FetchLimit, fetchToStore, peerSource, storeSource } from "./fetch.ts";

/** How often what could not be fetched (its devices away) is tried again. */
const COPIES_AGAIN_MS = 60_000;

export interface KeptCopies {
  stop(): void;
}

export interface CopiesOf {
  /** What the objects are, as the log says it ("public object"). */
  readonly what: string;
  /** The state keys that name them: a change under it fetches again. */
  readonly prefix: string;
  /**
   * The objects to hold, read when they are fetched: a lazy list may name more once the
   * objects it yielded before are stored (a catalog's index names its icons).
   */
  ids(): Iterable<ObjectId>;
  /** The most any of them may be. */
  readonly limit?: FetchLimit;
  /** The most `id` may be, when each has its own (in place of `limit`). */
  limitOf?(id: ObjectId): FetchLimit | undefined;
  /** Called after a round that copied at least one of them (what they name may now be read). */
  copied?(): void;
}

export function keepCopies(node: NodeContext, of: CopiesOf): KeptCopies {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  /** The objects a fetch failed for, and why: said once each, until it works. */
  const failed = new Map<ObjectId, string>();

  const fetchMissing = async () => {
    const tried = new Set<ObjectId>();
    let copied = 0;
    for (const id of of.ids()) {
      if (stopped) return;
      tried.add(id);
      if (node.store.holdsWhole(id)) continue;
      try {
        const limit = of.limitOf ? of.limitOf(id) : of.limit;
        await fetchToStore(
          id,
          node.store,
          [storeSource(node.store), ...node.peers().map((peer) => peerSource(node.client, peer))],
          limit ? { limit } : {},
        );
        failed.delete(id);
        copied++;
        node.log.info(`${of.what} copied`, { id });
      } catch (error) {
        if (!(error instanceof BuckyError)) throw error;
        if (failed.get(id) !== error.message)
          node.log.warn(`${of.what} not copied yet`, { id, error: error.message });
        failed.set(id, error.message);
      }
    }
    // One no longer named is not tried again.
    for (const id of failed.keys()) if (!tried.has(id)) failed.delete(id);
    if (copied > 0) of.copied?.();
  };
  const soon = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = fetchMissing()
      .catch((error) => node.log.error(`${of.what}s not copied`, { error: String(error) }))
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
      if (changesets.some((c) => c.ops.some((op) => op.key.startsWith(of.prefix)))) soon();
    }),
    node.onRebase(soon),
    node.onPeerAnswering(() => {
      if (failed.size > 0) soon();
    }),
  ];
  const timer = setInterval(() => {
    if (failed.size > 0) soon();
  }, COPIES_AGAIN_MS);
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
