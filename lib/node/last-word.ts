/**
 * The last word of a daemon that stops for good, or cannot start: its zone state was
 * altered behind bucky's back, and it will not run until a person repairs it there. It
 * sends every peer it reaches, within a few seconds, its facts saying so (`stopped`).
 * Without it the other devices saw it only go offline, and a week later advised revoking
 * it, where it needs `bucky state repair` on it.
 *
 * Its state is not to be trusted now, so nothing of it is sent: the push carries the one
 * signed facts record and no version vector (a peer takes a push's vector for what the
 * pusher holds of its writes, lib/node/peer-holdings.ts, and an altered database could
 * claim anything). The peers are those the state names, each authenticated by the
 * certificate its own key makes.
 */

import { signFacts } from "../../protocol/device-facts.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import { encodeEntries } from "../../protocol/sync-messages.ts";
import type { BuckyError } from "../errors.ts";
import { MAX_STOPPED_MESSAGE_CHARS, type StoppedFacts } from "../facts/payload.ts";
import type { HomePaths } from "../home.ts";
import { readKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import { openStateDb } from "../store/db.ts";
import { node as nodeTable } from "../store/schema.ts";
import { ownRecordAt } from "../sync/device-records.ts";
import { FACTS, heldFactsOf } from "../sync/facts.ts";
import type { NodeContext } from "./node-context.ts";
import type { PeerClient } from "./peer-client.ts";
import type { Peer } from "./peers.ts";
import { withPeersAtRest } from "./peers-at-rest.ts";

/** How long the last word waits for the peers before the daemon stops all the same. */
export const LAST_WORD_WITHIN_MS = 3_000;

/** Why a device stops, as its facts say it, from the integrity error that stops it. */
export function stoppedFacts(error: BuckyError, nowMs: number): StoppedFacts {
  return {
    reason: "state-altered",
    message: error.message.slice(0, MAX_STOPPED_MESSAGE_CHARS),
    at: new Date(nowMs).toISOString(),
  };
}

/**
 * Said by a running daemon as it stops: its facts as they were, and why. The last facts it
 * says: none after them would say it runs (NodeContext.lastFacts).
 */
export async function sayLastWord(
  node: NodeContext,
  stopped: StoppedFacts,
): Promise<{ told: number; of: number }> {
  // Its facts first: said last whatever reading the peers from the altered state does.
  const record = node.lastFacts(stopped);
  return await sendToPeers(node.client, node.peers(), record.bytes, node.log);
}

/**
 * Said by a daemon whose start found the state altered (while it was off): from the home
 * as it is, its last facts held there, and why. A home whose database does not even read,
 * or whose key is not its own, says nothing: it has no one to tell, or no voice.
 */
export async function sayLastWordAtRest(
  paths: HomePaths,
  stopped: StoppedFacts,
  log: Log,
  now: () => number,
): Promise<void> {
  let db: ReturnType<typeof openStateDb>;
  try {
    db = openStateDb(paths.stateDb, { create: false });
  } catch {
    return;
  }
  try {
    const self = db.select().from(nodeTable).get();
    if (!self) return;
    const key = signingKeyFromSeed(readKeyFile(paths.deviceKey, "device", log));
    const device = self.deviceId as DeviceId;
    // Another device's key in its place: it would speak in that device's name.
    if (deviceIdFromPublicKey(key.publicKey) !== device) return;
    const before = heldFactsOf(db, device)?.facts ?? {};
    const nowMs = now();
    const at = ownRecordAt(db, FACTS, device, nowMs, () => false);
    const record = signFacts(self.zoneId as ZoneId, at, { ...before, stopped }, key);
    await withPeersAtRest(db, key, self, now, (client, peers) =>
      sendToPeers(client, peers, record.bytes, log),
    );
  } catch (error) {
    // Whatever else is wrong with the home: the start's own error is what is said.
    log.debug("could not tell the zone why this device does not start", {
      error: error instanceof Error ? error.message : String(error),
    });
  } finally {
    db.$client.close();
  }
}

async function sendToPeers(
  client: PeerClient,
  peers: readonly Peer[],
  record: Uint8Array,
  log: Log,
  withinMs = LAST_WORD_WITHIN_MS,
): Promise<{ told: number; of: number }> {
  const body = encodeEntries({ have: new Map(), entries: [], more: false, facts: [record] });
  const signal = AbortSignal.timeout(withinMs);
  let told = 0;
  const sending = Promise.allSettled(
    peers.map((peer) =>
      client
        .post(peer, "/v1/sync/push", body, { repeatable: true, timeoutMs: withinMs, signal })
        .then(() => told++),
    ),
  );
  // The client's probes of a peer's addresses come before the request and its timeout:
  // the wait is bounded here, whatever they take.
  const bound = Promise.withResolvers<void>();
  const timer = setTimeout(bound.resolve, withinMs);
  await Promise.race([sending, bound.promise]);
  clearTimeout(timer);
  log.info("told the zone why this device stops", { told, of: peers.length });
  return { told, of: peers.length };
}
