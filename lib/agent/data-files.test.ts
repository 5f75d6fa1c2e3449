import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataDirectory, dataPathProblem } from "./data-files.ts";

const root = mkdtempSync(join(tmpdir(), "bucky-data-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, "notes"));
mkdirSync(join(root, "private"));
writeFileSync(join(root, "notes", "todo.txt"), "milk\n");
writeFileSync(join(root, "private", "secret.txt"), "1234\n");
symlinkSync("../private", join(root, "notes", "to-private"));
spawnSync("mkfifo", [join(root, "notes", "pipe")]);
const data = new DataDirectory(root);
const onlyNotes = (path: string) => path === "notes" || path.startsWith("notes/");

describe("paths as agents give them", () => {
  test.each(["", "notes", "notes/todo.txt", "a b/c.txt", "100%.txt", "...", ".hidden"])(
    "%p is plain",
    (path) => expect(dataPathProblem(path)).toBeUndefined(),
  );

  test.each([
    ["../x", "climb out"],
    ["notes/../private", "climb out"],
    ["notes/./todo.txt", "empty or . parts"],
    ["notes//todo.txt", "empty or . parts"],
    ["notes/", "empty or . parts"],
    ["/etc/passwd", "does not start with /"],
    ["notes\\..\\private", "never \\"],
    ["notes/%2e%2e/private", "percent-encoded"],
    ["notes%2Fx", "percent-encoded"],
    ["notes/\0", "control characters"],
    ["a".repeat(1025), "at most 1024"],
  ])("%p is refused (%s)", (path, why) => {
    expect(dataPathProblem(path)).toContain(why);
  });
});

describe("the data directory", () => {
  test("a FIFO is refused at once, not waited on", async () => {
    await expect(data.read("notes/pipe", onlyNotes)).rejects.toThrow("not a regular file");
    await expect(
      data.search("notes/pipe", "x", { read: onlyNotes, enter: onlyNotes }),
    ).rejects.toThrow("not a regular file");
    // A search passes it by.
    expect(await data.search("notes", "milk", { read: onlyNotes, enter: onlyNotes })).toMatchObject(
      { matches: [{ path: "data/notes/todo.txt", line: "milk" }] },
    );
  });

  test("a link is judged by where it leads: read, searched from or written through", async () => {
    await expect(data.read("notes/to-private/secret.txt", onlyNotes)).rejects.toThrow(
      "which was not granted",
    );
    await expect(
      data.search("notes/to-private", "1234", { read: onlyNotes, enter: onlyNotes }),
    ).rejects.toThrow("which was not granted");
    await expect(data.write("notes/to-private/planted.txt", "x", false, onlyNotes)).rejects.toThrow(
      "where writing was not granted",
    );
    expect(await data.read("notes/to-private/secret.txt", () => true)).toMatchObject({
      text: "1234\n",
    });
  });
});
