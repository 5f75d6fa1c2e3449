/**
 * A device's own copy of objects the zone says it keeps, taken from the other devices as
 * soon as it hears of them: an object stored on one device alone is gone the moment that
 * device goes away, whatever the zone said of it. The objects are fetched again when the
 * state under `prefix` changes, at start, after a checkpoint replaced the state, when one
 * here may be lost (found damaged, or a scrub's round over: lib/ndn/scrub.ts), as soon as
 * a peer answers again (what no device could give yet may be on the one that was away: a
 * minute's wait for it could outlast the device that added it), and every so often.
 * Whoever names the objects keeps them (a root of lib/ndn/roots.ts): this only fetches them.
 *
 * What could not be fetched is tried again a minute later, then twice as long after each
 * failure in a row (up to an hour, or a day for an object no device says it holds): tried
 * every minute forever, a member's thousands of small records for objects no device holds
 * (a budget bounds their bytes, not their number) had every device fetch each of them every
 * minute, at every change of the records and at every peer's return. A peer answering
 * again, or a write that names the object (its record written anew, a device saying it now
 * holds it), has it tried again at once.
 */
import { type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { type FetchLimit, fetchToStore, peerSource, storeSource } from "./fetch.ts";

/** How long after a first failure an object is tried again; each next failure doubles it. */
const COPIES_AGAIN_MS = 60_000;
/** The longest wait for an object some device says it holds (it may just be away). */
const MOST_AGAIN_CLAIMED_MS = 60 * 60_000;
/** The longest wait for one no device says it holds: nothing but a record names it. */
const MOST_AGAIN_UNCLAIMED_MS = 24 * 60 * 60_000;
/** How many objects newly not copied a round names in the log one by one; the rest in one line. */
const FAILURES_NAMED_PER_ROUND = 20;

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
  /**
   * The devices that say they hold each object whole. Given, a peer answering again has
   * what it says it holds tried at once (the rest waits its turn), and an object no device
   * says it holds waits up to a day between tries; not given, a peer answering again has
   * everything not copied tried at once.
   */
  holders?(): ReadonlyMap<ObjectId, ReadonlySet<string>>;
}

/** An object not copied yet: why, how many tries failed in a row, and when it is due again. */
interface Failure {
  readonly error: string;
  readonly failures: number;
  readonly againAtMs: number;
}

/** How long an object waits after `failures` failed tries in a row. */
export function copyAgainAfterMs(failures: number, claimed: boolean): number {
  const mostMs = claimed ? MOST_AGAIN_CLAIMED_MS : MOST_AGAIN_UNCLAIMED_MS;
  return Math.min(COPIES_AGAIN_MS * 2 ** Math.min(Math.max(failures - 1, 0), 30), mostMs);
}

export function keepCopies(node: NodeContext, of: CopiesOf): KeptCopies {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  /** The objects a fetch failed for: each said once (while its error stays), tried when due. */
  const failed = new Map<ObjectId, Failure>();
  const due = (id: ObjectId) => (failed.get(id)?.againAtMs ?? 0) <= node.now();
  const anyDue = () => [...failed.keys()].some(due);

  const fetchMissing = async () => {
    const tried = new Set<ObjectId>();
    const holders = of.holders?.();
    let copied = 0;
    let named = 0;
    let unnamed = 0;
    for (const id of of.ids()) {
      if (stopped) return;
      tried.add(id);
      if (node.store.holdsWhole(id) || !due(id)) continue;
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
        const before = failed.get(id);
        const failures = (before?.failures ?? 0) + 1;
        const claimed = holders ? (holders.get(id)?.size ?? 0) > 0 : true;
        failed.set(id, {
          error: error.message,
          failures,
          againAtMs: node.now() + copyAgainAfterMs(failures, claimed),
        });
        if (before?.error === error.message) continue;
        if (named < FAILURES_NAMED_PER_ROUND) {
          named++;
          node.log.warn(`${of.what} not copied yet`, { id, error: error.message });
        } else unnamed++;
      }
    }
    // One no longer named is not tried again.
    for (const id of failed.keys()) if (!tried.has(id)) failed.delete(id);
    if (unnamed > 0)
      node.log.warn(`${of.what}s not copied yet`, {
        more: unnamed,
        failing: failed.size,
        note: "each tried again later, less often while it fails",
      });
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
  /** Has `ids` tried at once: something changed that may let them be fetched now. */
  const dueNow = (ids: Iterable<ObjectId>) => {
    let any = false;
    for (const id of ids) {
      const failure = failed.get(id);
      if (!failure) continue;
      failed.set(id, { ...failure, againAtMs: 0 });
      any = true;
    }
    return any;
  };

  const stops = [
    node.onChange((changesets) => {
      const keys = changesets.flatMap((c) => c.ops.map((op) => op.key));
      // A key that ends in an object's id (its record, a device's word that it holds it).
      const named = keys.flatMap((key) => {
        const id = parseObjectId(key.slice(key.lastIndexOf("/") + 1))?.id;
        return id ? [id] : [];
      });
      if (dueNow(named) || keys.some((key) => key.startsWith(of.prefix))) soon();
    }),
    node.onRebase(soon),
    // One found damaged and set aside, or removed behind the store's back (lib/ndn/scrub.ts).
    node.store.onMaybeLost(soon),
    node.onPeerAnswering((peer) => {
      if (failed.size === 0) return;
      const holders = of.holders?.();
      if (!holders) dueNow(failed.keys());
      else dueNow([...failed.keys()].filter((id) => holders.get(id)?.has(peer.name)));
      if (anyDue()) soon();
    }),
  ];
  const timer = setInterval(() => {
    if (anyDue()) soon();
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
