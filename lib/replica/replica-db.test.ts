import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeTree } from "../../protocol/backup/formats.ts";
import { runAll } from "../sliced.ts";
import { syncsBetweenMarks } from "../store/test-syncs.ts";
import { ReplicaDb } from "./replica-db.ts";
import { takeSnapshot } from "./snapshot.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-replica-db-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("reading a copy back", () => {
  test("finds a blob whose bytes a disk changed, and one missing; a whole copy has none", async () => {
    const data = join(scratch, "data");
    mkdirSync(join(data, "db"), { recursive: true });
    for (const name of ["a", "b", "c"]) writeFileSync(join(data, "db", name), name.repeat(5000));
    const path = join(scratch, "replica", "replica.db");
    const db = new ReplicaDb(path);
    const head = await takeSnapshot({
      db,
      dataDir: data,
      cacheDir: join(scratch, "replica", "cache"),
      head: { app: "notes", epoch: 1, seq: 1, holder: "nas", at: 1000, final: false },
    });
    expect(runAll(db.damagedSteps(head.root))).toEqual([]);
    // Two chunks of files (a damaged tree hides what is below it: it counts alone).
    const chunks: string[] = [];
    const walk = (tree: string): void => {
      for (const node of decodeTree(db.get(tree) as Uint8Array)) {
        if (node.type === "dir") walk(node.subtree);
        else if (node.type === "file") chunks.push(...node.content);
      }
    };
    walk(head.root);
    const [changed, missing] = chunks as [string, string];
    // As a failing disk would: the same row, other bytes.
    const raw = new Database(path);
    raw.query("UPDATE blobs SET bytes = ?1 WHERE id = ?2").run(new Uint8Array([1, 2, 3]), changed);
    raw.close();
    db.drop(missing);
    expect(runAll(db.damagedSteps(head.root)).sort()).toEqual([changed, missing].sort());
    db.close();
  });
});

describe("a replica's head", () => {
  test("is set durably: its log synced at each, though blobs are not", async () => {
    const syncs = await syncsBetweenMarks(`
import { ReplicaDb } from ${JSON.stringify(join(import.meta.dir, "replica-db.ts"))};
const db = new ReplicaDb(${JSON.stringify(join(scratch, "durable", "replica.db"))});
const head = (seq: number) => ({
  app: "notes", epoch: 1, seq, holder: "nas", at: seq, final: false,
  root: "r", content: "c", files: 0, bytes: 0, addedBytes: 0,
});
db.setHead(head(1));
mark("begin");
for (let seq = 2; seq <= 4; seq++) db.setHead(head(seq));
mark("end");
db.close();
`);
    // A power cut lost the last heads: the holder numbered anew snapshots already served.
    expect(syncs).toBeGreaterThanOrEqual(3);
  });
});
