import { afterAll, describe, expect, test } from "bun:test";
import { type DecodedChangeset, decodeChangeset, signChangeset } from "../../protocol/changeset.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { makeProof } from "../../protocol/equivocation.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { BuckyError } from "../errors.ts";
import type { Peer } from "../node/peers.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  testZone,
} from "../state/test-db.ts";
import { keepProof } from "../sync/equivocation.ts";
import { type AskingZone, askZoneHead } from "./zone-head.ts";

afterAll(removeTestDatabases);

const laptopKey = signingKeyFromSeed(seed(91));
const tabletKey = signingKeyFromSeed(seed(92));
const tablet = { id: deviceIdFromPublicKey(tabletKey.publicKey), name: "tablet" };

/** Device a (asking) holds two of the tablet's changesets; the laptop is a peer it reaches. */
function zone(): AskingZone {
  const a = openTestNode(90);
  const as = (name: string, key = a.key) => ({ zone: testZone.id, name, key, seal: a.seal });
  appendLocalChangeset(
    a.db,
    as("a"),
    foundingOps({ a: a.key, laptop: laptopKey, tablet: tabletKey }),
    1000,
  );
  for (const at of [2000, 3000])
    appendLocalChangeset(a.db, as("tablet", tabletKey), [{ key: "apps/x", value: `${at}` }], at);
  const node = testNodeContext(a, "a");
  const laptop = { id: deviceIdFromPublicKey(laptopKey.publicKey), name: "laptop" } as Peer;
  // The tablet answers too, but is never asked: it is the device no longer trusted.
  const itself = { ...tablet } as Peer;
  return Object.assign(Object.create(node) as AskingZone, { peers: () => [laptop, itself] });
}

describe("the zone's head of a device", () => {
  test("a member that holds more than could be fetched here makes the revocation wait", async () => {
    const asking = askZoneHead(zone(), tablet, async () => new Map([[tablet.id, 5]]));
    const error = await asking.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuckyError);
    expect([(error as BuckyError).code, (error as BuckyError).message]).toEqual([
      "E_UNAVAILABLE",
      "laptop holds tablet's changes up to #5, and this device could fetch only up to #2 now: revoking here would drop the rest everywhere",
    ]);
  });

  test("a member that sends what it holds meanwhile, its pull answered without it, is asked again", async () => {
    const asking = zone();
    const sealed = asking as unknown as {
      seal: Parameters<typeof appendLocalChangeset>[1]["seal"];
    };
    let pulls = 0;
    const head = await askZoneHead(asking, tablet, async () => {
      pulls += 1;
      // Its own sending of #3 arrives after its first answer (which carried no pages).
      if (pulls === 2)
        appendLocalChangeset(
          asking.db,
          { zone: testZone.id, name: "tablet", key: tabletKey, seal: sealed.seal },
          [{ key: "apps/x", value: "4000" }],
          4000,
        );
      return new Map([[tablet.id, 3]]);
    });
    expect({ seq: head.seq, from: head.from, pulls }).toEqual({ seq: 3, from: "laptop", pulls: 2 });
  });

  test("of a device proven to equivocate: what it signed before the fork, whatever a member holds past it", async () => {
    const asking = zone();
    const held = asking.db.$client
      .query<{ bytes: Uint8Array }, [string]>(
        "SELECT bytes FROM changesets WHERE author = ? ORDER BY seq",
      )
      .all(tablet.id)
      .map((row) => decodeChangeset(new Uint8Array(row.bytes)));
    const [first, second] = held as [DecodedChangeset, DecodedChangeset];
    const twin = signChangeset(
      { ...first, seq: 2, prev: first.hash, ops: [{ key: "apps/x", value: '"twin"' }] },
      tabletKey,
    );
    keepProof(asking.db, makeProof(second.bytes, twin.bytes), 0);
    // The laptop holds the other history, longer: it cannot be pulled, and is not waited
    // for. The revocation keeps what the device signed before the fork and drops both
    // histories past it (this device's #2 and the laptop's) on every device alike.
    const head = await askZoneHead(asking, tablet, async () => new Map([[tablet.id, 5]]));
    expect([head.seq, head.asked]).toEqual([1, [{ device: "laptop", head: 5 }]]);
  });

  test("of a device that forked at its first changeset: what this device holds, never nothing", async () => {
    const asking = zone();
    const [first] = asking.db.$client
      .query<{ bytes: Uint8Array }, [string]>(
        "SELECT bytes FROM changesets WHERE author = ? ORDER BY seq",
      )
      .all(tablet.id)
      .map((row) => decodeChangeset(new Uint8Array(row.bytes))) as [DecodedChangeset];
    const twin = signChangeset({ ...first, ops: [{ key: "apps/x", value: '"twin"' }] }, tabletKey);
    keepProof(asking.db, makeProof(first.bytes, twin.bytes), 0);
    // Keeping none of it would drop, on every device, what it wrote first (for a founder,
    // the zone's founding changeset, and every device's membership with it).
    const head = await askZoneHead(asking, tablet, async () => new Map([[tablet.id, 5]]));
    expect(head.seq).toBe(2);
  });

  test("members behind, silent or unreachable: this device's head, and who was not asked", async () => {
    const asked: string[] = [];
    const behind = await askZoneHead(zone(), tablet, async (peer) => {
      asked.push(peer.name);
      return new Map([[tablet.id, 1]]);
    });
    expect(asked).toEqual(["laptop"]);
    expect(behind).toEqual({
      seq: 2,
      from: "a",
      asked: [{ device: "laptop", head: 1 }],
      notAsked: [],
    });
    const silent = await askZoneHead(zone(), tablet, () => new Promise(() => {}), 50);
    expect(silent.notAsked).toEqual([{ device: "laptop", why: "it did not answer within 50 ms" }]);
    const down = await askZoneHead(zone(), tablet, async () => {
      throw new BuckyError("E_UNAVAILABLE", "laptop is not answering");
    });
    expect([down.seq, down.notAsked]).toEqual([
      2,
      [{ device: "laptop", why: "laptop is not answering" }],
    ]);
  });
});
