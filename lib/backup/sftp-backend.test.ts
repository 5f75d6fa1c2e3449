/**
 * The SFTP backend against a real OpenSSH server on loopback, and the same conformance
 * checks against LocalBackend: both must behave alike, file for file and error for error.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Sshd, startSshd } from "../../test/sshd.ts";
import { BuckyError } from "../errors.ts";
import type { Backend } from "./backend.ts";
import { LocalBackend } from "./local-backend.ts";
import {
  defaultIdentityFile,
  hostKeyFingerprint,
  probeSftp,
  SftpBackend,
  type SftpOptions,
} from "./sftp-backend.ts";

let sshd: Sshd;
const scratch = mkdtempSync(join(tmpdir(), "bucky-backend-"));
const open: Backend[] = [];
const mounts: string[] = [];

beforeAll(async () => {
  sshd = await startSshd();
});

afterAll(async () => {
  await Promise.all(open.map((backend) => backend.close()));
  for (const mount of mounts) run("umount", ["-l", mount]);
  await sshd?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

let repositories = 0;

/** A backend on a new empty repository, and the local directory that holds it. */
interface Fixture<B extends Backend = Backend> {
  readonly backend: B;
  readonly dir: string;
}

async function sftpRepository(options: SftpOptions = {}): Promise<Fixture<SftpBackend>> {
  const dir = join(sshd.root, `repo-${++repositories}`);
  const backend = await SftpBackend.connect(sftpUrl(dir), {
    identityFile: sshd.identityFile,
    hostKey: sshd.hostKey,
    ...options,
  });
  open.push(backend);
  return { backend, dir };
}

async function localRepository(): Promise<Fixture> {
  const dir = join(scratch, `repo-${++repositories}`);
  return { backend: new LocalBackend(dir), dir };
}

function sftpUrl(dir: string, port = sshd.port): string {
  return `sftp://${sshd.user}@127.0.0.1:${port}${dir}`;
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** The BuckyError code `promise` rejects with. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BuckyError) return error.code;
    throw error;
  }
  throw new Error("it did not fail");
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await Bun.sleep(1);
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${result.stderr}`);
}

/** A small tmpfs at `dir`, so a test can fill it or make it immutable. */
function mountTmpfs(dir: string, sizeBytes: number): void {
  mkdirSync(dir, { recursive: true });
  run("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", dir]);
  mounts.push(dir);
}

function conformance(name: string, repository: () => Promise<Fixture>): void {
  describe(`${name} conformance`, () => {
    test("writes and reads back, creating directories", async () => {
      const { backend } = await repository();
      await backend.write("a/b/c.bin", bytes("hello"));
      await backend.write("empty", new Uint8Array());
      expect(text(await backend.read("a/b/c.bin", 1024))).toBe("hello");
      expect(await backend.read("empty", 1024)).toEqual(new Uint8Array());
    });

    test("write replaces an existing file and leaves no temporary file", async () => {
      const { backend, dir } = await repository();
      await backend.write("x", bytes("first"));
      await backend.write("x", bytes("second"));
      expect(text(await backend.read("x", 1024))).toBe("second");
      expect(readdirSync(dir)).toEqual(["x"]);
    });

    test("create writes only if absent", async () => {
      const { backend, dir } = await repository();
      expect(await backend.create("d/once", bytes("first"))).toBe(true);
      expect(await backend.create("d/once", bytes("second"))).toBe(false);
      expect(text(await backend.read("d/once", 1024))).toBe("first");
      expect(readdirSync(join(dir, "d"))).toEqual(["once"]);
    });

    test("readRange reads a slice, and a short file is an integrity fault", async () => {
      const { backend } = await repository();
      await backend.write("r", bytes("0123456789"));
      expect(text(await backend.readRange("r", 3, 4))).toBe("3456");
      expect(text(await backend.readRange("r", 0, 10))).toBe("0123456789");
      expect(await backend.readRange("r", 10, 0)).toEqual(new Uint8Array());
      expect(await codeOf(backend.readRange("r", 8, 3))).toBe("E_INTEGRITY");
      expect(await codeOf(backend.readRange("missing", 0, 1))).toBe("E_NOT_FOUND");
    });

    test("list names files only, without dotfiles; a missing directory is empty", async () => {
      const { backend, dir } = await repository();
      await backend.write("l/one", bytes("1"));
      await backend.write("l/two", bytes("2"));
      await backend.write("l/sub/three", bytes("3"));
      writeFileSync(join(dir, "l", ".hidden"), "h");
      expect((await backend.list("l")).sort()).toEqual(["one", "two"]);
      expect(await backend.list("nowhere")).toEqual([]);
    });

    test("listTemporaries names only what a write cut off leaves, which a prune removes", async () => {
      const { backend, dir } = await repository();
      await backend.write("t/kept", bytes("1"));
      writeFileSync(join(dir, "t", ".tmp-0123456789ab"), "a pack cut off");
      writeFileSync(join(dir, "t", ".hidden"), "h");
      expect(await backend.list("t")).toEqual(["kept"]);
      expect(await backend.listTemporaries?.("t")).toEqual([".tmp-0123456789ab"]);
      await backend.remove("t/.tmp-0123456789ab");
      expect(readdirSync(join(dir, "t")).sort()).toEqual([".hidden", "kept"]);
      expect(await backend.listTemporaries?.("nowhere")).toEqual([]);
    });

    test("list sees every file of a large directory written concurrently", async () => {
      const { backend } = await repository();
      const names = Array.from({ length: 300 }, (_, i) => `f${i}`);
      await Promise.all(names.map((name) => backend.write(`many/${name}`, bytes(name))));
      expect((await backend.list("many")).sort()).toEqual(names.sort());
    });

    test("remove is idempotent", async () => {
      const { backend } = await repository();
      await backend.write("gone", bytes("x"));
      await backend.remove("gone");
      await backend.remove("gone");
      expect(await codeOf(backend.read("gone", 1024))).toBe("E_NOT_FOUND");
    });

    test("reading a missing file is E_NOT_FOUND", async () => {
      const { backend } = await repository();
      expect(await codeOf(backend.read("nothing/here", 1024))).toBe("E_NOT_FOUND");
    });

    test("a full target is E_IO, and leaves no temporary file", async () => {
      const { backend, dir } = await repository();
      mountTmpfs(join(dir, "small"), 256 * 1024);
      expect(await codeOf(backend.write("small/big", randomBytes(1024 * 1024)))).toBe("E_IO");
      expect(await codeOf(backend.create("small/big", randomBytes(1024 * 1024)))).toBe("E_IO");
      expect(readdirSync(join(dir, "small"))).toEqual([]);
    });

    test("a directory that refuses writes is E_PERMISSION", async () => {
      const { backend, dir } = await repository();
      const locked = join(dir, "locked");
      mountTmpfs(locked, 1024 * 1024);
      run("chattr", ["+i", locked]);
      try {
        expect(await codeOf(backend.write("locked/x", bytes("x")))).toBe("E_PERMISSION");
      } finally {
        run("chattr", ["-i", locked]);
      }
    });
  });
}

conformance("LocalBackend", localRepository);
conformance("SftpBackend", () => sftpRepository());

describe("SftpBackend", () => {
  test("moves 64 MiB each way quickly", async () => {
    const { backend } = await sftpRepository();
    const data = randomBytes(64 * 1024 * 1024);
    const writeStart = performance.now();
    await backend.write("big", data);
    const writeMs = performance.now() - writeStart;
    const readStart = performance.now();
    const back = await backend.read("big", data.length);
    const readMs = performance.now() - readStart;
    expect(Buffer.compare(back, data)).toBe(0);
    const range = await backend.readRange("big", 10_000_000, 3_000_000);
    expect(Buffer.compare(range, data.subarray(10_000_000, 13_000_000))).toBe(0);
    const rate = (ms: number) => `${((64 * 1000) / ms).toFixed(0)} MiB/s`;
    console.log(`sftp 64 MiB on loopback: write ${rate(writeMs)}, read ${rate(readMs)}`);
  }, 30_000);

  test("reports the server's host key, and accepts it pinned in either form", async () => {
    const { backend } = await sftpRepository();
    expect(backend.hostKey).toBe(sshd.hostKey);
    const bare = sshd.hostKey.split(" ")[1] as string;
    const { backend: pinned } = await sftpRepository({ hostKey: `${bare}` });
    await pinned.write("ok", bytes("ok"));
  });

  test("a different pinned host key is an integrity fault", async () => {
    const other = `ssh-ed25519 ${Buffer.concat([
      Buffer.from([0, 0, 0, 11]),
      Buffer.from("ssh-ed25519"),
      Buffer.from([0, 0, 0, 32]),
      randomBytes(32),
    ]).toString("base64")}`;
    expect(await codeOf(sftpRepository({ hostKey: other }))).toBe("E_INTEGRITY");
    expect(await codeOf(sftpRepository({ hostKey: "not a key" }))).toBe("E_INVALID_INPUT");
  });

  test("a key the server does not know is refused", async () => {
    const identityFile = join(scratch, "stranger");
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", identityFile]);
    expect(await codeOf(sftpRepository({ identityFile: `${identityFile}.pub` }))).toBe(
      "E_INVALID_INPUT",
    );
    const error = await sftpRepository({ identityFile }).catch((error) => error);
    expect(error).toBeInstanceOf(BuckyError);
    expect(error.code).toBe("E_PERMISSION");
    expect(error.hint).toContain(`${identityFile}.pub`);
    expect(error.hint).toContain("authorized_keys");
  });

  test("a probe shows the host key and its fingerprint as OpenSSH does, and whether the key gets in", async () => {
    const url = sftpUrl(join(sshd.root, "probed"));
    const probe = await probeSftp(url, { identityFile: sshd.identityFile });
    expect(probe).toEqual({
      hostKey: sshd.hostKey,
      fingerprint: openSshFingerprint(sshd.hostKey),
      login: "accepted",
    });
    expect(hostKeyFingerprint(sshd.hostKey)).toBe(probe.fingerprint);
    const stranger = join(scratch, "probing-stranger");
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger]);
    expect(await probeSftp(url, { identityFile: stranger })).toEqual({
      ...probe,
      login: "refused",
    });
    // Nothing was made there: a probe only looks.
    expect(readdirSync(sshd.root)).not.toContain("probed");
  });

  test("a closed port is unavailable, at once", async () => {
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = listener.port;
    listener.stop(true);
    const start = performance.now();
    const error = await SftpBackend.connect(sftpUrl("/x", port), {
      identityFile: sshd.identityFile,
    }).catch((error) => error);
    expect(error.code).toBe("E_UNAVAILABLE");
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(performance.now() - start).toBeLessThan(2000);
  });

  test("a server that never answers times out as unavailable", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const error = await SftpBackend.connect(sftpUrl("/x", silent.port), {
        identityFile: sshd.identityFile,
        timeoutMs: 300,
      }).catch((error) => error);
      expect(error.code).toBe("E_UNAVAILABLE");
    } finally {
      silent.stop(true);
    }
  });

  test("a dropped connection fails the operation in flight and the next, not hangs", async () => {
    const { backend, dir } = await sftpRepository();
    await backend.write("d/small", bytes("small"));
    const writing = backend.write("d/big", randomBytes(64 * 1024 * 1024));
    await until(() => readdirSync(join(dir, "d")).some((name) => name.startsWith(".tmp-")));
    sshd.dropConnections();
    expect(await codeOf(writing)).toBe("E_UNAVAILABLE");
    expect(await codeOf(backend.read("d/small", 1024))).toBe("E_UNAVAILABLE");
    // The server itself still runs: a new connection works, and finds the temporary file
    // the write cut off left, for a prune to remove.
    const again = await SftpBackend.connect(sftpUrl(dir), {
      identityFile: sshd.identityFile,
      hostKey: sshd.hostKey,
    });
    open.push(again);
    await again.write("fine", bytes("fine"));
    expect(await again.list("d")).toEqual(["small"]);
    expect((await again.listTemporaries("d")).length).toBe(1);
  }, 10_000);

  test("a server that stops answering fails the operation within the timeout", async () => {
    const { backend } = await sftpRepository({ timeoutMs: 600 });
    await backend.write("x", bytes("x"));
    sshd.freezeConnections();
    const start = performance.now();
    expect(await codeOf(backend.read("x", 1024))).toBe("E_UNAVAILABLE");
    expect(performance.now() - start).toBeLessThan(3000);
  });

  test("rejects targets it cannot use", async () => {
    const identityFile = sshd.identityFile;
    for (const url of ["/srv/backup", "sftp://127.0.0.1/x", "sftp://u:pw@127.0.0.1/x"]) {
      expect(await codeOf(SftpBackend.connect(url, { identityFile }))).toBe("E_INVALID_INPUT");
    }
    const home = join(scratch, "empty-home");
    mkdirSync(home);
    expect(() => defaultIdentityFile(home)).toThrow(/no SSH key/);
    mkdirSync(join(home, ".ssh"));
    writeFileSync(join(home, ".ssh", "id_rsa"), "");
    writeFileSync(join(home, ".ssh", "id_ecdsa"), "");
    expect(defaultIdentityFile(home)).toBe(join(home, ".ssh", "id_ecdsa"));
  });
});

/** What `ssh-keygen -lf` says of a host key: the fingerprint a server's administrator reads out. */
function openSshFingerprint(hostKey: string): string {
  const file = join(scratch, `host-${randomBytes(4).toString("hex")}.pub`);
  writeFileSync(file, `${hostKey}\n`);
  return spawnSync("ssh-keygen", ["-lf", file]).stdout.toString().split(" ")[1] as string;
}
