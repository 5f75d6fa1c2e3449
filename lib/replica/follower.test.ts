/**
 * A standby following its holder: what it does when the holder answers that it holds no
 * such app's data (a holder restarting, before it takes the app up again; an older one).
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { createLog } from "../log.ts";
import type { PeerClient } from "../node/peer-client.ts";
import type { Peer } from "../node/peers.ts";
import { ReplicaFollower } from "./follower.ts";
import type { ReplicaDb } from "./replica-db.ts";

const holder: Peer = {
  id: "dholder" as DeviceId,
  name: "nas",
  addresses: ["https://127.0.0.1:1"],
  certPem: "",
};

let follower: ReplicaFollower | undefined;
afterEach(async () => {
  await follower?.stop();
  follower = undefined;
});

describe("a standby whose holder does not hold the app's data", () => {
  test("waits before it asks again, as for a holder that does not answer, and says why", async () => {
    // The peer client's get: a 404 (the holder's "this device does not hold notes's data",
    // or an older holder's unknown route) is undefined.
    const askedAtMs: number[] = [];
    let askedTwice: () => void = () => {};
    const twice = new Promise<void>((resolve) => {
      askedTwice = resolve;
    });
    const client = {
      async get() {
        // An answer comes over the network: never in the same turn of the event loop.
        await new Promise((resolve) => setImmediate(resolve));
        askedAtMs.push(performance.now());
        if (askedAtMs.length === 2) askedTwice();
        return undefined;
      },
    } as unknown as PeerClient;
    const warnings: string[] = [];
    const log = createLog({ level: "silent" });
    follower = new ReplicaFollower({
      app: "notes",
      db: { head: () => undefined } as unknown as ReplicaDb,
      holder: () => holder,
      client,
      log: { ...log, warn: (_message, fields) => warnings.push(String(fields?.error)) },
      onCopy: () => {},
    });
    follower.start();
    await twice;
    const [first, second] = askedAtMs as [number, number];
    // The first wait after a failure is half a second (RETRY_FIRST_MS).
    expect(second - first).toBeGreaterThanOrEqual(450);
    expect(warnings).toEqual(["nas does not hold notes's data (yet)"]);
  });
});
