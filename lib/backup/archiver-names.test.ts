/**
 * Names in an app's data that a snapshot's tree cannot hold (not UTF-8): said to be left
 * out, beside everything else kept, never dropped without a word.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { Archiver } from "./archiver.ts";
import { memorySink, treeNames } from "./test-repository.ts";

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
  const { sink, blobs } = memorySink();
  const result = await new Archiver(sink, undefined, undefined, join(scratch, "images")).archive(
    new Map([["data", { kind: "dir", path: data }]]),
  );
  expect(treeNames(blobs, result.tree)).toEqual([
    "data",
    "data/photos",
    "data/photos/a \uFFFD in its name.txt",
    "data/photos/été.jpg",
  ]);
  expect([...result.leftOut].sort()).toEqual(["data/caf\uFFFD.txt", "data/photos/\uFFFDt\uFFFD"]);
  expect(result.changing).toEqual([]);
});
