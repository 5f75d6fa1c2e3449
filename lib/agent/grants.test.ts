import { afterAll, describe, expect, test } from "bun:test";
import { createLog } from "../log.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  infoOp,
  openTestNode,
  removeTestDatabases,
  type TestNode,
  testZone,
} from "../state/test-db.ts";
import { entriesMissingFrom, versionVector } from "../sync/exchange.ts";
import { ingestEntries } from "../sync/ingest.ts";
import {
  type AgentRecord,
  grantAgent,
  keepGrantRecordsUnderIssuer,
  listAgents,
  replacingGrant,
  revocationKey,
} from "./grants.ts";

afterAll(removeTestDatabases);

describe("bucky agent list", () => {
  test("says an agent revoked zone-wide is revoked, though a member wrote its record back as active", () => {
    const node = openTestNode(90);
    const author = { zone: testZone.id, name: "a", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, foundingOps({ a: node.key }), 1000);
    const context = testNodeContext(node, "a");
    const record: AgentRecord = {
      agent: "helper",
      id: "grant-1",
      issuer: context.deviceId,
      scopes: { read: ["apps"], write: [], act: [] },
      issuedAt: "2026-11-01T00:00:00.000Z",
      expiresAt: "2099-12-01T00:00:00.000Z",
      revokedAt: null,
    };
    appendLocalChangeset(
      node.db,
      author,
      [
        { key: "agents/helper", value: JSON.stringify(record) },
        {
          key: revocationKey("grant-1"),
          value: JSON.stringify({ at: "2026-11-20T00:00:00.000Z" }),
        },
      ],
      2000,
    );
    const [listed] = listAgents(context);
    expect(listed?.working).toBe(false);
    expect(listed?.stopped?.why).toBe("revoked");
    expect(listed?.revokedAt).toBe("2026-11-20T00:00:00.000Z");
  });

  test("lists an agent only at the key of its own name: agents/x/y is no agent's record", () => {
    const node = openTestNode(91);
    const author = { zone: testZone.id, name: "a", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, foundingOps({ a: node.key }), 1000);
    const context = testNodeContext(node, "a");
    const record = (agent: string, id: string): AgentRecord => ({
      agent,
      id,
      issuer: context.deviceId,
      scopes: { read: ["apps"], write: [], act: [] },
      issuedAt: "2026-11-01T00:00:00.000Z",
      expiresAt: "2099-12-01T00:00:00.000Z",
      revokedAt: null,
    });
    // What any member may write: a key of more segments than `agents/<name>`, a record
    // under another name's key, and a name that is a path.
    appendLocalChangeset(
      node.db,
      author,
      [
        { key: "agents/helper", value: JSON.stringify(record("helper", "grant-1")) },
        { key: "agents/helper/x", value: JSON.stringify(record("helper", "grant-2")) },
        { key: "agents/notes/data", value: JSON.stringify(record("notes/data", "grant-3")) },
        { key: "agents/other", value: JSON.stringify(record("helper", "grant-4")) },
      ],
      2000,
    );
    expect(listAgents(context).map((agent) => [agent.agent, agent.id])).toEqual([
      ["helper", "grant-1"],
    ]);
  });
});

describe("a grant's record a bucky before kept under its id alone", () => {
  test("is written again under its issuer as the daemon starts, where no member writes over it", () => {
    const node = openTestNode(94);
    const author = { zone: testZone.id, name: "a", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, foundingOps({ a: node.key }), 1000);
    const context = testNodeContext(node, "a");
    const record = JSON.stringify({
      agent: "helper",
      id: "grant-9",
      issuer: context.deviceId,
      scopes: { read: ["apps"], write: [], act: [] },
      issuedAt: "2026-11-01T00:00:00.000Z",
      expiresAt: "2099-12-01T00:00:00.000Z",
      revokedAt: null,
    });
    appendLocalChangeset(node.db, author, [{ key: "agent-grants/grant-9", value: record }], 2000);
    const grantRows = () =>
      node.db.$client
        .query<{ key: string; value: string }, []>(
          "SELECT key, value FROM state WHERE key GLOB 'agent-grants/*' ORDER BY key",
        )
        .all();
    keepGrantRecordsUnderIssuer(context);
    const moved = grantRows();
    expect(moved).toEqual([
      { key: `agent-grants/${context.deviceId}/grant-9`, value: record },
      { key: "agent-grants/grant-9", value: record },
    ]);
    // Once: at the next start, nothing is written again.
    const changesets = () =>
      (node.db.$client.query("SELECT count(*) AS n FROM changesets").get() as { n: number }).n;
    const before = changesets();
    keepGrantRecordsUnderIssuer(context);
    expect(changesets()).toBe(before);
  });
});

/** A zone of two test nodes, a and b, b holding what a founded; `sync` sends what `to` lacks. */
function zoneOfTwo(seedA: number, seedB: number) {
  const a = openTestNode(seedA);
  const b = openTestNode(seedB);
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
    foundingOps({ a: a.key, b: b.key }),
    1000,
  );
  const quiet = createLog({ level: "silent" });
  const sync = (from: TestNode, to: TestNode) =>
    ingestEntries(to.db, entriesMissingFrom(from.db, versionVector(to.db)).entries, {
      zone: testZone.id,
      nowMs: Date.now() + 5_000,
      log: quiet,
      source: "test",
      seal: to.seal,
    });
  sync(a, b);
  return { a, b, sync };
}

describe("two devices granting one name at once", () => {
  test("the later grant holds on both; the other is found replaced when it is answered, and listed so on both", () => {
    const { a, b, sync } = zoneOfTwo(92, 93);
    const onA = testNodeContext(a, "a");
    const onB = testNodeContext(b, "b", { now: () => Date.now() + 1_000 });
    const request = { name: "twin", read: ["status"], ttlMs: 3_600_000 };
    // Each written before hearing of the other, as two grants at the same moment are.
    const first = grantAgent(onA, request);
    const second = grantAgent(onB, request);
    sync(a, b);
    sync(b, a);
    expect(replacingGrant(onA, first.record)?.id).toBe(second.record.id);
    expect(replacingGrant(onB, second.record)).toBeUndefined();
    for (const context of [onA, onB])
      expect(
        listAgents(context).map((agent) => [agent.id, agent.working, agent.stopped?.why]),
      ).toEqual([
        [second.record.id, true, undefined],
        [first.record.id, false, "replaced"],
      ]);
  });
});

describe("grants while a member runs a bucky that refuses a record under its issuer", () => {
  test("a grant is kept under its id, as that bucky takes it, and moved under its issuer when the member says it reads that", async () => {
    const { a, b, sync } = zoneOfTwo(95, 96);
    const onB = { zone: testZone.id, name: "b", key: b.key, seal: b.seal };
    // b's info as a bucky before levels says it: no level, so level 0.
    const info = { addrs: [], cert: "", version: "0.0.9" };
    appendLocalChangeset(b.db, onB, [{ key: "devices/b/info", value: JSON.stringify(info) }], 2000);
    sync(b, a);
    const onA = testNodeContext(a, "a");
    const stop = keepGrantRecordsUnderIssuer(onA);
    const { record } = grantAgent(onA, { name: "helper", read: ["status"], ttlMs: 3_600_000 });
    const grantKeys = () =>
      a.db.$client
        .query<{ key: string }, []>("SELECT key FROM state WHERE key GLOB 'agent-grants/*'")
        .all()
        .map((row) => row.key);
    expect(grantKeys()).toEqual([`agent-grants/${record.id}`]);
    expect(listAgents(onA).map((agent) => [agent.id, agent.working])).toEqual([[record.id, true]]);
    // Written by hand, the new key is refused here, naming the device and its bucky.
    expect(() =>
      onA.write([
        { key: `agent-grants/${onA.deviceId}/${record.id}`, value: JSON.stringify(record) },
      ]),
    ).toThrow("b (bucky 0.0.9) runs a bucky that refuses it");

    // b is upgraded: its info says the level it reads, and the record moves when that arrives.
    appendLocalChangeset(b.db, onB, [{ ...infoOp("b") }], 3000);
    await onA.ingest(entriesMissingFrom(b.db, versionVector(a.db)).entries, "b");
    expect(grantKeys().sort()).toEqual(
      [`agent-grants/${onA.deviceId}/${record.id}`, `agent-grants/${record.id}`].sort(),
    );
    stop();
  });
});
