/**
 * REVIEW ROUND 5 (wt9/review2): this test FAILS ON MAIN. It shows a bug; no fix is part of
 * this branch.
 *
 * A FIFO in a repository served by a real OpenSSH server. Anyone with the target's
 * credentials and a shell there (or anyone who can write to the disk it serves) can make
 * one, at config say: the server's open(2) of it for reading waits for a writer, for good.
 * The SSH connection itself stays healthy (sshd still answers keepalives: only the SFTP
 * subsystem waits), so the backend's timeout (keepalives, as in "a server that stops
 * answering fails the operation within the timeout") never fires, and the read never
 * settles. Round 4 kept LocalBackend from blocking on a FIFO (O_NONBLOCK); SftpBackend has
 * no bound on a request's time at all.
 *
 * Where it bites: Repository.open reads config first, in every `bucky backup` run (the
 * scheduler's next run of a target waits on the one still running), in the daemon's hot
 * shipper (HotShipper.ship awaits it, so no target gets hot changesets any more, and
 * HotShipper.stop awaits ship: the daemon's stop waits for good), and in a via's daemon
 * serving members (target-host.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, constants, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { MAX_CONFIG_FILE_BYTES } from "../../protocol/backup/formats.ts";
import { type Sshd, startSshd } from "../../test/sshd.ts";
import { SftpBackend } from "./sftp-backend.ts";

let sshd: Sshd;
const fifos: string[] = [];

beforeAll(async () => {
  sshd = await startSshd();
});

afterAll(async () => {
  // Lets a server still waiting on a FIFO go on (a writer that closes: end of file).
  for (const fifo of fifos) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // No reader waits on it.
    }
  }
  await sshd?.stop();
});

test("REVIEW ROUND 5 (fails on main): a FIFO at config on an SFTP target fails the read within bounds, not hangs", async () => {
  const dir = join(sshd.root, "fifo-repo");
  mkdirSync(dir);
  const fifo = join(dir, "config");
  expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
  fifos.push(fifo);
  const timeoutMs = 600;
  const backend = await SftpBackend.connect(`sftp://${sshd.user}@127.0.0.1:${sshd.port}${dir}`, {
    identityFile: sshd.identityFile,
    hostKey: sshd.hostKey,
    timeoutMs,
  });
  try {
    // Ten times the backend's own timeout: a frozen connection fails within five (the
    // test in sftp-backend.test.ts). On main the read is still pending here, and for good.
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      backend.read("config", MAX_CONFIG_FILE_BYTES).then(
        () => "read",
        (error: { code?: string }) => `refused: ${error.code}`,
      ),
      new Promise<string>((resolve) => {
        deadline = setTimeout(() => resolve("still pending"), 10 * timeoutMs);
      }),
    ]);
    clearTimeout(deadline);
    expect(outcome).not.toBe("still pending");
  } finally {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    await backend.close();
  }
}, 30_000);
