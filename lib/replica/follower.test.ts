/**
 * A standby following its holder: what it does when the holder answers that it holds no
 * such app's data (a holder restarting, before it takes the app up again; an older one),
 * and when it is stopped half-way through fetching a snapshot (the app's spec gone, the
 * holder changed, the daemon stopping).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeTree, encodeTree } from "../../protocol/backup/formats.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { decodeBlobRequest, encodeBlobAnswer } from "../../protocol/replica.ts";
import { createLog } from "../log.ts";
import type { PeerClient } from "../node/peer-client.ts";
import type { Peer } from "../node/peers.ts";
import { ReplicaFollower, VERIFY_EVERY_MS } from "./follower.ts";
import { blobId, ReplicaDb, type ReplicaHead } from "./replica-db.ts";
import { takeSnapshot } from "./snapshot.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-follower-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

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

/**
 * Starts following `holder` through `client`, with no copy yet: the errors it warns of, as
 * they come.
 */
function followWith(client: PeerClient): string[] {
  const warnings: string[] = [];
  const log = createLog({ level: "silent" });
  follower = new ReplicaFollower({
    app: "notes",
    db: { head: () => undefined } as unknown as ReplicaDb,
    holder: () => holder,
    client,
    log: { ...log, warn: (_message, fields) => warnings.push(String(fields?.error)) },
    onCopy: () => {},
    onVerified: () => {},
    verifyEveryMs: VERIFY_EVERY_MS,
    now: Date.now,
  });
  follower.start();
  return warnings;
}

/**
 * Follows a holder whose every answer to "what is newer" is `answer`, until it is asked a
 * second time: how long the standby waited between the two asks, and what it warned of.
 */
async function askedTwiceAnswering(
  answer: Uint8Array | undefined,
): Promise<{ gapMs: number; warnings: string[] }> {
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
      return answer;
    },
  } as unknown as PeerClient;
  const warnings = followWith(client);
  await twice;
  const [first, second] = askedAtMs as [number, number];
  return { gapMs: second - first, warnings };
}

describe("a standby whose holder does not hold the app's data", () => {
  test("waits before it asks again, as for a holder that does not answer, and says why", async () => {
    // The peer client's get: a 404 (the holder's "this device does not hold notes's data",
    // or an older holder's unknown route) is undefined.
    const { gapMs, warnings } = await askedTwiceAnswering(undefined);
    // The first wait after a failure is half a second (RETRY_FIRST_MS).
    expect(gapMs).toBeGreaterThanOrEqual(450);
    expect(warnings).toEqual(["nas does not hold notes's data (yet)"]);
  });
});

describe("a standby whose holder sends what is not a head, or whose disk is full", () => {
  test("says so and asks again later: it does not end the daemon", async () => {
    let asked = 0;
    let askedThrice: () => void = () => {};
    const thrice = new Promise<void>((resolve) => {
      askedThrice = resolve;
    });
    const full = Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    const client = {
      async get() {
        await new Promise((resolve) => setImmediate(resolve));
        asked++;
        if (asked === 1) return new TextEncoder().encode("<html>not a head</html>");
        if (asked === 2) throw full;
        askedThrice();
        return undefined;
      },
    } as unknown as PeerClient;
    const warnings = followWith(client);
    await thrice;
    expect(warnings).toEqual(["nas's head of notes is not JSON", "database or disk is full"]);
  });

  test("a head of another holder's, answered at once: waited out, not asked again at once", async () => {
    const { gapMs, warnings } = await askedTwiceAnswering(
      new TextEncoder().encode(
        JSON.stringify({
          ...{ app: "notes", epoch: 1, seq: 1, holder: "laptop", root: "a".repeat(64) },
          ...{ content: "c".repeat(64), at: 1, files: 0, bytes: 0, addedBytes: 0, final: false },
        }),
      ),
    );
    expect(gapMs).toBeGreaterThanOrEqual(450);
    expect(warnings).toEqual(["nas answered with a head of notes that is not its newer one"]);
  });
});

/** Every blob the snapshot at `root` needs is in `db`. */
function whole(db: ReplicaDb, root: string): boolean {
  if (!db.has(root)) return false;
  for (const node of decodeTree(db.get(root) as Uint8Array)) {
    if (node.type === "dir" && !whole(db, node.subtree)) return false;
    if (node.type === "file" && !node.content.every((id) => db.has(id))) return false;
  }
  return true;
}

describe("a standby stopped while it fetches a snapshot", () => {
  test("never takes the part it fetched for a whole snapshot", async () => {
    const data = join(scratch, "data");
    mkdirSync(join(data, "db"), { recursive: true });
    for (const name of ["a", "b", "c"])
      writeFileSync(join(data, "db", name), `${name}\n`.repeat(99));
    const source = new ReplicaDb(join(scratch, "holder", "replica.db"));
    const head: ReplicaHead = await takeSnapshot({
      db: source,
      dataDir: data,
      cacheDir: join(scratch, "holder", "cache"),
      head: { app: "notes", epoch: 1, seq: 1, holder: "nas", at: 1000, final: false },
    });
    source.setHead(head);
    /** Follows until the `stopAt`th request for blobs, stopped as it is answered; the copy's head then. */
    const followOnce = async (stopAt: number) => {
      const db = new ReplicaDb(join(scratch, `standby-${stopAt}`, "replica.db"));
      let asked = 0;
      let done: () => void = () => {};
      const finished = new Promise<void>((resolve) => {
        done = resolve;
      });
      const client = {
        async get() {
          await new Promise((resolve) => setImmediate(resolve));
          return new TextEncoder().encode(JSON.stringify(head));
        },
        async post(_peer: Peer, path: string, body: Uint8Array) {
          await new Promise((resolve) => setImmediate(resolve));
          if (path.endsWith("/ack")) {
            done();
            return new Uint8Array();
          }
          asked++;
          // The holder answers in order, as many as fit: here one blob at a time.
          const [first] = decodeBlobRequest(body) as [string];
          const answer = encodeBlobAnswer([source.get(first) ?? null]);
          if (asked === stopAt) {
            void follower?.stop().then(done);
          }
          return answer;
        },
      } as unknown as PeerClient;
      follower = new ReplicaFollower({
        app: "notes",
        db,
        holder: () => holder,
        client,
        log: createLog({ level: "silent" }),
        onCopy: () => {},
        onVerified: () => {},
        verifyEveryMs: VERIFY_EVERY_MS,
        now: Date.now,
      });
      follower.start();
      await finished;
      await follower.stop();
      follower = undefined;
      const copy = db.head();
      const answer = { requests: asked, copy, whole: copy ? whole(db, copy.root) : undefined };
      db.close();
      return answer;
    };
    // Followed to the end: how many requests a whole snapshot takes, one blob each.
    const all = await followOnce(0);
    expect(all.copy?.root).toBe(head.root);
    expect(all.whole).toBe(true);
    expect(all.requests).toBeGreaterThan(3);
    // Stopped as any one but the last is answered: no head at all (it had none before).
    for (let stopAt = 1; stopAt < all.requests; stopAt++) {
      const stopped = await followOnce(stopAt);
      expect({ stopAt, copy: stopped.copy?.root }).toEqual({ stopAt, copy: undefined });
    }
    source.close();
  });
});

describe("a standby whose copy of a tree is damaged on its disk", () => {
  test("drops it and fetches it again with the holder's next snapshot, which shares it", async () => {
    const data = join(scratch, "damaged-data");
    mkdirSync(join(data, "db"), { recursive: true });
    writeFileSync(join(data, "db", "a"), "a\n".repeat(99));
    const source = new ReplicaDb(join(scratch, "damaged-holder", "replica.db"));
    const snapshot = (seq: number) =>
      takeSnapshot({
        db: source,
        dataDir: data,
        cacheDir: join(scratch, "damaged-holder", "cache"),
        head: { app: "notes", epoch: 1, seq, holder: "nas", at: 1000 * seq, final: false },
      });
    const first = await snapshot(1);
    const db = new ReplicaDb(join(scratch, "damaged-standby", "replica.db"));
    // The standby had the first snapshot whole; then its disk damaged the tree of db/.
    const sub = decodeTree(source.get(first.root) as Uint8Array).find((n) => n.name === "data");
    const dataTree = sub?.type === "dir" ? sub.subtree : "";
    const dbNode = decodeTree(source.get(dataTree) as Uint8Array).find((n) => n.name === "db");
    const damagedId = dbNode?.type === "dir" ? dbNode.subtree : "";
    for (const id of source.reachable(first.root)) db.put(id, source.get(id) as Uint8Array);
    db.setHead(first);
    const damaged = new Uint8Array(source.get(damagedId) as Uint8Array);
    damaged[0] = (damaged[0] as number) ^ 0xff;
    db.drop(damagedId);
    db.put(damagedId, damaged);
    // The holder's next snapshot: a file added beside db/, whose tree stays as it was.
    writeFileSync(join(data, "b"), "b\n");
    const second = await snapshot(2);
    expect(source.reachable(second.root).has(damagedId)).toBe(true);
    let acked: () => void = () => {};
    const ack = new Promise<void>((resolve) => {
      acked = resolve;
    });
    const client = {
      async get() {
        await new Promise((resolve) => setImmediate(resolve));
        return new TextEncoder().encode(JSON.stringify(second));
      },
      async post(_peer: Peer, path: string, body: Uint8Array) {
        await new Promise((resolve) => setImmediate(resolve));
        if (path.endsWith("/ack")) {
          acked();
          return new Uint8Array();
        }
        return encodeBlobAnswer(decodeBlobRequest(body).map((id) => source.get(id) ?? null));
      },
    } as unknown as PeerClient;
    follower = new ReplicaFollower({
      app: "notes",
      db,
      holder: () => holder,
      client,
      log: createLog({ level: "silent" }),
      onCopy: () => {},
      onVerified: () => {},
      verifyEveryMs: VERIFY_EVERY_MS,
      now: Date.now,
    });
    follower.start();
    await ack;
    await follower.stop();
    follower = undefined;
    expect(db.head()?.seq).toBe(2);
    expect(db.get(damagedId)).toEqual(source.get(damagedId) as Uint8Array);
    db.close();
    source.close();
  });
});

describe("a standby following a hostile holder", () => {
  test("walks and asks for each distinct tree once, however many paths lead to it", async () => {
    // Four levels, each a tree of ten directories that are all the level below: 5 trees,
    // 11,111 paths to walk if each path is walked.
    const blobs = new Map<string, Uint8Array>();
    let below = encodeTree([]);
    blobs.set(blobId(below), below);
    for (let level = 0; level < 4; level++) {
      const subtree = blobId(below);
      below = encodeTree(
        Array.from({ length: 10 }, (_, i) => ({
          type: "dir" as const,
          name: `d${i}`,
          mode: 0o755,
          mtimeNs: "0",
          subtree,
        })),
      );
      blobs.set(blobId(below), below);
    }
    const root = blobId(below);
    let asked = 0;
    let copied: () => void = () => {};
    const whole = new Promise<void>((resolve) => {
      copied = resolve;
    });
    let headSent = false;
    const client = {
      async get() {
        await new Promise((resolve) => setImmediate(resolve));
        if (headSent) return undefined;
        headSent = true;
        return new TextEncoder().encode(
          JSON.stringify({
            ...{
              app: "notes",
              epoch: 1,
              seq: 1,
              holder: "nas",
              root,
              content: "c".repeat(64),
              at: 1,
            },
            ...{ files: 0, bytes: 0, addedBytes: 0, final: false },
          }),
        );
      },
      async post(_peer: Peer, path: string, body: Uint8Array) {
        if (path.endsWith("/ack")) return new Uint8Array();
        const ids = decodeBlobRequest(body);
        asked += ids.length;
        return encodeBlobAnswer(ids.map((id) => blobs.get(id) ?? null));
      },
    } as unknown as PeerClient;
    const db = new ReplicaDb(join(scratch, "hostile.db"));
    follower = new ReplicaFollower({
      app: "notes",
      db,
      holder: () => holder,
      client,
      log: createLog({ level: "silent" }),
      onCopy: () => copied(),
      onVerified: () => {},
      verifyEveryMs: VERIFY_EVERY_MS,
      now: Date.now,
    });
    follower.start();
    await whole;
    await follower.stop();
    follower = undefined;
    expect([asked, db.head()?.root]).toEqual([blobs.size, root]);
    db.close();
  });
});
