/**
 * The sync loop against a peer that refuses this device's requests (a 4xx: a newer
 * peer's code, E_PERMISSION, E_TOO_LARGE): waited out as one that does not answer, said
 * once, and in this device's facts while it lasts; asked every round again once it
 * answers. One that fails them (a 5xx: its disk is full) is waited out alike, but does not
 * refuse: this device's facts do not say it does; nor does an answer this device finds wrong
 * (a checkpoint offered that does not check out here). A real peer over TLS on loopback,
 * counting what it is asked.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { decodeChangeset } from "../../protocol/changeset.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import {
  decodeEntries,
  decodePullRequest,
  encodeAck,
  encodeEntries,
  type VersionVector,
} from "../../protocol/sync-messages.ts";
import { certificatePem, deviceCertificate, privateKeyPem } from "../../protocol/tls-cert.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, seed, testZone } from "../state/test-db.ts";
import { entriesMissingFrom, versionVector } from "../sync/exchange.ts";
import { ingestEntries } from "../sync/ingest.ts";
import type { NodeContext } from "./node-context.ts";
import { SyncLoop } from "./sync-loop.ts";
import { testNodeContext } from "./test-node-context.ts";

const quiet = createLog({ level: "silent" });
const ROUND_MS = 5;

/** The peer "b": refuses every request (or fails it) until told to answer. */
const b = openTestNode(51);
let answer:
  | "refuse"
  | "fail"
  | "offer"
  | "sync"
  | "no-earlier"
  | "trickle"
  | "hold"
  | "take"
  | "hold-pulls"
  | "own-writes" = "refuse";
let asked = 0;
/** The paths b was asked, in order. */
const paths: string[] = [];
/** How many changesets each push to b carried, in order. */
const pushed: number[] = [];
/** What each push to b said its sender holds, in order. */
const pushedHave: VersionVector[] = [];
/**
 * "take": what b holds, as it says in its answers; each changeset pushed to it is added,
 * and named in `taken` ("author/seq"), as often as it came.
 */
let holding = new Map<DeviceId, number>();
const taken: string[] = [];
/** "hold": b answers nothing until this is called. */
let release = () => {};
let released = Promise.resolve();
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  tls: { cert: certificatePem(deviceCertificate(b.key)), key: privateKeyPem(seed(51)) },
  async fetch(request) {
    const body = new Uint8Array(await request.arrayBuffer());
    asked++;
    const path = new URL(request.url).pathname;
    paths.push(path);
    if (path === "/v1/sync/push") {
      pushed.push(decodeEntries(body).entries.length);
      pushedHave.push(decodeEntries(body).have);
    }
    // "own-writes": b answers a pull with what the asker lacks of its own, and takes pushes.
    if (answer === "own-writes")
      return new Response(
        path === "/v1/sync/pull"
          ? encodeEntries(entriesMissingFrom(b.db, decodePullRequest(body).have))
          : encodeAck({ have: versionVector(b.db), applied: 0, rejected: 0 }),
      );
    // "hold": every answer waits until the test lets them go, then b takes what came.
    // "hold-pulls": only its answers to pulls wait; pushes it takes as "take" does.
    if (answer === "hold" || (answer === "hold-pulls" && path === "/v1/sync/pull")) await released;
    // "take": it takes every changeset pushed to it (unchecked), and says what it holds.
    if (answer === "take" || answer === "hold-pulls") {
      if (path === "/v1/sync/push")
        for (const entry of decodeEntries(body).entries) {
          const { author, seq } = decodeChangeset(entry);
          taken.push(`${author}/${seq}`);
          if ((holding.get(author) ?? 0) < seq) holding.set(author, seq);
        }
      const have: VersionVector = new Map(holding);
      return new Response(
        path === "/v1/sync/pull"
          ? encodeEntries({ have, entries: [], more: false })
          : encodeAck({ have, applied: 1, rejected: 0 }),
      );
    }
    // "no-earlier": it syncs, but fails the search for a fork (its disk, a bug of its own).
    if (answer === "no-earlier" && path === "/v1/sync/earlier")
      return Response.json(
        { error: { code: "E_IO", message: "the disk is full: bucky cannot save anything to it" } },
        { status: 500 },
      );
    // "trickle": an answer that never ends, 16 KiB a second: enough to keep a call going.
    if (answer === "trickle")
      return new Response(
        new ReadableStream({
          async pull(controller) {
            await Bun.sleep(1_000);
            controller.enqueue(new Uint8Array(16 * 1024));
          },
        }),
      );
    if (answer === "refuse")
      return Response.json(
        { error: { code: "E_PERMISSION", message: "this device is not a member here" } },
        { status: 403 },
      );
    if (answer === "fail")
      return Response.json(
        { error: { code: "E_IO", message: "the disk is full: bucky cannot save anything to it" } },
        { status: 500 },
      );
    const have = new Map();
    // "offer": a checkpoint to fetch first, which the asker finds does not check out.
    const checkpoint = answer === "offer" ? { checkpoint: new Uint8Array([1]) } : {};
    return new Response(
      path === "/v1/sync/pull"
        ? encodeEntries({ have, entries: [], more: false, ...checkpoint })
        : encodeAck({ have, applied: 0, rejected: 0 }),
    );
  },
});
afterAll(() => server.stop(true));

/** The device "a" running the loop, in a zone where b published where it listens. */
function nodeA(lines: string[]): NodeContext {
  const a = openTestNode(50);
  const founding = foundingOps({ a: a.key, b: b.key });
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
    founding,
    1000,
  );
  const ingestAll = (from: typeof a, to: typeof a) =>
    ingestEntries(to.db, entriesMissingFrom(from.db, versionVector(to.db)).entries, {
      zone: testZone.id,
      nowMs: Date.now(),
      log: quiet,
      source: "test",
      seal: to.seal,
    });
  ingestAll(a, b);
  appendLocalChangeset(
    b.db,
    { zone: testZone.id, name: "b", key: b.key, seal: b.seal },
    [
      {
        key: "devices/b/info",
        value: JSON.stringify({
          addrs: [`https://127.0.0.1:${server.port}`],
          cert: certificatePem(deviceCertificate(b.key)),
          version: "0.0.0-test",
        }),
      },
    ],
    2000,
  );
  ingestAll(b, a);
  return testNodeContext(a, "a", {
    log: createLog({ level: "info", write: (line) => lines.push(line) }),
    now: () => Date.now(),
  });
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

/** How many pulls and pushes of sync are among `asked`. */
function countOf(asked: readonly string[]): { pulls: number; pushes: number } {
  const count = (path: string) => asked.filter((one) => one === path).length;
  return { pulls: count("/v1/sync/pull"), pushes: count("/v1/sync/push") };
}

/** How many rounds the loop has gone, counted by its reading of its peers (once a round). */
function countRounds(node: NodeContext): { readonly count: number } {
  const counter = { count: 0 };
  const peers = node.peers.bind(node);
  node.peers = () => {
    counter.count++;
    return peers();
  };
  return counter;
}

describe("the sync loop, with a peer that refuses", () => {
  test("waits it out and says it once, then asks every round again when it answers", async () => {
    const lines: string[] = [];
    const node = nodeA(lines);
    expect(node.peers().map((peer) => peer.name)).toEqual(["b"]);
    const rounds = countRounds(node);
    const bugs: unknown[] = [];
    let refusalsChanged = 0;
    const sync = new SyncLoop(node, ROUND_MS, (error) => bugs.push(error), {
      onRefusals: () => refusalsChanged++,
      // The shortest waits the jitter draws: the most requests a backoff can send.
      random: () => 0,
    });
    sync.start();
    try {
      await until("60 rounds", () => rounds.count >= 60);
      const refusedRounds = rounds.count;
      const refused = asked;
      // Every round asked it before: 60 requests and 60 warnings.
      expect(refused).toBeGreaterThan(0);
      expect(refused).toBeLessThan(16);
      const warnings = lines.filter((line) => line.includes("refuses this device's sync"));
      expect(warnings).toHaveLength(1);
      expect(lines.filter((line) => line.includes("refused")).length).toBe(1);
      expect(refusalsChanged).toBe(1);
      const refusals = sync.refusals();
      expect(Object.keys(refusals)).toEqual(["b"]);
      expect(refusals.b?.code).toBe("E_PERMISSION");
      expect(refusals.b?.message).toContain('"this device is not a member here"');
      expect(Number.isNaN(Date.parse(refusals.b?.since ?? ""))).toBe(false);

      answer = "sync";
      await until("the loop to hear it answer", () =>
        lines.some((line) => line.includes("b takes this device's sync requests again")),
      );
      expect(sync.refusals()).toEqual({});
      expect(refusalsChanged).toBe(2);
      // Asked every round again: as many requests as rounds, or near (a pull and a push each).
      const roundsThen = rounds.count;
      const askedThen = asked;
      await until("20 more rounds", () => rounds.count >= roundsThen + 20);
      expect(asked - askedThen).toBeGreaterThanOrEqual(15);
      expect(refusedRounds).toBeGreaterThanOrEqual(60);
      expect(bugs).toEqual([]);
    } finally {
      await sync.stop();
    }
  });

  /**
   * Runs the loop against b answering `how` until b is asked twice, checks it was waited out
   * without being said to refuse, then runs `after`; `node` is changed first by `prepare`.
   */
  async function notARefusal(
    how: typeof answer,
    prepare: (node: NodeContext) => void,
    after: (sync: SyncLoop, lines: string[], refusalsChanged: () => number) => Promise<void>,
  ): Promise<void> {
    answer = how;
    const lines: string[] = [];
    const node = nodeA(lines);
    prepare(node);
    let refusalsChanged = 0;
    const sync = new SyncLoop(node, ROUND_MS, () => {}, {
      onRefusals: () => refusalsChanged++,
      random: () => 0,
    });
    const askedBefore = asked;
    sync.start();
    try {
      await until("b to be asked twice", () => asked >= askedBefore + 2);
      expect({ refusals: sync.refusals(), refusalsChanged }).toEqual({
        refusals: {},
        refusalsChanged: 0,
      });
      expect(lines.filter((line) => line.includes("b "))).toEqual([
        expect.stringContaining("sync with b failed; asking less often"),
      ]);
      await after(sync, lines, () => refusalsChanged);
    } finally {
      await sync.stop();
      answer = "refuse";
    }
  }

  test("one that fails them (a 5xx) is waited out too, but not said to refuse", async () => {
    await notARefusal(
      "fail",
      () => {},
      async (sync, lines, refusalsChanged) => {
        answer = "sync";
        await until("the loop to hear it answer", () =>
          lines.some((line) => line.includes("b is answering again")),
        );
        expect({ refusals: sync.refusals(), refusalsChanged: refusalsChanged() }).toEqual({
          refusals: {},
          refusalsChanged: 0,
        });
      },
    );
  });

  test("an error of this device's own while it takes in the peer's answer is no refusal", async () => {
    await notARefusal(
      "offer",
      (node) => {
        // The checkpoint b offers does not check out here: this device's finding, not b's act.
        node.takeCheckpoint = async () => {
          throw new BuckyError("E_INTEGRITY", "the checkpoint b offered does not check out");
        };
      },
      async () => {},
    );
  });

  test("a fork search that fails holds back nothing else of the exchange, and is asked again", async () => {
    answer = "no-earlier";
    const node = nodeA([]);
    // A broken chain of b's changesets met with b: this device looks for the fork with it.
    const member = node.membership().byName.get("b");
    if (!member) throw new Error("b is no member");
    node.brokenChains.note("b", member, 5, Date.now());
    const sync = new SyncLoop(node, ROUND_MS, () => {}, { random: () => 0 });
    const from = paths.length;
    sync.start();
    try {
      // b says it holds nothing: this device pushes what it lacks, whatever the search did.
      await until(
        "the search to be asked twice",
        () => paths.slice(from).filter((path) => path === "/v1/sync/earlier").length >= 2,
      );
      const asked = paths.slice(from);
      expect(asked.slice(0, 3)).toEqual(["/v1/sync/pull", "/v1/sync/push", "/v1/sync/earlier"]);
      expect(node.brokenChains.notes(node.membership(), "a")).toEqual([
        { device: "b", peer: "b", seq: 5, seenBy: "a" },
      ]);
    } finally {
      await sync.stop();
      answer = "refuse";
    }
  });
});

describe("the sync loop, with no peer", () => {
  test("waits a long round, and the change that brings it a peer wakes it at once", async () => {
    answer = "sync";
    const a = openTestNode(50);
    const alone = { zone: testZone.id, name: "a", key: a.key, seal: a.seal };
    appendLocalChangeset(a.db, alone, foundingOps({ a: a.key }), 1000);
    const node = testNodeContext(a, "a", { now: () => Date.now() });
    const rounds = countRounds(node);
    const sync = new SyncLoop(node, ROUND_MS, () => {}, { random: () => 0 });
    const askedBefore = asked;
    sync.start();
    try {
      await until("the first round", () => rounds.count >= 1);
      // An observation window of twenty rounds' time: a loop with no peer does not go round
      // (its one round read its peers when it started and when it ended).
      await Bun.sleep(ROUND_MS * 20);
      expect(rounds.count).toBe(2);
      // b is admitted here, then says where it listens: the loop calls it, not a minute later.
      node.write(foundingOps({ b: b.key }).filter((op) => op.key === "devices/b/doc"));
      const info = {
        key: "devices/b/info",
        value: JSON.stringify({
          addrs: [`https://127.0.0.1:${server.port}`],
          cert: certificatePem(deviceCertificate(b.key)),
          version: "0.0.0-test",
        }),
      };
      const fresh = openTestNode(51);
      const ownFeed = { zone: testZone.id, name: "b", key: fresh.key, seal: fresh.seal };
      appendLocalChangeset(fresh.db, ownFeed, [info], 2000);
      await node.ingest(entriesMissingFrom(fresh.db, versionVector(a.db)).entries, "test");
      expect(node.peers().map((peer) => peer.name)).toEqual(["b"]);
      await until("b to be asked", () => asked > askedBefore, 5_000);
      // And it goes round every ROUND_MS again while it has a peer.
      const roundsThen = rounds.count;
      await until("ten more rounds", () => rounds.count >= roundsThen + 10, 5_000);
    } finally {
      await sync.stop();
      answer = "refuse";
    }
  });
});

/**
 * What `node`'s loop asks b over five rounds while b's answers keep coming, as counts of
 * pulls and pushes; and whether the pulls are one, or two (a pull of the test before may
 * reach b late, its body read after that test stopped: one more is not this loop's).
 */
async function askedOfATrickle(
  node: NodeContext,
): Promise<{ pushes: number; pullsOneOrTwo: boolean }> {
  answer = "trickle";
  const rounds = countRounds(node);
  const sync = new SyncLoop(node, ROUND_MS, () => {}, { random: () => 0 });
  const askedBefore = asked;
  const pathsBefore = paths.length;
  sync.start();
  try {
    await until("b to be asked", () => asked > askedBefore, 5_000);
    const roundsThen = rounds.count;
    // Rounds come every ROUND_PATIENCE_INTERVALS intervals (50 ms) while b's answer goes on.
    await until("five more rounds", () => rounds.count >= roundsThen + 5, 5_000);
    const { pulls, pushes } = countOf(paths.slice(pathsBefore));
    return { pushes, pullsOneOrTwo: pulls >= 1 && pulls <= 2 };
  } finally {
    answer = "refuse";
    await sync.stop();
  }
}

describe("the sync loop, with a peer whose answer keeps coming", () => {
  test("goes on with its rounds without waiting for it, and sends it meanwhile only its presence, once", async () => {
    // The pull that is held up, and this device's presence alone, whose answer b holds up
    // too: neither sent again while it is on its way.
    expect(await askedOfATrickle(nodeA([]))).toEqual({ pushes: 1, pullsOneOrTwo: true });
  });
});

describe("the sync loop of a quarantined device, with a peer whose answer keeps coming", () => {
  test("sends it no presence of its own: it may only pull, and every peer refuses its pushes", async () => {
    const node = nodeA([]);
    node.quarantined = () => true;
    expect(await askedOfATrickle(node)).toEqual({ pushes: 0, pullsOneOrTwo: true });
  });
});

describe("the sync loop, writing faster than a peer takes it", () => {
  test("has one push to it under way at a time, and sends what was written meanwhile after it", async () => {
    answer = "hold";
    released = new Promise((resolve) => {
      release = resolve;
    });
    const node = nodeA([]);
    // One round only (its pull held): what goes to b meanwhile is the pushes of own changes.
    const sync = new SyncLoop(node, 60_000, () => {}, { random: () => 0 });
    const pathsBefore = paths.length;
    const pushedBefore = pushed.length;
    sync.start();
    try {
      await until("b to be asked to pull", () => paths.length > pathsBefore, 5_000);
      for (let change = 0; change < 20; change++)
        node.write([{ key: `apps/test/note-${change}`, value: JSON.stringify(change) }]);
      await until("b to be pushed to", () => pushed.length > pushedBefore, 5_000);
      answer = "sync";
      release();
      // The first push held, the other 19 changes go after it in one push (b's ack says it
      // holds nothing, so all it lacks); a push each went at once, when each was written.
      await until("b to be pushed the rest", () => pushed.length > pushedBefore + 1, 5_000);
      expect(pushed[pushedBefore]).toBe(1);
      expect(pushed[pushedBefore + 1]).toBeGreaterThanOrEqual(20);
    } finally {
      answer = "refuse";
      release();
      await sync.stop();
    }
  });
});

describe("the sync loop, written to in the instant a push to a peer ends", () => {
  test("pushes that change right after it, not with the next round", async () => {
    answer = "hold-pulls";
    released = new Promise((resolve) => {
      release = resolve;
    });
    const node = nodeA([]);
    holding = new Map(versionVector(node.db));
    const takenBefore = taken.length;
    // Rounds a minute apart: the one round's pull is held throughout, so anything b is
    // pushed comes from a push, not from an exchange.
    const sync = new SyncLoop(node, 60_000, () => {}, { random: () => 0 });
    // The loop says b answers (its first answer) once a push's work is done and before the
    // push is over: a change written from there is written in the instant the push ends.
    const info = node.log.info.bind(node.log);
    let wroteAtTheEnd = false;
    node.log.info = (message, fields) => {
      info(message, fields);
      if (!message.includes("is answering again")) return;
      wroteAtTheEnd = true;
      node.write([{ key: "apps/test/at-the-end", value: "2" }]);
    };
    const pathsBefore = paths.length;
    sync.start();
    try {
      await until("b to be asked to pull", () => paths.length > pathsBefore, 5_000);
      node.write([{ key: "apps/test/first", value: "1" }]);
      const written = () => versionVector(node.db);
      await until("the change written at the push's end", () => wroteAtTheEnd, 5_000);
      // Before the fix, its push waited for the next round: a minute here.
      await until(
        "b to hold both changes",
        () => ![...written()].some(([a, s]) => (holding.get(a) ?? 0) < s),
        5_000,
      );
      expect(taken.slice(takenBefore)).toHaveLength(2);
    } finally {
      answer = "refuse";
      release();
      await sync.stop();
    }
  });
});

describe("the sync loop, sending a peer what it lacks from an exchange and a push at once", () => {
  test("sends each page once: the second sending starts from what the peer acked to the first", async () => {
    answer = "hold";
    released = new Promise((resolve) => {
      release = resolve;
    });
    const node = nodeA([]);
    holding = new Map(versionVector(node.db));
    const takenBefore = taken.length;
    const rounds = countRounds(node);
    const sync = new SyncLoop(node, ROUND_MS, () => {}, { random: () => 0 });
    const pathsBefore = paths.length;
    sync.start();
    try {
      await until("b to be asked to pull", () => paths.length > pathsBefore, 5_000);
      for (let change = 0; change < 20; change++)
        node.write([{ key: `apps/test/note-${change}`, value: JSON.stringify(change) }]);
      await until("b to be pushed to", () => paths.slice(pathsBefore).includes("/v1/sync/push"));
      // The pull's answer and the push's ack both say b holds none of the 20 notes: the
      // exchange and the push each have them all to send.
      answer = "take";
      release();
      const written = versionVector(node.db);
      await until(
        "b to hold every note",
        () => ![...written].some(([a, s]) => (holding.get(a) ?? 0) < s),
      );
      // Two more rounds: the exchanges and pushes under way when b had it all have ended.
      const roundsThen = rounds.count;
      await until("two more rounds", () => rounds.count >= roundsThen + 4, 5_000);
      const sent = taken.slice(takenBefore);
      expect(sent.filter((name, at) => sent.indexOf(name) !== at)).toEqual([]);
      expect(sent).toHaveLength(20);
    } finally {
      answer = "refuse";
      release();
      await sync.stop();
    }
  });
});

describe("the sync loop, pulling a peer's own write", () => {
  test("tells it at once that this device holds it, with nothing else to send, and only then", async () => {
    answer = "own-writes";
    const node = nodeA([]);
    const bId = deviceIdFromPublicKey(b.key.publicKey);
    // b writes what a lacks: a revocation, say, whose answer waits for a device to hold it.
    appendLocalChangeset(
      b.db,
      { zone: testZone.id, name: "b", key: b.key, seal: b.seal },
      [{ key: "apps/test/b-wrote", value: JSON.stringify(1) }],
      3000,
    );
    const bHead = versionVector(b.db).get(bId) ?? 0;
    const rounds = countRounds(node);
    const pushesBefore = pushedHave.length;
    const sync = new SyncLoop(node, ROUND_MS, () => {}, { random: () => 0 });
    sync.start();
    try {
      await until("a to hold b's write", () => (versionVector(node.db).get(bId) ?? 0) >= bHead);
      // a has nothing b lacks: before, b heard a holds it only when b next pulled from a.
      await until("b to be told a holds it", () =>
        pushedHave.slice(pushesBefore).some((have) => (have.get(bId) ?? 0) >= bHead),
      );
      const roundsThen = rounds.count;
      await until("three more rounds", () => rounds.count >= roundsThen + 3, 5_000);
      // Told once: the rounds since pulled nothing new of b's.
      expect(pushed.slice(pushesBefore)).toEqual([0]);
    } finally {
      answer = "refuse";
      await sync.stop();
    }
  });
});

describe("the sync loop, stopped", () => {
  test("does not wait for an answer a peer keeps coming", async () => {
    answer = "trickle";
    const node = nodeA([]);
    const bugs: unknown[] = [];
    const sync = new SyncLoop(node, ROUND_MS, (error) => bugs.push(error), { random: () => 0 });
    const askedBefore = asked;
    sync.start();
    try {
      await until("b to be asked", () => asked > askedBefore, 5_000);
      const outcome = await Promise.race([
        sync.stop().then(() => "stopped"),
        Bun.sleep(8_000).then(() => "held"),
      ]);
      expect(outcome).toBe("stopped");
      expect(bugs).toEqual([]);
    } finally {
      answer = "refuse";
    }
  });
});
