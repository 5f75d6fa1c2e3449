/**
 * Names in an app's data that a snapshot's tree cannot hold (not UTF-8), and links to such
 * names: said to be left out, beside everything else kept, never dropped or changed without
 * a word.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { Archiver } from "./archiver.ts";
import { memorySink, treeNames } from "./test-repository.ts";

const scratch = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-archiver-names-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test("a file or directory whose name is not UTF-8 is said to be left out, each by its bytes; the rest is kept", async () => {
  const data = join(scratch, "data");
  mkdirSync(join(data, "photos"), { recursive: true });
  // Latin-1 names, as an archive made on another system unpacks them.
  const latin1 = (dir: string, name: string) =>
    Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name, "latin1")]);
  writeFileSync(latin1(data, "café.txt"), "kept nowhere");
  writeFileSync(latin1(data, "cafè.txt"), "nor this");
  mkdirSync(latin1(join(data, "photos"), "été"));
  writeFileSync(join(data, "photos", "été.jpg"), "a UTF-8 name");
  // UTF-8, with a U+FFFD of its own: decoded as the two Latin-1 names are.
  writeFileSync(join(data, "caf\uFFFD.txt"), "UTF-8 too");
  const { sink, blobs } = memorySink();
  const result = await new Archiver(sink, undefined, undefined, join(scratch, "images")).archive(
    new Map([["data", { kind: "dir", path: data }]]),
  );
  expect(treeNames(blobs, result.tree)).toEqual([
    "data",
    "data/caf\uFFFD.txt",
    "data/photos",
    "data/photos/été.jpg",
  ]);
  expect([...result.leftOut].sort()).toEqual([
    "data/caf\\xe8.txt",
    "data/caf\\xe9.txt",
    "data/photos/\\xe9t\\xe9",
  ]);
  expect(result.changing).toEqual([]);
});

test("a link whose target is not UTF-8 is said to be left out, not kept pointing elsewhere", async () => {
  const data = join(scratch, "links");
  mkdirSync(data, { recursive: true });
  symlinkSync(Buffer.from("caf\xe9.txt", "latin1"), join(data, "to-latin1"));
  symlinkSync("été.jpg", join(data, "to-utf8"));
  const { sink, blobs } = memorySink();
  const result = await new Archiver(sink, undefined, undefined, join(scratch, "images")).archive(
    new Map([["links", { kind: "dir", path: data }]]),
  );
  expect(treeNames(blobs, result.tree)).toEqual(["links", "links/to-utf8 -> été.jpg"]);
  expect(result.leftOut).toEqual(["links/to-latin1"]);
});
