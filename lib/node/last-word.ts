/**
 * The last word of a daemon that stops for good: its zone state was altered behind
 * bucky's back, and it will not start again until a person repairs it there. Before it
 * stops it sends every peer it reaches, within a few seconds, its facts saying so
 * (`stopped`). Without it the other devices saw it only go offline, and a week later
 * advised revoking it, where it needs `bucky state repair` on it.
 *
 * Its state is not to be trusted now, so nothing of it is sent: the push carries the one
 * signed facts record and no version vector (a peer takes a push's vector for what the
 * pusher holds of its writes, lib/node/peer-holdings.ts, and an altered database could
 * claim anything).
 */

import { encodeEntries } from "../../protocol/sync-messages.ts";
import type { StoppedFacts } from "../facts/payload.ts";
import type { NodeContext } from "./node-context.ts";

/** How long the last word waits for the peers before the daemon stops all the same. */
export const LAST_WORD_WITHIN_MS = 3_000;

/** Says to every peer it reaches why this device stops; resolves with how many heard it. */
export async function sayLastWord(
  node: NodeContext,
  stopped: StoppedFacts,
  withinMs = LAST_WORD_WITHIN_MS,
): Promise<{ told: number; of: number }> {
  const record = node.lastFacts(stopped);
  const body = encodeEntries({ have: new Map(), entries: [], more: false, facts: [record.bytes] });
  const peers = node.peers();
  const signal = AbortSignal.timeout(withinMs);
  const sent = await Promise.allSettled(
    peers.map((peer) =>
      node.client.post(peer, "/v1/sync/push", body, {
        repeatable: true,
        timeoutMs: withinMs,
        signal,
      }),
    ),
  );
  const told = sent.filter((one) => one.status === "fulfilled").length;
  node.log.info("told the zone why this device stops", { told, of: peers.length });
  return { told, of: peers.length };
}
