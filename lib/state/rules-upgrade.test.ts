import { expect, test } from "bun:test";
import { signRevocation } from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { createLog } from "../log.ts";
import { applyChangeset } from "./apply.ts";
import { appendLocalChangeset } from "./feed.ts";
import { checkIntegrity } from "./integrity.ts";
import { STATE_COLUMNS } from "./seal.ts";
import { foundingOps, openTestNode, seed, testOwner } from "./test-db.ts";
import { verifyNow } from "./verify.ts";

const quiet = createLog({ level: "silent" });

test("a state made under last-writer-wins revocations is worked out again once when opened, and then verifies", () => {
  const node = openTestNode(7);
  const sqlite = node.db.$client;
  const phone = signingKeyFromSeed(seed(9));
  const author = { zone: node.zone, name: "d7", key: node.key, seal: node.seal };
  appendLocalChangeset(node.db, author, foundingOps({ d7: node.key, phone }), 1000);
  const revocation = (issuedAt: number) =>
    JSON.stringify(
      signRevocation(
        {
          id: deviceIdFromPublicKey(phone.publicKey),
          name: "phone" as DeviceName,
          lastSeq: 0,
          issuedAt,
        },
        testOwner,
      ).jws,
    );
  const key = "devices/phone/revoked";
  appendLocalChangeset(node.db, author, [{ key, value: revocation(100) }], 2000);
  const second = appendLocalChangeset(node.db, author, [{ key, value: revocation(200) }], 3000);
  // What an older bucky made of it: the last writer's revocation, sealed.
  sqlite.transaction(() => {
    const tally = node.seal.tally(sqlite);
    const row = sqlite.query(`SELECT ${STATE_COLUMNS} FROM state WHERE key = ?1`).values(key)[0];
    sqlite.query("DELETE FROM state WHERE key = ?1").run(key);
    tally.removeStateRow(row as never);
    applyChangeset(sqlite, tally, second);
    tally.save();
    // An older bucky's state.db: no row of the rules it was worked out under.
    sqlite.query("DELETE FROM state_rules").run();
  })();
  const held = () =>
    (sqlite.query("SELECT value FROM state WHERE key = ?1").get(key) as { value: string }).value;
  expect(held()).toBe(revocation(200));
  expect(verifyNow(sqlite, node.seal, node.zone).problems).toHaveLength(1);

  const logged: string[] = [];
  const log = { ...quiet, info: (message: string) => logged.push(message) };
  const open = () =>
    checkIntegrity(sqlite, node.seal, node.zone, { everyRow: true, nowMs: 9000, log });
  open();
  expect(held()).toBe(revocation(100));
  expect(verifyNow(sqlite, node.seal, node.zone).problems).toEqual([]);
  open();
  expect(logged).toEqual(["worked the zone state out again under this version's rules"]);
});

test("a state made by this version is under its rules from the start: opening it writes nothing", () => {
  const sqlite = openTestNode(72).db.$client;
  expect(sqlite.query("SELECT version FROM state_rules").get()).toEqual({ version: 1 });
});
