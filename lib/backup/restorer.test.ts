/**
 * Restoring over what a directory already holds (`backup restore --to DIR --force`): what
 * is there below it is replaced, never written through, whatever an earlier restore or an
 * app's links left there.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { LocalBackend } from "./local-backend.ts";
import { Repository } from "./repository.ts";
import { restoreTree } from "./restorer.ts";
import { archiveDir, outcome, scratchDirs } from "./test-repository.ts";

const newDir = scratchDirs("bucky-restorer-");

/** A repository holding one tree: data/cfg/passwd, data/plain, data/hard, data/note -> cfg/passwd. */
async function repositoryWithTree(): Promise<{ repository: Repository; tree: string }> {
  const source = newDir();
  mkdirSync(join(source, "cfg"));
  writeFileSync(join(source, "cfg", "passwd"), "restored passwd");
  writeFileSync(join(source, "plain"), "restored plain");
  writeFileSync(join(source, "hard"), "restored hard");
  symlinkSync("cfg/passwd", join(source, "note"));
  const repository = await Repository.openOrCreate(
    new LocalBackend(newDir()),
    new Uint8Array(randomBytes(32)),
  );
  const archived = await archiveDir(repository, source);
  return { repository, tree: archived.tree };
}

/** A directory outside the destination, with files a restore must leave as they are. */
function outsideDir(): string {
  const outside = newDir();
  for (const name of ["passwd", "plain", "hard"]) writeFileSync(join(outside, name), "original");
  return outside;
}

/** What `outside` holds: its names, and its files' contents. */
const outsideFiles = (outside: string) => ({
  names: readdirSync(outside).sort(),
  contents: ["passwd", "plain", "hard"].map((name) => readFileSync(join(outside, name), "utf8")),
});
const untouched = {
  names: ["hard", "passwd", "plain"],
  contents: ["original", "original", "original"],
};

describe("a restore over a directory that holds links and files", () => {
  test("replaces them, and writes nothing outside the destination", async () => {
    const { repository, tree } = await repositoryWithTree();
    try {
      const outside = outsideDir();
      const to = newDir();
      mkdirSync(join(to, "data"));
      symlinkSync(outside, join(to, "data", "cfg"));
      symlinkSync(join(outside, "plain"), join(to, "data", "plain"));
      linkSync(join(outside, "hard"), join(to, "data", "hard"));
      writeFileSync(join(to, "data", "note"), "a file where the snapshot has a link");

      expect((await restoreTree(repository, tree, to)).damaged).toEqual([]);

      expect(outsideFiles(outside)).toEqual(untouched);
      expect(lstatSync(join(to, "data", "cfg")).isDirectory()).toBe(true);
      expect(
        ["cfg/passwd", "plain", "hard"].map((name) => readFileSync(join(to, "data", name), "utf8")),
      ).toEqual(["restored passwd", "restored plain", "restored hard"]);
      expect(readlinkSync(join(to, "data", "note"))).toBe("cfg/passwd");
    } finally {
      repository.close();
    }
  });

  test("of one path: a link among its parents is replaced, not followed", async () => {
    const { repository, tree } = await repositoryWithTree();
    try {
      const outside = outsideDir();
      const to = newDir();
      symlinkSync(outside, join(to, "data"));
      await restoreTree(repository, tree, to, { path: "data/cfg/passwd" });
      expect(outsideFiles(outside)).toEqual(untouched);
      expect(readFileSync(join(to, "data", "cfg", "passwd"), "utf8")).toBe("restored passwd");
    } finally {
      repository.close();
    }
  });

  test("a directory where the snapshot has a file is refused by name, and kept", async () => {
    const { repository, tree } = await repositoryWithTree();
    try {
      const to = newDir();
      mkdirSync(join(to, "data", "plain"), { recursive: true });
      writeFileSync(join(to, "data", "plain", "mine"), "mine");
      expect(await outcome(restoreTree(repository, tree, to))).toBe(
        `E_EXISTS: cannot restore ${join(to, "data", "plain")}: the snapshot has a file there, and a directory is in its way`,
      );
      expect(readFileSync(join(to, "data", "plain", "mine"), "utf8")).toBe("mine");
    } finally {
      repository.close();
    }
  });
});
