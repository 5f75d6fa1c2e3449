/**
 * A gateway's own copy of every object the zone made public. Fetched only when a client
 * asked for it, an object stored on one device alone (a laptop's `bucky put --public`)
 * was gone from every gateway the moment that device went away, though the zone had said
 * it serves it. So a gateway takes a copy as soon as it hears an object is public
 * (lib/ndn/keep-copies.ts); the public root (lib/ndn/roots.ts) keeps it. Only objects
 * within the zone's budget for public files are copied (lib/gateway/public-budget.ts).
 */
import type { ObjectId } from "../../protocol/ndn.ts";
import type { FetchLimit } from "../ndn/fetch.ts";
import { untilHeldByPeers } from "../ndn/held-by-peers.ts";
import { type KeptCopies, keepCopies } from "../ndn/keep-copies.ts";
import { fileHolders } from "../ndn/stored-files.ts";
import type { NodeContext } from "../node/node-context.ts";
import { zoneGateways } from "./gateways.ts";
import { PUBLIC_BUDGET_KEY, PUBLIC_PREFIX, sizesWithinBudget } from "./public-budget.ts";

/**
 * Copies the public objects within the zone's budget (lib/gateway/public-budget.ts), each
 * no larger than it was made public as: a record's size is a member's words, and a lie
 * would otherwise let any object through.
 */
export function keepPublicCopies(node: NodeContext): KeptCopies {
  let sizes: ReadonlyMap<ObjectId, number> = new Map();
  return keepCopies(node, {
    what: "public object",
    // The records and the budget's own key: a budget raised copies what now fits.
    prefix: PUBLIC_BUDGET_KEY.slice(0, PUBLIC_PREFIX.length - 1),
    ids: () => {
      sizes = sizesWithinBudget(node.db);
      return sizes.keys();
    },
    limitOf: (id) => publicObjectLimit(sizes.get(id) ?? 0),
    // A public file is a stored file too (`bucky put --public`): its devices say they hold it.
    holders: () => fileHolders(node.db),
  });
}

/** The most a public object made public as `sizeBytes` may be. */
export function publicObjectLimit(sizeBytes: number): FetchLimit {
  return { bytes: sizeBytes, what: `an object made public as ${sizeBytes} bytes` };
}

export interface GatewayCopies {
  /** The zone's other gateways that hold the whole object. */
  readonly copiedBy: readonly string[];
  /** Those that did not yet, when answered: they go on copying it. */
  readonly notCopiedBy: readonly string[];
}

/**
 * Which of the zone's other gateways hold the whole of `id` (`sizeBytes` long), asked
 * until one does or the bound for its size has passed (untilHeldByPeers): a public file
 * outlives this device once one of them holds it. A zone with no other gateway answers at
 * once, naming none; so does one asked not to wait (`wait: false`), naming them all as
 * still copying (none can have the bytes the moment they are made public).
 */
export async function untilCopiedByGateway(
  node: NodeContext,
  id: ObjectId,
  sizeBytes: number,
  { wait }: { wait: boolean },
): Promise<GatewayCopies> {
  const gateways = new Set(
    zoneGateways(node).flatMap((gateway) => (gateway.self ? [] : [gateway.device])),
  );
  if (!wait) return { copiedBy: [], notCopiedBy: [...gateways].sort() };
  const { heldBy, notHeldBy } = await untilHeldByPeers(node, id, sizeBytes, gateways);
  return { copiedBy: heldBy, notCopiedBy: notHeldBy };
}
