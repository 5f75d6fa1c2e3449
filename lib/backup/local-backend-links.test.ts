/**
 * REVIEW ROUND 4 (wt9/review), finding 7: these tests FAIL ON MAIN. They show a bug; the fix
 * is not part of this branch.
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
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalBackend } from "./local-backend.ts";

describe("REVIEW ROUND 4 (fails on main): links in a directory target", () => {
  test("a read bounded to maxBytes reads no more, whatever fstat says of what is there", async () => {
    const root = join(mkdtempSync(join(tmpdir(), "bucky-local-links-")), "repo");
    mkdirSync(root, { recursive: true });
    // A file whose size fstat gives as 0, with some kilobytes in it (finite, unlike /dev/zero).
    symlinkSync("/proc/self/status", join(root, "config"));
    const read = await new LocalBackend(root).read("config", 64).then(
      (bytes) => bytes.length,
      (error: { code?: string }) => error.code,
    );
    // On main: the whole of /proc/self/status (over a kilobyte).
    expect(typeof read === "number" ? read <= 64 : read).toBe(true);
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
