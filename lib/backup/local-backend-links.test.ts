/**
 * Found by an attacker review (round 4, finding 7); these tests failed before
 * its fix.
 *
 * LocalBackend.read (local-backend.ts:54-63) opens the path with openSync (:57), which follows a
 * symbolic link, and bounds the read by fstat's size (:62), which is 0 for a device, a FIFO or a
 * /proc file. Anyone who can write to a directory target (an NFS or SMB share, whose links
 * the client resolves; a drive handed around) puts a link at `config` (read by name, not
 * listed, by every backup, verify, prune and restore, and by a via's daemon for every
 * member: target-host.ts:98): to /dev/zero, a read that never ends (6.5 s to ENOMEM at a
 * 4 GB address-space limit here, synchronously, the event loop stopped meanwhile); to a
 * FIFO, a read that blocks for good; to a file of this machine, its bytes handed on (a via
 * answers a member with them).
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BuckyError } from "../errors.ts";
import { LocalBackend, readAtMost } from "./local-backend.ts";

describe("links in a directory target", () => {
  test("a read bounded to maxBytes reads no more, whatever fstat says of what is there", async () => {
    const root = join(mkdtempSync(join(tmpdir(), "bucky-local-links-")), "repo");
    mkdirSync(root, { recursive: true });
    // A file whose size fstat gives as 0, with some kilobytes in it (finite, unlike /dev/zero).
    symlinkSync("/proc/self/status", join(root, "config"));
    const read = await new LocalBackend(root).read("config", 64).then(
      (bytes) => bytes.length,
      (error: { code?: string }) => error.code,
    );
    // On main: the whole of /proc/self/status (over a kilobyte). Refused is no more read.
    expect(typeof read === "number" ? read <= 64 : typeof read === "string").toBe(true);
  });

  test("a link in the repository to a file outside it is not followed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-local-links-"));
    const root = join(dir, "repo");
    mkdirSync(join(root, "snapshots"), { recursive: true });
    const outside = join(dir, "not-the-repository's");
    writeFileSync(outside, "a file of this machine");
    symlinkSync(outside, join(root, "snapshots", "0".repeat(32)));
    const read = await new LocalBackend(root).read(`snapshots/${"0".repeat(32)}`, 1024).then(
      (bytes) => new TextDecoder().decode(bytes),
      (error: { code?: string }) => error.code,
    );
    // On main: "a file of this machine".
    expect(read).not.toBe("a file of this machine");
  });
});

describe("LocalBackend reads only regular files inside the repository", () => {
  /** A repository at `<dir>/repo` holding `snapshots/`, and a file of this machine beside it. */
  function repository(): { dir: string; root: string; outside: string } {
    const dir = mkdtempSync(join(tmpdir(), "bucky-local-links-"));
    const root = join(dir, "repo");
    mkdirSync(join(root, "snapshots"), { recursive: true });
    const outside = join(dir, "not-the-repository's");
    writeFileSync(outside, "a file of this machine");
    return { dir, root, outside };
  }

  const outcome = (read: Promise<Uint8Array>) =>
    read.then(
      (bytes) => new TextDecoder().decode(bytes),
      (error: { code?: string }) => error.code,
    );

  test("a FIFO at a repository path is refused at once, not waited on", async () => {
    const { root } = repository();
    const fifo = join(root, "config");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    // A read that waited for a writer would never settle, and the test would time out.
    expect(await outcome(new LocalBackend(root).read("config", 1024))).toBe("E_INTEGRITY");
    expect(await outcome(new LocalBackend(root).readRange("config", 0, 1))).toBe("E_INTEGRITY");
  });

  test("a directory of the repository made a link out of it is not followed", async () => {
    const { dir, root } = repository();
    mkdirSync(join(dir, "elsewhere"));
    writeFileSync(join(dir, "elsewhere", "0".repeat(32)), "a file of this machine");
    mkdirSync(join(root, "index"));
    symlinkSync(join(dir, "elsewhere"), join(root, "index", "ab"));
    const backend = new LocalBackend(root);
    expect(await outcome(backend.read(`index/ab/${"0".repeat(32)}`, 1024))).toBe("E_INTEGRITY");
    expect(await outcome(backend.readRange(`index/ab/${"0".repeat(32)}`, 0, 4))).toBe(
      "E_INTEGRITY",
    );
  });

  test("a range read does not follow a link either", async () => {
    const { root, outside } = repository();
    mkdirSync(join(root, "data", "00"), { recursive: true });
    symlinkSync(outside, join(root, "data", "00", "0".repeat(64)));
    expect(await outcome(new LocalBackend(root).readRange(`data/00/${"0".repeat(64)}`, 0, 6))).toBe(
      "E_INTEGRITY",
    );
  });

  test("the repository's root may itself be a link the person gave", async () => {
    const { dir, root } = repository();
    writeFileSync(join(root, "snapshots", "0".repeat(32)), "a snapshot");
    const link = join(dir, "backups");
    symlinkSync(root, link);
    const backend = new LocalBackend(link);
    expect(await outcome(backend.read(`snapshots/${"0".repeat(32)}`, 1024))).toBe("a snapshot");
    expect(await outcome(backend.readRange(`snapshots/${"0".repeat(32)}`, 2, 8))).toBe("snapshot");
  });

  test("a bounded read reads up to its bound, whatever fstat says", () => {
    // fstat gives a /proc file's size as 0; there is more in it.
    const fd = openSync("/proc/self/status", "r");
    try {
      expect(fstatSync(fd).size).toBe(0);
      expect(readAtMost(fd, 65).length).toBe(65);
      expect(readAtMost(fd, 1 << 20).length).toBeGreaterThan(65);
    } finally {
      closeSync(fd);
    }
  });

  test("a bounded read of a regular file reads it whole, or up to the bound", () => {
    const { root } = repository();
    const path = join(root, "snapshots", "grown");
    writeFileSync(path, "x".repeat(100_000));
    const fd = openSync(path, "r");
    try {
      expect(readAtMost(fd, 100_000).length).toBe(100_000);
      expect(readAtMost(fd, 99_999).length).toBe(99_999);
      expect(readAtMost(fd, 1 << 20).length).toBe(100_000);
    } finally {
      closeSync(fd);
    }
  });
});

describe("LocalBackend lists, writes and removes nothing through a link inside the repository", () => {
  /** A repository whose data/00 is a link to a directory of this machine holding a file. */
  function linkedOut(): { root: string; mine: string } {
    const dir = mkdtempSync(join(tmpdir(), "bucky-local-links-"));
    const root = join(dir, "repo");
    mkdirSync(join(root, "data"), { recursive: true });
    const mine = join(dir, "mine");
    mkdirSync(mine);
    writeFileSync(join(mine, "notes.txt"), "mine");
    symlinkSync(mine, join(root, "data", "00"));
    return { root, mine };
  }

  const code = (act: Promise<unknown>) =>
    act.then(
      () => "done",
      (error: { code?: string }) => error.code,
    );

  test("a directory of the repository made a link out of it is not listed", async () => {
    // A prune lists every data/<xx> and removes what no index names as a stray pack.
    const { root } = linkedOut();
    expect(await code(new LocalBackend(root).list("data/00"))).toBe("E_INTEGRITY");
  });

  test("nor removed from", async () => {
    const { root, mine } = linkedOut();
    expect(await code(new LocalBackend(root).remove("data/00/notes.txt"))).toBe("E_INTEGRITY");
    expect(readdirSync(mine)).toEqual(["notes.txt"]);
  });

  test("nor written to, nor made directories in", async () => {
    const { root, mine } = linkedOut();
    const backend = new LocalBackend(root);
    expect(await code(backend.write("data/00/planted", new Uint8Array(1)))).toBe("E_INTEGRITY");
    expect(await code(backend.create("data/00/sub/planted", new Uint8Array(1)))).toBe(
      "E_INTEGRITY",
    );
    expect(readdirSync(mine)).toEqual(["notes.txt"]);
  });

  test("a root that is a link is listed, written and removed from as ever", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-local-links-"));
    mkdirSync(join(dir, "repo"));
    symlinkSync(join(dir, "repo"), join(dir, "backups"));
    const backend = new LocalBackend(join(dir, "backups"));
    await backend.write("data/00/pack", new Uint8Array([1]));
    expect(await backend.create("index/a", new Uint8Array([2]))).toBe(true);
    expect(await backend.list("data/00")).toEqual(["pack"]);
    await backend.remove("data/00/pack");
    expect(await backend.list("data/00")).toEqual([]);
    expect(await backend.list("missing")).toEqual([]);
    await backend.remove("missing/file");
  });

  test("a repository made where nothing is yet is made, directories and all", async () => {
    const root = join(mkdtempSync(join(tmpdir(), "bucky-local-links-")), "new", "repo");
    const backend = new LocalBackend(root);
    await backend.write("hot/laptop/file", new Uint8Array([3]));
    expect(await backend.read("hot/laptop/file", 16)).toEqual(new Uint8Array([3]));
  });

  test("a repository gone since it was opened (its disk unplugged) is not made again where it was", async () => {
    const root = join(mkdtempSync(join(tmpdir(), "bucky-local-links-")), "usb");
    mkdirSync(root);
    const backend = new LocalBackend(root);
    await backend.write("hot/first", new Uint8Array([1]));
    rmSync(root, { recursive: true });
    const refused = await backend.write("hot/second", new Uint8Array([2])).catch((e) => e);
    expect(refused).toBeInstanceOf(BuckyError);
    expect((refused as BuckyError).code).toBe("E_UNAVAILABLE");
    expect(existsSync(root)).toBe(false);
  });

  test("a repository on a disk unmounted since it was opened is not written to in the empty mount point", async () => {
    const root = join(mkdtempSync(join(tmpdir(), "bucky-local-links-")), "usb");
    mkdirSync(root);
    const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", root]);
    expect(mount.status).toBe(0); // as root, as the test command runs
    const backend = new LocalBackend(root);
    await backend.write("hot/first", new Uint8Array([1]));
    expect(spawnSync("umount", [root]).status).toBe(0);
    const refused = await backend.write("hot/second", new Uint8Array([2])).catch((e) => e);
    expect((refused as BuckyError).code).toBe("E_UNAVAILABLE");
    expect(readdirSync(root)).toEqual([]);
  });
});
