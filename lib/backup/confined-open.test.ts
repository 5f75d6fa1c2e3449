import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openConfined, openInside } from "./confined-open.ts";

const base = realpathSync(mkdtempSync(join(tmpdir(), "bucky-confined-")));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const root = join(base, "data");
const outside = join(base, "secret");
mkdirSync(join(root, "db"), { recursive: true });
writeFileSync(outside, "the owner's secret\n");

const identity = (path: string) => lstatSync(path, { bigint: true });

function read(fd: number): string {
  const buffer = Buffer.alloc(100);
  const n = readSync(fd, buffer);
  closeSync(fd);
  return buffer.subarray(0, n).toString();
}

describe("openConfined", () => {
  test("opens the file that was looked at, inside the tree", () => {
    const file = join(root, "db", "notes.txt");
    writeFileSync(file, "a note\n");
    expect(read(openConfined(file, root, identity(file)) as number)).toBe("a note\n");
  });

  test("a symbolic link put in the file's place is not followed", () => {
    const file = join(root, "db", "swapped.txt");
    writeFileSync(file, "mine\n");
    const looked = identity(file);
    rmSync(file);
    symlinkSync(outside, file);
    expect(openConfined(file, root, looked)).toBeUndefined();
  });

  test("another file put in its place is not the one that was looked at", () => {
    const file = join(root, "db", "replaced.txt");
    writeFileSync(file, "mine\n");
    const looked = identity(file);
    writeFileSync(join(root, "db", "other.txt"), "other\n");
    renameSync(join(root, "db", "other.txt"), file);
    expect(openConfined(file, root, looked)).toBeUndefined();
  });

  test("a directory above it turned into a link out of the tree is caught", () => {
    const dir = join(root, "inner");
    mkdirSync(dir);
    writeFileSync(join(dir, "secret"), "decoy\n");
    // The look saw the real secret's identity, as if reached through the link.
    rmSync(dir, { recursive: true });
    symlinkSync(base, dir);
    expect(openConfined(join(dir, "secret"), root, identity(outside))).toBeUndefined();
  });

  test("what a directory swapped for a link leads to is not opened, only named", async () => {
    const away = join(base, "away");
    mkdirSync(away);
    const fifo = join(away, "notes.db");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const dir = join(root, "swapped");
    mkdirSync(dir);
    writeFileSync(join(dir, "notes.db"), "looked at\n");
    const looked = identity(join(dir, "notes.db"));
    rmSync(dir, { recursive: true });
    symlinkSync(away, dir);
    // A writer waits in open() until someone opens the FIFO to read: opening it (as a
    // device's open would run its driver) would let it through.
    const writer = Bun.spawn(["sh", "-c", `echo through > ${fifo}`]);
    // Where the kernel has it wait for a reader, by the name of that function in its code.
    const waiting = () =>
      ["wait_for_partner", "fifo_open"].includes(readFileSync(`/proc/${writer.pid}/wchan`, "utf8"));
    try {
      while (!waiting()) await Bun.sleep(5);
      expect(openConfined(join(dir, "notes.db"), root, looked)).toBeUndefined();
      expect(openInside(join(dir, "notes.db"), root)).toBeUndefined();
      expect([waiting(), writer.exitCode]).toEqual([true, null]);
    } finally {
      writer.kill("SIGKILL");
    }
  });

  test("a FIFO in its place does not hang the reader", () => {
    const fifo = join(root, "db", "pipe");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    expect(openConfined(fifo, root, identity(fifo))).toBeUndefined();
  });
});
