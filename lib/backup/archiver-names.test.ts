/**
 * Names in an app's data that a snapshot's tree cannot hold (not UTF-8): said to be left
 * out, beside everything else kept, never dropped without a word.
 */
import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Chunker } from "../../protocol/backup/chunker.ts";
import { decodeTree, type TreeNode } from "../../protocol/backup/formats.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { Archiver, type BlobSink } from "./archiver.ts";

const scratch = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-archiver-names-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test("a file or directory whose name is not UTF-8 is said to be left out; the rest is kept", async () => {
  const data = join(scratch, "data");
  mkdirSync(join(data, "photos"), { recursive: true });
  // Latin-1 names, as an archive made on another system unpacks them.
  const latin1 = (dir: string, name: string) =>
    Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name, "latin1")]);
  writeFileSync(latin1(data, "café.txt"), "kept nowhere");
  mkdirSync(latin1(join(data, "photos"), "été"));
  writeFileSync(join(data, "photos", "été.jpg"), "a UTF-8 name");
  writeFileSync(join(data, "photos", "a \uFFFD in its name.txt"), "UTF-8 too");
  const blobs = new Map<string, Uint8Array>();
  const sink: BlobSink = {
    chunker: new Chunker(new Uint8Array(32)),
    has: (id) => blobs.has(id),
    async add(_type, plaintext) {
      const id = createHash("sha256").update(plaintext).digest("hex");
      blobs.set(id, new Uint8Array(plaintext));
      return { id, added: plaintext.length };
    },
    room: async () => {},
    flush: async () => {},
  };
  const result = await new Archiver(sink, undefined, undefined, join(scratch, "images")).archive(
    new Map([["data", { kind: "dir", path: data }]]),
  );
  const names: string[] = [];
  const walk = (tree: string, prefix: string) => {
    for (const node of decodeTree(blobs.get(tree) as Uint8Array)) {
      const path = prefix ? `${prefix}/${node.name}` : node.name;
      names.push(path);
      if (node.type === "dir") walk((node as TreeNode & { subtree: string }).subtree, path);
    }
  };
  walk(result.tree, "");
  expect(names.sort()).toEqual([
    "data",
    "data/photos",
    "data/photos/a \uFFFD in its name.txt",
    "data/photos/été.jpg",
  ]);
  expect([...result.leftOut].sort()).toEqual(["data/caf\uFFFD.txt", "data/photos/\uFFFDt\uFFFD"]);
  expect(result.changing).toEqual([]);
});
