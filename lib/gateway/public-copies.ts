/**
 * A gateway's own copy of every object the zone made public. Fetched only when a client
 * asked for it, an object stored on one device alone (a laptop's `bucky put --public`)
 * was gone from every gateway the moment that device went away, though the zone had said
 * it serves it. So a gateway takes a copy as soon as it hears an object is public
 * (lib/ndn/keep-copies.ts); the public root (lib/ndn/roots.ts) keeps it.
 */
import { type KeptCopies, keepCopies } from "../ndn/keep-copies.ts";
import type { NodeContext } from "../node/node-context.ts";
import { PUBLIC_PREFIX, publicObjects } from "./public-objects.ts";

export function keepPublicCopies(node: NodeContext): KeptCopies {
  return keepCopies(node, {
    what: "public object",
    prefix: PUBLIC_PREFIX,
    ids: () => publicObjects(node.db),
  });
}
