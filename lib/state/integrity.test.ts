import { describe, expect, test } from "bun:test";
import { signChangeset } from "../../protocol/changeset.ts";
import { signDeviceDocument, signZoneDocument } from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName, ZoneName } from "../../protocol/names.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { appendLocalChangeset } from "./feed.ts";
import { checkIntegrity } from "./integrity.ts";
import { repairState } from "./repair.ts";
import { openTestNode, seed, type TestNode } from "./test-db.ts";
import { verifyNow } from "./verify.ts";

const quiet = createLog({ level: "silent" });
const owner = signingKeyFromSeed(seed(1));
const zoneDoc = signZoneDocument({ name: "home" as ZoneName, issuedAt: 1 }, owner);

/** A founded zone (its documents written) holding apps/a and apps/b. */
function sealedNode(): TestNode {
  const node = openTestNode(7);
  const doc = signDeviceDocument(
    { name: "d7" as DeviceName, devicePublicKey: node.key.publicKey, issuedAt: 1 },
    owner,
  );
  const author = { zone: node.zone, name: "d7", key: node.key, seal: node.seal };
  appendLocalChangeset(
    node.db,
    author,
    [
      { key: "boot/config", value: JSON.stringify(zoneDoc.jws) },
      { key: "devices/d7/doc", value: JSON.stringify(doc.jws) },
    ],
    1000,
  );
  appendLocalChangeset(node.db, author, [{ key: "apps/a", value: '"one"' }], 2000);
  appendLocalChangeset(node.db, author, [{ key: "apps/b", value: '"two"' }], 3000);
  return node;
}

function check(node: TestNode, everyRow = false) {
  return checkIntegrity(node.db.$client, node.seal, node.zone, {
    everyRow,
    nowMs: 9000,
    log: quiet,
  });
}

/** The message of the integrity error `run` throws. */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof BuckyError && error.code === "E_INTEGRITY") return error.message;
    throw error;
  }
  throw new Error("it was not refused");
}

function sql(node: TestNode, statement: string, ...params: (string | number)[]): void {
  node.db.$client.query(statement).run(...params);
}

describe("checkIntegrity on open", () => {
  test("a state bucky wrote itself passes, with nothing written", () => {
    const node = sealedNode();
    expect(check(node).damage).toBeNull();
    expect(check(node, true).damage).toBeNull();
  });

  test("state rows edited, removed or added are named, and the finding is kept", () => {
    const edits: [string, string][] = [
      ["UPDATE state SET value = '\"evil\"' WHERE key = 'apps/a'", "state key apps/a differs"],
      ["UPDATE state SET hlc_ms = hlc_ms + 1 WHERE key = 'apps/a'", "state key apps/a differs"],
      ["DELETE FROM state WHERE key = 'apps/b'", "state key apps/b is missing"],
      [
        "INSERT INTO state SELECT 'apps/c', value, hlc_ms, hlc_counter, author, seq FROM state WHERE key = 'apps/a'",
        "state key apps/c is held, but no changeset wrote it",
      ],
    ];
    for (const [edit, found] of edits) {
      const node = sealedNode();
      sql(node, edit);
      expect(refusal(() => check(node))).toContain(found);
      // Kept: said again even after the row is put back, until the state is mended.
      expect(node.seal.read(node.db.$client)?.damage).toContain(found);
      expect(refusal(() => check(node))).toContain(found);
    }
  });

  test("what a row holds cannot steer the terminal the finding is shown on", () => {
    const node = sealedNode();
    sql(
      node,
      "INSERT INTO state SELECT ?1, value, hlc_ms, hlc_counter, author, seq FROM state WHERE key = 'apps/a'",
      "apps/\u001b]0;owned\u0007x",
    );
    expect(refusal(() => check(node))).toContain(
      "state key apps/\\u001b]0;owned\\u0007x is held, but no changeset wrote it",
    );
  });

  test("a changeset's bytes edited: seen when every row is checked (a daemon starting)", () => {
    const node = sealedNode();
    // Not the latest: that one (this device's head) is checked at every open.
    sql(
      node,
      "UPDATE changesets SET bytes = CAST(replace(CAST(bytes AS TEXT), '\"one\"', '\"eno\"') AS BLOB) WHERE seq = 2",
    );
    expect(check(node).damage).toBeNull();
    expect(refusal(() => check(node, true))).toContain("changeset d7#2 has a bad signature");
  });

  test("this device's latest changeset edited: seen at every open", () => {
    const node = sealedNode();
    sql(
      node,
      "UPDATE changesets SET bytes = CAST(replace(CAST(bytes AS TEXT), '\"two\"', '\"owt\"') AS BLOB) WHERE seq = 3",
    );
    expect(refusal(() => check(node))).toContain("changeset d7#3 has a bad signature");
  });

  test("this device's latest changeset removed: refused, and no write signs its seq again", () => {
    const node = sealedNode();
    sql(node, "DELETE FROM changesets WHERE seq = 3");
    sql(node, "DELETE FROM state WHERE key = 'apps/b'");
    const author = { zone: node.zone, name: "d7", key: node.key, seal: node.seal };
    expect(
      refusal(() => appendLocalChangeset(node.db, author, [{ key: "apps/x", value: "1" }], 4000)),
    ).toContain("this device's latest changeset is not the one it last wrote");
    expect(refusal(() => check(node))).toContain("1 changeset was removed");
  });

  test("the seal itself edited or made up does not verify", () => {
    const node = sealedNode();
    sql(node, "UPDATE state_seal SET state_rows = state_rows + 1");
    expect(refusal(() => check(node))).toContain("its seal does not verify");
  });

  test("a home with no seal is verified in full before it is sealed", () => {
    const sound = sealedNode();
    sql(sound, "DELETE FROM state_seal");
    const sealed = check(sound);
    expect([sealed.damage, sealed.verifiedAt, sealed.changesetRows]).toEqual([null, 9000, 3]);

    // A seal removed to have edits sealed over them: the full verification finds them.
    const edited = sealedNode();
    sql(edited, "DELETE FROM state_seal");
    sql(edited, "UPDATE state SET value = '\"evil\"' WHERE key = 'apps/a'");
    expect(refusal(() => check(edited))).toContain("state key apps/a differs");
  });

  test("a stranger's changeset, validly signed for this zone, is no member's", () => {
    const node = sealedNode();
    const stranger = signingKeyFromSeed(seed(66));
    const forged = signChangeset(
      {
        zone: node.zone,
        author: deviceIdFromPublicKey(stranger.publicKey),
        seq: 1,
        prev: null,
        hlc: { ms: 5000, counter: 0 },
        ops: [{ key: "apps/a", value: '"evil"' }],
      },
      stranger,
    );
    sql(node, "DELETE FROM state_seal");
    node.db.$client
      .query(
        "INSERT INTO changesets (author, seq, hash, bytes, received_at) VALUES (?1, 1, ?2, ?3, 5000)",
      )
      .run(forged.author, forged.hash, forged.bytes);
    sql(
      node,
      "UPDATE state SET value = '\"evil\"', hlc_ms = 5000, author = ?1, seq = 1 WHERE key = 'apps/a'",
      forged.author,
    );
    expect(refusal(() => check(node))).toContain(
      `changesets of ${forged.author} come from a device that is not a member of the zone`,
    );
  });
});

describe("what a holder of the device key can do", () => {
  test("reseal an edit so every row matches, but not pass the full verification", () => {
    const node = sealedNode();
    sql(node, "UPDATE state SET value = '\"evil\"' WHERE key = 'apps/a'");
    const { tables } = verifyNow(node.db.$client, node.seal, node.zone, { againstSeal: false });
    node.seal.write(node.db.$client, { ...tables, verifiedAt: null, damage: null });
    expect(check(node, true).damage).toBeNull();
    expect(verifyNow(node.db.$client, node.seal, node.zone).problems).toEqual([
      "state key apps/a differs from what its changesets give",
    ]);
  });
});

describe("repairState", () => {
  const repair = (node: TestNode) => repairState(node.db, node.seal, node.zone, "d7", 9500, quiet);

  test("rebuilds edited state rows from the changesets, and seals them afresh", () => {
    const node = sealedNode();
    sql(node, "UPDATE state SET value = '\"evil\"' WHERE key = 'apps/a'");
    sql(node, "DELETE FROM state WHERE key = 'apps/b'");
    expect(() => check(node)).toThrow(BuckyError);
    const repaired = repair(node);
    expect([repaired.repaired, repaired.dropped, repaired.changesets]).toEqual([true, [], 3]);
    expect(repaired.found).toEqual([
      "state key apps/a differs from what its changesets give",
      "state key apps/b is missing",
    ]);
    expect(check(node, true)).toMatchObject({ damage: null, verifiedAt: 9500 });
    const values = node.db.$client
      .query<{ value: string }, []>("SELECT value FROM state WHERE key LIKE 'apps/%' ORDER BY key")
      .all();
    expect(values.map((row) => row.value)).toEqual(['"one"', '"two"']);
  });

  test("a sound state is left as it is", () => {
    const node = sealedNode();
    expect(repair(node)).toEqual({
      repaired: false,
      found: [],
      dropped: [],
      restored: [],
      changesets: 3,
      keys: 4,
    });
  });

  test("drops another device's damaged changeset and the later ones of its feed", () => {
    const node = sealedNode();
    const other = signingKeyFromSeed(seed(8));
    const otherId = deviceIdFromPublicKey(other.publicKey);
    // d7 admits d8; d8 writes twice; those arrive here.
    const author = { zone: node.zone, name: "d7", key: node.key, seal: node.seal };
    const doc = signDeviceDocument(
      { name: "d8" as DeviceName, devicePublicKey: other.publicKey, issuedAt: 1 },
      owner,
    );
    appendLocalChangeset(
      node.db,
      author,
      [{ key: "devices/d8/doc", value: JSON.stringify(doc.jws) }],
      3500,
    );
    const first = signChangeset(
      {
        zone: node.zone,
        author: otherId,
        seq: 1,
        prev: null,
        hlc: { ms: 4000, counter: 0 },
        ops: [{ key: "apps/x", value: "1" }],
      },
      other,
    );
    const second = signChangeset(
      {
        ...first,
        seq: 2,
        prev: first.hash,
        hlc: { ms: 4100, counter: 0 },
        ops: [{ key: "apps/y", value: "2" }],
      },
      other,
    );
    const tally = node.seal.tally(node.db.$client);
    for (const changeset of [first, second]) {
      const { lastInsertRowid } = node.db.$client
        .query(
          "INSERT INTO changesets (author, seq, hash, bytes, received_at) VALUES (?1, ?2, ?3, ?4, 1)",
        )
        .run(changeset.author, changeset.seq, changeset.hash, changeset.bytes);
      tally.addChangesetRow([
        Number(lastInsertRowid),
        changeset.author,
        changeset.seq,
        changeset.hash,
        changeset.bytes,
        1,
      ]);
    }
    tally.save();
    sql(
      node,
      "UPDATE changesets SET bytes = CAST(replace(CAST(bytes AS TEXT), 'apps/x', 'apps/z') AS BLOB) WHERE author = ?1 AND seq = 1",
      otherId,
    );
    const repaired = repair(node);
    expect(repaired.found).toEqual(["changeset d8#1 has a bad signature"]);
    expect(repaired.dropped).toEqual([
      { author: otherId, seq: 1 },
      { author: otherId, seq: 2 },
    ]);
    expect(check(node, true).damage).toBeNull();
  });

  test("refuses when this device's own changesets are damaged", () => {
    const node = sealedNode();
    sql(
      node,
      "UPDATE changesets SET bytes = CAST(replace(CAST(bytes AS TEXT), '\"two\"', '\"owt\"') AS BLOB) WHERE seq = 3",
    );
    expect(refusal(() => repair(node))).toContain("this device's own changesets");
    // Nothing was changed: the changeset is still there for a restore to replace.
    expect(
      node.db.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM changesets").get()?.n,
    ).toBe(3);
  });
});
