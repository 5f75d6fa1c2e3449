/**
 * An attacker review (round 4, findings 1 and 5) found the bug these tests show; they failed before its fix.
 *
 * The SFTP backend against a hostile server: one that answers a directory listing with
 * whatever it likes. A real OpenSSH server (test/sshd.ts) cannot list a name holding "/",
 * nor a listing that never ends, so the server here is ssh2's own, playing the host of a
 * target someone else runs (the threat model names "a hostile SFTP host").
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { type Connection, Server, utils } from "ssh2";
import { SftpBackend } from "./sftp-backend.ts";
import { newEd25519KeyPair } from "./ssh-key.ts";

const { STATUS_CODE } = utils.sftp;
const scratch = mkdtempSync(join(tmpdir(), "bucky-sftp-hostile-test-"));
const identityFile = join(scratch, "id_ed25519");
const REGULAR_FILE = 0o100644;
const DIRECTORY = { mode: 0o040755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0 };

/** How the server answers a READDIR: the names of one answer, or none at the end. */
type Lister = () => string[] | undefined;
let lister: Lister = () => undefined;
/** How many names the server has sent since the last reset. */
let namesSent = 0;
let server: Server;
let port = 0;
const clients = new Set<Connection>();

beforeAll(async () => {
  writeFileSync(identityFile, (await newEd25519KeyPair()).private, { mode: 0o600 });
  const hostKey = (await newEd25519KeyPair()).private;
  server = new Server({ hostKeys: [hostKey] }, (client) => {
    clients.add(client);
    client.on("close", () => clients.delete(client));
    client.on("error", () => {});
    client.on("authentication", (context) => context.accept());
    client.on("ready", () =>
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        session.on("sftp", (acceptSftp) => {
          const sftp = acceptSftp();
          let done = false;
          sftp.on("OPENDIR", (reqid) => {
            done = false;
            sftp.handle(reqid, Buffer.from("dir"));
          });
          sftp.on("READDIR", (reqid) => {
            const names = done ? undefined : lister();
            if (!names) {
              done = true;
              sftp.status(reqid, STATUS_CODE.EOF);
              return;
            }
            namesSent += names.length;
            sftp.name(
              reqid,
              names.map((filename) => ({
                filename,
                longname: filename,
                attrs: { mode: REGULAR_FILE, uid: 0, gid: 0, size: 1, atime: 0, mtime: 0 },
              })),
            );
          });
          sftp.on("CLOSE", (reqid) => sftp.status(reqid, STATUS_CODE.OK));
          // Every directory is where its path says (no links): the backend asks before it lists.
          sftp.on("REALPATH", (reqid, path) =>
            sftp.name(reqid, [
              { filename: posix.normalize(path), longname: path, attrs: DIRECTORY },
            ]),
          );
        });
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const client of clients) client.end();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(scratch, { recursive: true, force: true });
});

const connect = () =>
  SftpBackend.connect(`sftp://me@127.0.0.1:${port}/srv/repository`, {
    identityFile,
    timeoutMs: 5_000,
  });

describe("an SFTP server listing what it likes", () => {
  test("finding 1: a listing holds only names of files in the directory listed, none that leads out of it", async () => {
    const hostile = `0/${"../".repeat(20)}dev/zero`;
    let sent = false;
    lister = () => {
      if (sent) return undefined;
      sent = true;
      return ["0123456789abcdef0123456789abcdef", hostile];
    };
    const backend = await connect();
    try {
      const names = await backend.list("index");
      // On main: the hostile name is listed, and Repository.readIndexFile looks it up in
      // the cache (join(cacheDir, "index", name): /dev/zero) before anything checks it.
      expect(names.filter((name) => name.includes("/"))).toEqual([]);
    } finally {
      await backend.close();
    }
  });

  test("finding 5: a listing that never ends is refused, not held in memory whole", async () => {
    // Far more entries than one directory of a repository holds (an index file per 16 MiB
    // pack: a million is 16 TB), streamed for as long as the client asks.
    const stopAt = 1_000_000;
    let next = 0;
    namesSent = 0;
    lister = () =>
      namesSent >= stopAt
        ? undefined
        : Array.from({ length: 1000 }, () => (next++).toString(16).padStart(32, "0"));
    const backend = await connect();
    try {
      const listed = await backend.list("index").then(
        (names) => names.length,
        () => "refused",
      );
      // On main: all 1000000, every one held at once (ssh2's readdir reads to the end).
      expect(listed).toBe("refused");
    } finally {
      await backend.close();
    }
  });
});

describe("an SFTP server listing names that are no file's", () => {
  test("names that are no plain segment are left out and counted; the rest of the listing stands", async () => {
    const good = ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"];
    let sent = false;
    lister = () => {
      if (sent) return undefined;
      sent = true;
      // The last but one is longer than any file name (NAME_MAX is 255 bytes: 2 each here).
      return [
        good[0] as string,
        "0/../../etc/passwd",
        "a\u0000b",
        "",
        "..",
        "é".repeat(128),
        good[1] as string,
      ];
    };
    const backend = await connect();
    try {
      expect(await backend.list("index")).toEqual(good);
      // "" and NUL and "/" and the long one (".." is a dot name, left out as every one is,
      // and not counted).
      expect(backend.leftOutNames).toBe(4);
    } finally {
      await backend.close();
    }
  });
});
