/**
 * Found by an attacker review (round 5); these tests failed before
 * its fix.
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
import { randomBytes } from "node:crypto";
import { closeSync, constants, mkdirSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import { MAX_CONFIG_FILE_BYTES } from "../../protocol/backup/formats.ts";
import { type Sshd, startSshd } from "../../test/sshd.ts";
import { Repository } from "./repository.ts";
import { SftpBackend } from "./sftp-backend.ts";

let sshd: Sshd;
const fifos: string[] = [];
const root = randomBytes(32);

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

test("a FIFO at config on an SFTP target fails the read within bounds, not hangs", async () => {
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
    // The connection was ended, said as a target away for now; later requests fail alike.
    expect(outcome).toBe("refused: E_UNAVAILABLE");
    const later = await backend.list("data/00").catch((error: { code?: string }) => error.code);
    expect(later).toBe("E_UNAVAILABLE");
  } finally {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    await backend.close();
  }
}, 30_000);

test("Repository.open over a FIFO at config fails, and the next connection works", async () => {
  const dir = join(sshd.root, "fifo-repo-open");
  mkdirSync(dir);
  const fifo = join(dir, "config");
  expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
  fifos.push(fifo);
  const url = `sftp://${sshd.user}@127.0.0.1:${sshd.port}${dir}`;
  const options = { identityFile: sshd.identityFile, hostKey: sshd.hostKey, timeoutMs: 600 };
  // What every backup run and the daemon's hot shipper do first with a target.
  const stuck = await SftpBackend.connect(url, options);
  const opened = await Repository.open(stuck, root)
    .then((repository) => {
      repository.close();
      return "opened";
    })
    .catch((error: { code?: string; message?: string }) => `${error.code}: ${error.message}`);
  await stuck.close();
  expect(opened).toStartWith("E_UNAVAILABLE: the SFTP server at 127.0.0.1");
  // The server let go of the FIFO (a writer came and went): a new connection reads again.
  closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
  rmSync(fifo);
  const fresh = await SftpBackend.connect(url, options);
  try {
    await fresh.write("probe", new Uint8Array([1, 2, 3]));
    expect(await fresh.read("probe", 3)).toEqual(new Uint8Array([1, 2, 3]));
  } finally {
    await fresh.close();
  }
}, 30_000);
