/**
 * Acting as a device of a zone from inside a test: its real key (read from its home),
 * signed requests to another device's daemon (or tagged with the key the two share:
 * request-auth v2), and changesets crafted by hand, to show
 * what a daemon does with forged or tampered input.
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { RequestKeys } from "../lib/identity/request-keys.ts";
import { createLog } from "../lib/log.ts";
import { PeerClient } from "../lib/node/peer-client.ts";
import { MemoryContacts, type Peer } from "../lib/node/peers.ts";
import { type Changeset, decodeChangeset, type Op, signChangeset } from "../protocol/changeset.ts";
import { type SigningKey, signingKeyFromSeed } from "../protocol/ed25519.ts";
import { type Hlc, nextHlc } from "../protocol/hlc.ts";
import { type DeviceId, deviceIdFromPublicKey, type ZoneId } from "../protocol/ids.ts";
import { PairKeys } from "../protocol/pair-key.ts";
import { type Ack, decodeAck, encodeEntries } from "../protocol/sync-messages.ts";
import { buckyJson, type Daemon } from "./harness.ts";

/** How a member's requests say who made them: signed (v1), or tagged (v2). */
export type RequestAuth = "v1" | "v2";

export interface Member {
  readonly key: SigningKey;
  readonly id: DeviceId;
  readonly zone: ZoneId;
  /** Its half of the keys it shares with each device (request-auth v2). */
  readonly pairKeys: PairKeys;
  /** The next seq and the prev hash of its feed: its database's, then what the test accepted. */
  next(): { seq: number; prev: Uint8Array | null };
  /** Signs the next changeset of its feed (fields can be overridden to forge one). */
  changeset(ops: Op[], overrides?: Partial<Parameters<typeof signChangeset>[0]>): Changeset;
  /** Records that `changeset` was applied, so the next one chains to it. */
  accepted(changeset: Changeset): void;
  /**
   * POSTs to `daemon` (or to a peer described by hand) as this member, correctly signed
   * (v1), or tagged with the pair key (v2).
   */
  post(
    daemon: Daemon | Peer,
    path: string,
    body: Uint8Array,
    auth?: RequestAuth,
  ): Promise<Uint8Array>;
  push(daemon: Daemon, entries: Uint8Array[], auth?: RequestAuth): Promise<Ack>;
  /** GETs `path` of `app` through `daemon`'s ingress, as a gateway does: its answer, unread. */
  ingress(daemon: Daemon, app: string, path: string, auth?: RequestAuth): Promise<Response>;
}

export async function actAs(home: string): Promise<Member> {
  const seed = readKeyFile(
    join(home, "identity", "device.key"),
    "device",
    createLog({ level: "silent" }),
  );
  const key = signingKeyFromSeed(seed);
  const status = await buckyJson<{ zone: { id: ZoneId } }>(["zone", "show", "--home", home]);
  const id = deviceIdFromPublicKey(key.publicKey);
  const client = new PeerClient(key, new MemoryContacts(), Date.now);
  const pairKeys = new PairKeys(seed, id);
  const tagging = new PeerClient(
    key,
    new MemoryContacts(),
    Date.now,
    undefined,
    new RequestKeys(pairKeys),
  );
  const db = new Database(join(home, "state.db"), { readonly: true });
  const last = db
    .query<{ seq: number; hash: Uint8Array; bytes: Uint8Array }, [string]>(
      "SELECT seq, hash, bytes FROM changesets WHERE author = ? ORDER BY seq DESC LIMIT 1",
    )
    .get(id);
  db.close();
  let head: { seq: number; prev: Uint8Array | null } = {
    seq: (last?.seq ?? 0) + 1,
    prev: last ? new Uint8Array(last.hash) : null,
  };
  // The device's clock moves on from its last changeset's, as a device's does: every peer
  // refuses a changeset dated at or before its author's previous one.
  let clock: Hlc | undefined = last ? decodeChangeset(new Uint8Array(last.bytes)).hlc : undefined;
  const member: Member = {
    key,
    id,
    zone: status.zone.id,
    pairKeys,
    next: () => head,
    changeset(ops, overrides = {}) {
      clock = nextHlc(clock, Date.now());
      return signChangeset(
        {
          zone: member.zone,
          author: id,
          seq: head.seq,
          prev: head.prev,
          hlc: clock,
          ops,
          ...overrides,
        },
        key,
      );
    },
    accepted(changeset) {
      head = { seq: changeset.seq + 1, prev: changeset.hash };
    },
    async post(target, path, body, auth = "v1") {
      const peer = "home" in target ? await peerOf(target) : target;
      // A peer that takes v2 is tagged by a client with pair keys, and signed by one without.
      if (auth === "v1") return client.post(peer, path, body);
      return tagging.post({ ...peer, requestAuth: 2 }, path, body);
    },
    async ingress(daemon, app, path, auth = "v1") {
      const peer = await peerOf(daemon);
      return (auth === "v1" ? client : tagging).forward(
        auth === "v1" ? peer : { ...peer, requestAuth: 2 },
        `/v1/ingress/${app}${path}`,
        { method: "GET", headers: new Headers(), body: null, signal: AbortSignal.timeout(10_000) },
      );
    },
    async push(daemon, entries, auth = "v1") {
      return decodeAck(
        await member.post(
          daemon,
          "/v1/sync/push",
          encodeEntries({ have: new Map(), entries, more: false }),
          auth,
        ),
      );
    },
  };
  return member;
}

/** The daemon as a peer: its device id, and the certificate it serves. */
export async function peerOf(daemon: Daemon): Promise<Peer> {
  const status = await buckyJson<{ device: { id: DeviceId; name: string } }>([
    "status",
    "--home",
    daemon.home,
  ]);
  const address = daemon.addresses[0] as string;
  const certPem = await (
    await fetch(`${address}/v1/cert`, { tls: { rejectUnauthorized: false } })
  ).text();
  return { id: status.device.id, name: status.device.name, addresses: [address], certPem };
}
