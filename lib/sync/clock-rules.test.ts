/**
 * Rules that read a changeset's clock (a credential written within its link's life, a
 * budget written when it was signed) hold only if its author cannot choose that clock: a
 * device's clock only moves on, a credential is recorded once, and a device checks its own
 * writes against the clock they will carry, which runs ahead of its wall clock once that
 * was set back.
 */
import { describe, expect, test } from "bun:test";
import { signAccount, signEnrollment, type UserName, userKeys } from "../../protocol/accounts.ts";
import { decodeChangeset, signChangeset } from "../../protocol/changeset.ts";
import { toBase64url } from "../../protocol/encoding.ts";
import { compareHlc } from "../../protocol/hlc.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { PUBLIC_BUDGET_KEY, signBudget } from "../../protocol/zone-budget.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { appendLocalChangeset, nextStampMs } from "../state/feed.ts";
import { foundingOps, openTestNode, type TestNode, testOwner, testZone } from "../state/test-db.ts";
import { stateValue } from "../store/reads.ts";
import { entriesMissingFrom, versionVector } from "./exchange.ts";
import { ingestEntries } from "./ingest.ts";

const quiet = createLog({ level: "silent" });
const DAY_MS = 86_400_000;

const authorOf = (node: TestNode, name: string) => ({
  zone: testZone.id,
  name,
  key: node.key,
  seal: node.seal,
});

/** `to` takes what `from` holds and it lacks, at wall time `nowMs`. */
function sync(from: TestNode, to: TestNode, nowMs: number) {
  return ingestEntries(to.db, entriesMissingFrom(from.db, versionVector(to.db)).entries, {
    zone: testZone.id,
    nowMs,
    log: quiet,
    source: "test",
    seal: to.seal,
  });
}

/** `node`'s next changeset, signed by hand at `ms` with `ops`: what a hostile device may send. */
function signedAt(node: TestNode, ms: number, ops: { key: string; value: string | null }[]) {
  const author = deviceIdFromPublicKey(node.key.publicKey);
  const own = entriesMissingFrom(node.db, new Map())
    .entries.map(decodeChangeset)
    .filter((changeset) => changeset.author === author);
  const last = own.reduce<(typeof own)[number] | undefined>(
    (latest, changeset) => (latest && latest.seq > changeset.seq ? latest : changeset),
    undefined,
  );
  return signChangeset(
    {
      zone: testZone.id,
      author,
      seq: (last?.seq ?? 0) + 1,
      prev: last?.hash ?? null,
      hlc: { ms, counter: 0 },
      ops,
    },
    node.key,
  );
}

describe("a changeset's clock", () => {
  test("dated at or before its author's previous changeset is refused by rule", () => {
    const a = openTestNode(61);
    const b = openTestNode(62);
    const now = Date.now();
    appendLocalChangeset(a.db, authorOf(a, "a"), foundingOps({ a: a.key, b: b.key }), now);
    appendLocalChangeset(a.db, authorOf(a, "a"), [{ key: "apps/x", value: '"1"' }], now + 1000);
    expect(sync(a, b, now + 2000).applied).toHaveLength(2);
    const back = signedAt(a, now + 500, [{ key: "apps/x", value: '"back"' }]);
    const refused = ingestEntries(b.db, [back.bytes], {
      zone: testZone.id,
      nowMs: now + 3000,
      log: quiet,
      source: "test",
      seal: b.seal,
    });
    expect(refused.applied).toEqual([]);
    expect(refused.rejected).toEqual([
      {
        author: back.author,
        seq: 3,
        reason:
          "its clock is not past that of its author's changeset #2: a device's clock only moves on",
        byRule: true,
      },
    ]);
    expect(stateValue(b.db, "apps/x")).toBe('"1"');
  });

  test("a device's own next changeset is dated past its last, whatever its clock row says", () => {
    const a = openTestNode(63);
    const now = Date.now();
    appendLocalChangeset(a.db, authorOf(a, "a"), foundingOps({ a: a.key }), now);
    const first = appendLocalChangeset(
      a.db,
      authorOf(a, "a"),
      [{ key: "apps/x", value: "1" }],
      now + 60_000,
    );
    // Its clock row put back (a repair, a copy of an older home's row).
    a.db.$client.run("UPDATE node SET hlc_ms = ?1, hlc_counter = 0", [now]);
    const next = appendLocalChangeset(a.db, authorOf(a, "a"), [{ key: "apps/x", value: "2" }], now);
    expect(compareHlc(next.hlc, first.hlc)).toBeGreaterThan(0);
  });

  test("a head changeset altered here is said to be (an integrity error), not a refusal of every sync", () => {
    const a = openTestNode(68);
    const b = openTestNode(69);
    const now = Date.now();
    appendLocalChangeset(a.db, authorOf(a, "a"), foundingOps({ a: a.key, b: b.key }), now);
    appendLocalChangeset(a.db, authorOf(a, "a"), [{ key: "apps/x", value: "1" }], now + 1000);
    sync(a, b, now + 2000);
    b.db.$client.run("UPDATE changesets SET bytes = x'00' WHERE seq = 2");
    appendLocalChangeset(a.db, authorOf(a, "a"), [{ key: "apps/x", value: "2" }], now + 3000);
    expect(() => sync(a, b, now + 4000)).toThrow(
      /was altered: the changeset #2 of .* held here does not decode/,
    );
  });
});

describe("a credential", () => {
  test("is recorded once: its gateway cannot put its own key in place, dating it within the link's life", () => {
    const a = openTestNode(64); // the owner's device
    const g = openTestNode(65); // the gateway the link names, taken over later
    const now = Date.now();
    const nowS = Math.floor(now / 1000);
    const ann = "ann" as UserName;
    // A link made 30 days ago, valid for an hour.
    const expiresAt = nowS - 30 * 86_400 + 3600;
    const enrollment = signEnrollment(
      {
        zone: testZone.id,
        user: ann,
        creds: 1,
        gateway: deviceIdFromPublicKey(g.key.publicKey),
        nonce: new Uint8Array(16).fill(7),
        expiresAt,
      },
      testOwner,
    );
    const account = signAccount(
      {
        zone: testZone.id,
        user: ann,
        rev: 1,
        role: "member",
        creds: 1,
        issuedAt: nowS - 31 * 86_400,
      },
      testOwner,
    );
    const credential = (publicKeyByte: number) =>
      JSON.stringify({
        v: 1,
        kind: "password",
        enrollment: enrollment.jws,
        salt: toBase64url(new Uint8Array(16).fill(5)),
        publicKey: toBase64url(new Uint8Array(32).fill(publicKeyByte)),
        memoryKiB: 65536,
        passes: 2,
        parallelism: 1,
        createdAt: new Date(now).toISOString(),
      });
    const key = userKeys.credential(ann, enrollment.nonce);
    const linkLife = expiresAt * 1000;
    appendLocalChangeset(
      a.db,
      authorOf(a, "a"),
      [
        ...foundingOps({ a: a.key, g: g.key }),
        { key: userKeys.account(ann, 1), value: JSON.stringify(account) },
      ],
      now - 31 * DAY_MS,
    );
    sync(a, g, linkLife - 1_200_000);
    // Ann takes the link in time: the gateway records her credential.
    appendLocalChangeset(
      g.db,
      authorOf(g, "g"),
      [{ key, value: credential(0x11) }],
      linkLife - 600_000,
    );
    expect(sync(g, a, linkLife - 500_000).applied).toHaveLength(1);
    // A month on, the gateway signs its own key there, dated just before the link expired:
    // later than its last changeset, and within the link's life.
    const forged = signedAt(g, linkLife - 1, [{ key, value: credential(0x66) }]);
    const taken = ingestEntries(a.db, [forged.bytes], {
      zone: testZone.id,
      nowMs: now,
      log: quiet,
      source: "test",
      seal: a.seal,
    });
    expect([taken.applied.length, taken.rejected[0]?.reason]).toEqual([
      0,
      `${key} holds a credential already: a credential is recorded once`,
    ]);
    expect(JSON.parse(stateValue(a.db, key) as string).publicKey).toBe(
      toBase64url(new Uint8Array(32).fill(0x11)),
    );
    // Its own device refuses to sign it at all, even within the link's life.
    expect(() =>
      appendLocalChangeset(
        g.db,
        authorOf(g, "g"),
        [{ key, value: credential(0x66) }],
        linkLife - 100,
      ),
    ).toThrow("a credential is recorded once");
  });
});

describe("a budget written by a device whose clock was set back", () => {
  test("is signed at the zone's time, and every peer takes it and what follows", () => {
    const a = openTestNode(66);
    const b = openTestNode(67);
    const now = Date.now();
    appendLocalChangeset(
      a.db,
      authorOf(a, "a"),
      foundingOps({ a: a.key, b: b.key }),
      now - 300_000,
    );
    sync(a, b, now);
    // a wrote two minutes ahead; then its clock was set back to `now`.
    appendLocalChangeset(a.db, authorOf(a, "a"), [{ key: "apps/x", value: "1" }], now + 120_000);
    const signedAtWallTime = signBudget({
      key: PUBLIC_BUDGET_KEY,
      zone: testZone.id,
      bytes: 1000,
      atMs: now,
      owner: testOwner,
    });
    // Signed at its wall time, its changeset (dated two minutes later) would be refused by
    // every peer, and every later change of a's wait behind it: it is refused here first.
    const refusal = (() => {
      try {
        appendLocalChangeset(
          a.db,
          authorOf(a, "a"),
          [{ key: PUBLIC_BUDGET_KEY, value: JSON.stringify(signedAtWallTime) }],
          now,
        );
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(BuckyError);
    expect((refusal as BuckyError).code).toBe("E_PERMISSION");
    // Signed at the clock its changeset will carry, as the local API signs it.
    const budget = signBudget({
      key: PUBLIC_BUDGET_KEY,
      zone: testZone.id,
      bytes: 1000,
      atMs: nextStampMs(a.db, deviceIdFromPublicKey(a.key.publicKey), now),
      owner: testOwner,
    });
    appendLocalChangeset(
      a.db,
      authorOf(a, "a"),
      [{ key: PUBLIC_BUDGET_KEY, value: JSON.stringify(budget) }],
      now,
    );
    appendLocalChangeset(a.db, authorOf(a, "a"), [{ key: "apps/y", value: "2" }], now + 1000);
    const later = sync(a, b, now + DAY_MS);
    expect(later.rejected).toEqual([]);
    expect(stateValue(b.db, "apps/y")).toBe("2");
    expect(JSON.parse(stateValue(b.db, PUBLIC_BUDGET_KEY) as string).bytes).toBe(1000);
  });
});
