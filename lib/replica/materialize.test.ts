/**
 * A takeover's data written out from a replica: every directory of it, and the move into
 * place, made durable before it returns (a takeover is claimed next); and what counts as
 * data there, its links never followed.
 */
import { afterAll, expect, spyOn, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeTree } from "../../protocol/backup/formats.ts";
import * as atomicFile from "../atomic-file.ts";
import { entriesUnder } from "../disk/tree.ts";
import { BuckyError } from "../errors.ts";
import { holdsFiles, replaceData } from "./materialize.ts";
import { blobId, ReplicaDb } from "./replica-db.ts";
import { takeSnapshot } from "./snapshot.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-materialize-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test("the data, each directory of it, and its move into place are synced before it returns", async () => {
  const holderData = join(scratch, "holder");
  mkdirSync(join(holderData, "db"), { recursive: true });
  writeFileSync(join(holderData, "db", "notes.db"), "the notes");
  const db = new ReplicaDb(join(scratch, "replica", "replica.db"));
  const head = await takeSnapshot({
    db,
    dataDir: holderData,
    cacheDir: join(scratch, "cache"),
    head: { app: "notes", epoch: 1, seq: 1, holder: "nas", at: Date.now(), final: false },
  });
  const apps = join(scratch, "apps", "notes");
  mkdirSync(apps, { recursive: true });
  const synced = spyOn(atomicFile, "fsyncDirectory");
  try {
    replaceData(db, head.root, join(apps, "data"));
    expect(readFileSync(join(apps, "data", "db", "notes.db"), "utf8")).toBe("the notes");
    // Written beside the data first, then moved in: each directory, then the move.
    expect(synced.mock.calls.map(([dir]) => dir)).toEqual([
      join(apps, "data.incoming", "db"),
      join(apps, "data.incoming"),
      apps,
    ]);
  } finally {
    synced.mockRestore();
    db.close();
  }
});

test("data holding links to / and to itself: a link is a file of its data, never followed", () => {
  const data = join(scratch, "linked", "data");
  mkdirSync(join(data, "empty", "too"), { recursive: true });
  // A tree of empty directories is no data.
  expect(holdsFiles(data)).toBe(false);
  symlinkSync("/", join(data, "empty", "root"));
  symlinkSync(".", join(data, "self"));
  // Followed, the first walked the whole machine, the second threw ELOOP.
  expect(holdsFiles(data)).toBe(true);
  expect([...entriesUnder(data)].map((entry) => entry.path).sort()).toEqual([
    join(data, "empty", "root"),
    join(data, "self"),
  ]);
});

test("a file's setuid and setgid bits from the holder's snapshot are not kept", async () => {
  const holderData = join(scratch, "setuid-holder");
  mkdirSync(join(holderData, "bin"), { recursive: true });
  writeFileSync(join(holderData, "bin", "tool"), "#!/bin/sh\n");
  chmodSync(join(holderData, "bin", "tool"), 0o6755);
  chmodSync(join(holderData, "bin"), 0o2755);
  const db = new ReplicaDb(join(scratch, "setuid-replica", "replica.db"));
  const head = await takeSnapshot({
    db,
    dataDir: holderData,
    cacheDir: join(scratch, "setuid-cache"),
    head: { app: "notes", epoch: 1, seq: 1, holder: "nas", at: Date.now(), final: false },
  });
  const apps = join(scratch, "setuid-apps", "notes");
  mkdirSync(apps, { recursive: true });
  try {
    replaceData(db, head.root, join(apps, "data"));
    const modes = ["bin/tool", "bin"].map(
      (path) => statSync(join(apps, "data", path)).mode & 0o7777,
    );
    expect(modes.map((mode) => mode.toString(8))).toEqual(["755", "755"]);
  } finally {
    db.close();
  }
});

test("a peer's copy nested without end is refused by name, as no fault of bucky's, and leaves nothing", () => {
  const db = new ReplicaDb(join(scratch, "deep-replica", "replica.db"));
  // 2,000 directories, each the only one in the one above: a path far past what Linux
  // takes, which failed the takeover with a raw ENAMETOOLONG (a fault ending the daemon).
  let tree = encodeTree([]);
  db.put(blobId(tree), tree);
  for (let level = 0; level < 2_000; level++) {
    tree = encodeTree([
      { type: "dir", name: "deeper", mode: 0o755, mtimeNs: "0", subtree: blobId(tree) },
    ]);
    db.put(blobId(tree), tree);
  }
  const root = encodeTree([
    { type: "dir", name: "data", mode: 0o755, mtimeNs: "0", subtree: blobId(tree) },
  ]);
  db.put(blobId(root), root);
  const apps = join(scratch, "deep-apps", "notes");
  mkdirSync(apps, { recursive: true });
  try {
    let thrown: unknown;
    try {
      replaceData(db, blobId(root), join(apps, "data"));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BuckyError);
    expect((thrown as BuckyError).message).toContain("nest deeper than");
    expect(existsSync(join(apps, "data.incoming"))).toBe(false);
  } finally {
    db.close();
  }
});
