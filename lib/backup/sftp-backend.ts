/**
 * A repository on an SSH server, reached over SFTP and authenticated by a private key.
 *
 * The target is a URL `sftp://user@host[:port]/path`. The path is the repository root as
 * written: `sftp://me@nas/srv/backup` is the absolute `/srv/backup`. A path that starts
 * with `/~/` is relative to the login directory: `sftp://me@nas/~/backup` is `backup` in
 * the home of `me`.
 *
 * The server's host key is checked against a pinned one when given; a first connection
 * pins nothing by itself, but exposes what the server presented (`hostKey`) so the caller
 * can show it and store it. Behaves like LocalBackend, file for file and error for error;
 * SFTP's coarse status codes are mapped as closely as they allow.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { posix } from "node:path";
import { Client, type FileEntryWithStats, type SFTPWrapper, type Stats, utils } from "ssh2";
import { MAX_DIRECTORY_NAMES } from "../../protocol/backup/formats.ts";
import { BuckyError } from "../errors.ts";
import {
  type Backend,
  checkRange,
  isListedName,
  isPlainName,
  isTemporaryName,
  type Listing,
  repositorySegments,
  temporaryName,
  tooLarge,
  tooManyNames,
} from "./backend.ts";

export interface SftpOptions {
  /** A private key without a passphrase; by default the first of ~/.ssh/id_{ed25519,ecdsa,rsa}. */
  identityFile?: string;
  /** The server's host key, pinned: base64 of the key blob, or an OpenSSH "type base64" line. */
  hostKey?: string;
  /**
   * How long connecting may take, and how long a silent server is trusted: the connection
   * (keepalives), and the SFTP server while requests wait on it (no answer to any of them).
   */
  timeoutMs?: number;
}

interface Target {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly root: string;
}

const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_IDENTITIES = ["id_ed25519", "id_ecdsa", "id_rsa"];

// Transfers are cut in pieces that fit one SFTP packet of OpenSSH (which takes up to
// 255 KiB of data), with several in flight so a round trip per piece does not set the pace.
const CHUNK_BYTES = 128 * 1024;
const CHUNKS_IN_FLIGHT = 16;

// SFTP status codes (draft-ietf-secsh-filexfer-02, section 7).
const SSH_FX_EOF = 1;
const SSH_FX_NO_SUCH_FILE = 2;
const SSH_FX_PERMISSION_DENIED = 3;
const SSH_FX_FAILURE = 4;

const FULL_HINT = "Free space there, or prune old snapshots with `bucky backup prune`.";

export class SftpBackend implements Backend {
  readonly location: string;
  leftOutNames = 0;
  /** The root as the server resolves it, links and all; asked once it is needed. */
  private realRoot: string | undefined;
  /** Set once the connection is gone: every later operation fails with it. */
  private lost: BuckyError | undefined;
  /** Rejects when the connection drops, so no request waits for an answer that cannot come. */
  private readonly dropped: Promise<never>;
  private readonly drop: (error: BuckyError) => void;
  private readonly closed: Promise<void>;
  /** Requests sent and not answered yet. */
  private waiting = 0;
  /** Fires when requests wait and no answer came for answerTimeoutMs. */
  private silence: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    private readonly client: Client,
    private readonly sftp: SFTPWrapper,
    private readonly target: Target,
    /** The key the server presented, as "type base64": pin it with the `hostKey` option. */
    readonly hostKey: string,
    location: string,
    private readonly answerTimeoutMs: number,
  ) {
    this.location = location;
    let drop!: (error: BuckyError) => void;
    this.dropped = new Promise<never>((_, reject) => {
      drop = reject;
    });
    this.dropped.catch(() => {});
    this.drop = drop;
    const onLost = (cause?: unknown) =>
      this.end(
        new BuckyError(
          "E_UNAVAILABLE",
          `lost the connection to ${target.host}:${target.port}`,
          "Check the network and that the SSH server is running, then try again.",
          { cause },
        ),
      );
    client.on("error", onLost).on("close", () => onLost());
    sftp.on("error", onLost).on("close", () => onLost());
    this.closed = new Promise((resolve) => client.once("close", () => resolve()));
  }

  static async connect(url: string, options: SftpOptions = {}): Promise<SftpBackend> {
    const target = parseUrl(url);
    const identityFile = options.identityFile ?? defaultIdentityFile(homedir());
    const privateKey = readIdentity(identityFile);
    const pinned = options.hostKey === undefined ? undefined : parseHostKey(options.hostKey);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const login = startLogin(
      target,
      privateKey,
      timeoutMs,
      (key) => pinned === undefined || key.equals(pinned),
    );
    const client = login.client;
    try {
      await login.ready;
      const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
        client.sftp((error, sftp) => (error ? reject(error) : resolve(sftp))),
      );
      return new SftpBackend(
        client,
        sftp,
        target,
        formatHostKey(login.hostKey() as Buffer),
        url,
        timeoutMs,
      );
    } catch (error) {
      client.destroy();
      const presented = login.hostKey();
      const mismatch = pinned && presented && !presented.equals(pinned) ? presented : undefined;
      throw connectFailure(error, target, identityFile, mismatch);
    }
  }

  async write(path: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const target = this.resolve(path);
    const temp = await this.writeTemp(
      target,
      data instanceof Uint8Array ? data : Buffer.concat(data),
      path,
    );
    try {
      // Plain SFTP rename refuses to replace; OpenSSH's extension is rename(2), atomic.
      await this.call((done) => this.sftp.ext_openssh_rename(temp, target, done));
    } catch (error) {
      await this.removeQuietly(temp);
      throw this.failure(error, "write", path);
    }
  }

  async create(path: string, data: Uint8Array): Promise<boolean> {
    const target = this.resolve(path);
    const temp = await this.writeTemp(target, data, path);
    try {
      // OpenSSH renames regular files with link(2) and unlink(2): it fails if the target
      // exists, an atomic "create if absent", like LocalBackend's link.
      await this.call((done) => this.sftp.rename(temp, target, done));
      return true;
    } catch (error) {
      await this.removeQuietly(temp);
      // The status says only "Failure": whether the target exists tells the two apart.
      if (statusOf(error) === SSH_FX_FAILURE && (await this.exists(target))) return false;
      throw this.failure(error, "write", path);
    }
  }

  async read(path: string, maxBytes: number): Promise<Uint8Array> {
    const handle = await this.open(path, "r", "read");
    try {
      const { size } = await this.call<Stats>((done) => this.sftp.fstat(handle, done));
      if (size > maxBytes) throw tooLarge(path, maxBytes);
      const bytes = Buffer.allocUnsafeSlow(size);
      const length = await this.readInto(handle, bytes, 0);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, length);
    } catch (error) {
      throw this.failure(error, "read", path);
    } finally {
      this.closeLater(handle);
    }
  }

  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.location, path, offset, length);
    const handle = await this.open(path, "r", "read");
    let done: number;
    const bytes = Buffer.allocUnsafeSlow(length);
    try {
      done = length === 0 ? 0 : await this.readInto(handle, bytes, offset);
    } catch (error) {
      throw this.failure(error, "read", path);
    } finally {
      this.closeLater(handle);
    }
    if (done < length) {
      throw new BuckyError(
        "E_INTEGRITY",
        `${this.location}/${path} is shorter than the index says`,
      );
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, length);
  }

  /**
   * Read answer by answer through a handle of its own, not with ssh2's readdir of a path,
   * which reads to the end before it returns: a server can list without end, and a via
   * holds what it lists inside the daemon. Each answer fits one packet (256 KiB at most).
   */
  async list(dir: string): Promise<string[]> {
    return (await this.listing(dir, "refuse")).names;
  }

  async listTemporaries(dir: string): Promise<string[]> {
    return (await this.listing(dir, "refuse", isTemporaryName)).names;
  }

  listCut(dir: string): Promise<Listing> {
    return this.listing(dir, "cut");
  }

  private async listing(
    dir: string,
    pastCap: "refuse" | "cut",
    /** The names wanted: the files' (a temporary file is hidden), or listTemporaries'. */
    wanted: (name: string) => boolean = isListedName,
  ): Promise<Listing> {
    let handle: Buffer;
    try {
      if (!(await this.directoryExists(repositorySegments(dir), dir)))
        return { names: [], cut: false };
      handle = await this.call<Buffer>((done) => this.sftp.opendir(this.resolve(dir), done));
    } catch (error) {
      if (!this.lost && statusOf(error) === SSH_FX_NO_SUCH_FILE) return { names: [], cut: false };
      throw this.failure(error, "list", dir);
    }
    try {
      const names: string[] = [];
      // Every entry counts, kept or not, and an empty answer as one: a listing of nothing
      // but directories, or of empty answers, ends too.
      let listed = 0;
      let cut = false;
      for (;;) {
        const entries = await this.nextEntries(handle);
        if (!entries) break;
        const room = MAX_DIRECTORY_NAMES - listed;
        listed += Math.max(1, entries.length);
        if (listed > MAX_DIRECTORY_NAMES) {
          if (pastCap === "refuse") throw tooManyNames(this.location, dir);
          cut = true;
        }
        for (const entry of entries.slice(0, Math.max(0, room)))
          if (entry.attrs.isFile() && wanted(entry.filename)) names.push(entry.filename);
        if (cut) break;
      }
      const plain = names.filter(isPlainName);
      this.leftOutNames += names.length - plain.length;
      return { names: plain, cut };
    } catch (error) {
      throw this.failure(error, "list", dir);
    } finally {
      this.closeLater(handle);
    }
  }

  /** The entries of one answer to a directory listing, or undefined at its end. */
  private nextEntries(handle: Buffer): Promise<FileEntryWithStats[] | undefined> {
    return this.call<FileEntryWithStats[]>((done) => this.sftp.readdir(handle, done)).catch(
      (error: unknown) => {
        if (!this.lost && statusOf(error) === SSH_FX_EOF) return undefined;
        throw error;
      },
    );
  }

  async remove(path: string): Promise<void> {
    try {
      // unlink does not follow a link at the last step; the directories above it are checked.
      if (!(await this.directoryExists(repositorySegments(path).slice(0, -1), path))) return;
      await this.call((done) => this.sftp.unlink(this.resolve(path), done));
    } catch (error) {
      if (!this.lost && statusOf(error) === SSH_FX_NO_SUCH_FILE) return;
      throw this.failure(error, "remove", path);
    }
  }

  async close(): Promise<void> {
    if (this.lost) return;
    this.lost = new BuckyError("E_INTERNAL", `the connection to ${this.location} was closed`);
    clearTimeout(this.silence);
    this.client.end();
    // A server that does not answer the goodbye is not waited for long.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.closed,
      new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
    ]);
    clearTimeout(timer);
  }

  /**
   * One request with ssh2's callback API as a promise, which also fails as soon as the
   * connection drops: ssh2 silently drops a request sent on a closed channel, and no
   * request may outlive the connection waiting for an answer that cannot come.
   */
  private call<T>(start: (done: (error?: Error | null, value?: T) => void) => void): Promise<T> {
    if (this.lost) return Promise.reject(this.lost);
    this.waiting++;
    this.silence ??= this.armSilence();
    const request = new Promise<T>((resolve, reject) => {
      try {
        start((error, value) => {
          this.answered();
          if (error) reject(error);
          else resolve(value as T);
        });
      } catch (error) {
        // Never sent (a path refused, say): nothing will answer it.
        this.answered();
        throw error;
      }
    });
    return Promise.race([request, this.dropped]);
  }

  /**
   * The time limit of requests: keepalives prove only that sshd answers, not the SFTP
   * server behind it, which waits for good on a FIFO's open(2) or a hung disk, and one
   * request it waits on holds up every later one. The limit runs while any request waits
   * and starts again at each answer, not per operation: a 48 MiB read over a slow link is
   * hundreds of answers, each well within it, and takes as long as it needs.
   */
  private armSilence(): ReturnType<typeof setTimeout> {
    return setTimeout(() => {
      const seconds = Math.round(this.answerTimeoutMs / 100) / 10;
      this.end(
        new BuckyError(
          "E_UNAVAILABLE",
          `the SFTP server at ${this.target.host}:${this.target.port} answered nothing for ${seconds} s: the connection was ended`,
          "The server may be overloaded, or stuck on a file it cannot open (a FIFO, a hung disk): check it there, then try again.",
        ),
      );
    }, this.answerTimeoutMs);
  }

  private answered(): void {
    this.waiting--;
    clearTimeout(this.silence);
    this.silence = this.waiting > 0 && !this.lost ? this.armSilence() : undefined;
  }

  /** Fails every request waiting and every later one with `error`, and drops the connection. */
  private end(error: BuckyError): void {
    clearTimeout(this.silence);
    // A close() asked for sets `lost` first: its error is the one requests fail with.
    this.lost ??= error;
    this.drop(this.lost);
    this.client.destroy();
  }

  /**
   * Whether the directory `segments` below the root exists, refused (E_INTEGRITY) when the
   * server reaches it through a link inside the repository: anyone with the target's
   * credentials can make data/00 a link (SFTP itself makes one) to another directory of
   * the account, another repository's packs say, which a prune would list as strays and
   * remove. The server's realpath of the directory must be the root's with the same
   * segments; the root itself may be a link the person gave. One round trip per list,
   * remove and write, and one per connection for the root. (A link put in between the
   * check and the use is not caught: SFTP works on paths.)
   */
  private async directoryExists(segments: readonly string[], path: string): Promise<boolean> {
    if (segments.length === 0) return true;
    let real: string;
    try {
      real = await this.realpath(posix.join(this.target.root, ...segments));
    } catch (error) {
      if (!this.lost && statusOf(error) === SSH_FX_NO_SUCH_FILE) return false;
      throw error;
    }
    this.realRoot ??= await this.realpath(this.target.root);
    if (real !== posix.join(this.realRoot, ...segments))
      throw new BuckyError(
        "E_INTEGRITY",
        `${this.location}/${path} is reached through a link inside the repository: not followed`,
        "Someone who can write to the target may have put it there; bucky makes no links.",
      );
    return true;
  }

  private realpath(path: string): Promise<string> {
    return this.call<string>((done) => this.sftp.realpath(path, done));
  }

  private resolve(path: string): string {
    return posix.join(this.target.root, ...repositorySegments(path));
  }

  private async open(path: string, flags: "r", action: string): Promise<Buffer> {
    try {
      return await this.call((done) => this.sftp.open(this.resolve(path), flags, done));
    } catch (error) {
      throw this.failure(error, action, path);
    }
  }

  /** A new temporary file beside `target`, written and flushed; its path. */
  private async writeTemp(target: string, data: Uint8Array, path: string): Promise<string> {
    const dir = posix.dirname(target);
    const temp = posix.join(dir, temporaryName());
    const dirSegments = repositorySegments(path).slice(0, -1);
    const open = () =>
      this.call<Buffer>((done) => this.sftp.open(temp, "wx", { mode: 0o600 }, done));
    let handle: Buffer;
    try {
      await this.directoryExists(dirSegments, path);
      // Directories usually exist: try first, make them only when missing.
      handle = await open().catch(async (error) => {
        if (statusOf(error) !== SSH_FX_NO_SUCH_FILE) throw error;
        await this.makeDirectories(dir);
        // mkdir follows a link above the directory it makes: checked again.
        await this.directoryExists(dirSegments, path);
        return open();
      });
    } catch (error) {
      throw this.failure(error, "write", path);
    }
    try {
      await this.writeAll(handle, data);
      await this.fsync(handle);
    } catch (error) {
      this.closeLater(handle);
      await this.removeQuietly(temp);
      throw this.failure(error, "write", path);
    }
    try {
      await this.call((done) => this.sftp.close(handle, done));
    } catch (error) {
      await this.removeQuietly(temp);
      throw this.failure(error, "write", path);
    }
    return temp;
  }

  private async writeAll(handle: Buffer, data: Uint8Array): Promise<void> {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let next = 0;
    await pipeline(async () => {
      if (next >= bytes.length) return false;
      const offset = next;
      const length = Math.min(CHUNK_BYTES, bytes.length - offset);
      next += length;
      await this.call((done) => this.sftp.write(handle, bytes, offset, length, offset, done));
      return true;
    });
  }

  /**
   * Fills `bytes` from `position` of the file; the number of bytes read, fewer than asked
   * only when the file ends first. A server may answer a read with less than asked.
   */
  private async readInto(handle: Buffer, bytes: Buffer, position: number): Promise<number> {
    let next = 0;
    let end = bytes.length;
    await pipeline(async () => {
      if (next >= end) return false;
      const start = next;
      const stop = Math.min(start + CHUNK_BYTES, end);
      next = stop;
      for (let at = start; at < stop; ) {
        const n = await this.call<number>((done) =>
          this.sftp.read(handle, bytes, at, stop - at, position + at, done),
        );
        if (n === 0) {
          end = Math.min(end, at);
          break;
        }
        at += n;
      }
      return true;
    });
    return end;
  }

  /** fsync@openssh.com where the server offers it; without it there is nothing to ask for. */
  private async fsync(handle: Buffer): Promise<void> {
    try {
      await this.call((done) => this.sftp.ext_openssh_fsync(handle, done));
    } catch (error) {
      if (!/does not support/.test((error as Error).message)) throw error;
    }
  }

  /** mkdir -p. OpenSSH answers "Failure" for a directory that exists: that is success. */
  private async makeDirectories(dir: string): Promise<void> {
    const mkdir = () => this.call((done) => this.sftp.mkdir(dir, done));
    try {
      await mkdir();
    } catch (error) {
      const status = statusOf(error);
      if (status === SSH_FX_FAILURE) return;
      const parent = posix.dirname(dir);
      if (status !== SSH_FX_NO_SUCH_FILE || parent === dir) throw error;
      await this.makeDirectories(parent);
      await mkdir().catch((error) => {
        if (statusOf(error) !== SSH_FX_FAILURE) throw error;
      });
    }
  }

  private async exists(path: string): Promise<boolean> {
    try {
      await this.call((done) => this.sftp.stat(path, done));
      return true;
    } catch (error) {
      if (statusOf(error) === SSH_FX_NO_SUCH_FILE) return false;
      throw error;
    }
  }

  private async removeQuietly(path: string): Promise<void> {
    await this.call((done) => this.sftp.unlink(path, done)).catch(() => {});
  }

  /** Closes a handle without waiting: requests run in order, so the next one comes after. */
  private closeLater(handle: Buffer): void {
    this.call((done) => this.sftp.close(handle, done)).catch(() => {});
  }

  private failure(error: unknown, action: string, path: string): BuckyError {
    if (error instanceof BuckyError) return error;
    if (this.lost) return this.lost;
    const where = `${this.location}/${path}`;
    switch (statusOf(error)) {
      case SSH_FX_NO_SUCH_FILE:
        return new BuckyError("E_NOT_FOUND", `${where} does not exist`, undefined, {
          cause: error,
        });
      case SSH_FX_PERMISSION_DENIED:
        return new BuckyError(
          "E_PERMISSION",
          `cannot ${action} ${where}: permission denied`,
          `Check that ${this.target.user} may ${action} there on ${this.target.host}.`,
          { cause: error },
        );
      case SSH_FX_FAILURE:
        // SFTP says only "Failure" for a full disk, a quota, an I/O error.
        if (action === "write") {
          return new BuckyError(
            "E_IO",
            `the backup target ${this.location} is full or failing`,
            FULL_HINT,
            { cause: error },
          );
        }
    }
    return new BuckyError(
      "E_IO",
      `cannot ${action} ${where}: ${(error as Error).message}`,
      undefined,
      { cause: error },
    );
  }
}

/**
 * Starts logging in to `target` with `privateKey` on a client of its own. `trusts` decides
 * whether the host key the server presents is taken; `hostKey()` is the key it presented,
 * after a failure too (a key that did not match, or a login refused once it was seen).
 */
function startLogin(
  target: Target,
  privateKey: Buffer,
  timeoutMs: number,
  trusts: (key: Buffer) => boolean,
): { readonly client: Client; readonly ready: Promise<void>; hostKey(): Buffer | undefined } {
  const client = new Client();
  let presented: Buffer | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    // `on`, not `once`: ssh2 may emit more than one error, and an unheard one throws.
    client.on("ready", resolve).on("error", reject);
    client.on("close", () => reject(new Error("the server closed the connection")));
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey,
      readyTimeout: timeoutMs,
      // A server that vanished without closing the connection is noticed this way.
      keepaliveInterval: Math.max(100, timeoutMs / 3),
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        presented = key;
        return trusts(key);
      },
    });
  });
  return { client, ready, hostKey: () => presented };
}

/** What a person checks before trusting an SFTP server, and whether it lets this key in. */
export interface SftpProbe {
  /** The key the server presented, as "type base64" (what gets pinned). */
  readonly hostKey: string;
  /** Its SHA-256 fingerprint as OpenSSH shows it: "SHA256:…". */
  readonly fingerprint: string;
  /** Whether the server took the key this device logs in with. */
  readonly login: "accepted" | "refused";
}

/**
 * Connects to `url` trusting nothing yet, to learn the server's host key (and whether it
 * accepts `identityFile`), then disconnects. Nothing is read or written there.
 */
export async function probeSftp(
  url: string,
  options: { identityFile: string; timeoutMs?: number },
): Promise<SftpProbe> {
  const target = parseUrl(url);
  const privateKey = readIdentity(options.identityFile);
  // Any key is taken: learning it is the point, and nothing is read or written.
  const login = startLogin(target, privateKey, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, () => true);
  const client = login.client;
  try {
    await login.ready;
    return probed(login.hostKey() as Buffer, "accepted");
  } catch (error) {
    const level = (error as { level?: string }).level;
    const presented = login.hostKey();
    if (presented && level === "client-authentication") return probed(presented, "refused");
    throw connectFailure(error, target, options.identityFile, undefined);
  } finally {
    client.end();
    client.destroy();
  }
}

function probed(key: Buffer, login: SftpProbe["login"]): SftpProbe {
  const digest = new Bun.CryptoHasher("sha256").update(key).digest("base64").replace(/=+$/, "");
  return { hostKey: formatHostKey(key), fingerprint: `SHA256:${digest}`, login };
}

/** The fingerprint OpenSSH shows for a host key given as "type base64". */
export function hostKeyFingerprint(hostKey: string): string {
  return probed(parseHostKey(hostKey), "accepted").fingerprint;
}

/** The first of the usual OpenSSH key files in `home`/.ssh that exists. */
export function defaultIdentityFile(home: string): string {
  const candidates = DEFAULT_IDENTITIES.map((name) => posix.join(home, ".ssh", name));
  const found = candidates.find((file) => existsSync(file));
  if (found) return found;
  throw new BuckyError(
    "E_INVALID_INPUT",
    `no SSH key to log in with: none of ${candidates.join(", ")} exists`,
    "Create one with `ssh-keygen -t ed25519` and add its .pub to the server's authorized_keys; or name a key file (for a target of the zone, on the device that reaches it: `bucky backup target add` it again, as it is, with --identity).",
  );
}

function parseUrl(url: string): Target {
  const invalid = (why: string) =>
    new BuckyError(
      "E_INVALID_INPUT",
      `${url} is not an SFTP target: ${why}`,
      "Write it as sftp://user@host[:port]/path/to/repository.",
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid("it is not a URL");
  }
  if (parsed.protocol !== "sftp:") throw invalid("it does not start with sftp://");
  if (!parsed.username) throw invalid("it names no user");
  if (parsed.password) throw invalid("passwords are not supported, only keys");
  if (!parsed.hostname) throw invalid("it names no host");
  const path = decodeURIComponent(parsed.pathname);
  const root = path === "/~" ? "." : path.startsWith("/~/") ? path.slice(3) || "." : path || "/";
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port ? Number(parsed.port) : 22,
    user: decodeURIComponent(parsed.username),
    root,
  };
}

function readIdentity(file: string): Buffer {
  let key: Buffer;
  try {
    key = readFileSync(file);
  } catch (error) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `cannot read the SSH key ${file}: ${(error as Error).message}`,
      "Name a private key file that exists and that you can read.",
      { cause: error },
    );
  }
  const parsed = utils.parseKey(key);
  const problem =
    parsed instanceof Error
      ? parsed.message
      : parsed.isPrivateKey()
        ? undefined
        : "not a private key";
  if (problem) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `cannot use the SSH key ${file}: ${problem}`,
      "Use a private key without a passphrase, such as one made by `ssh-keygen -t ed25519 -N ''`.",
    );
  }
  return key;
}

/** The key blob of a pinned host key, given as base64 or as an OpenSSH "type base64" line. */
function parseHostKey(text: string): Buffer {
  const words = text.trim().split(/\s+/);
  const base64 = words.length >= 2 ? words[1] : words[0];
  const blob = Buffer.from(base64 ?? "", "base64");
  const type = blob.length > 4 ? keyType(blob) : undefined;
  if (
    blob.toString("base64") !== base64 ||
    type === undefined ||
    (words.length >= 2 && type !== words[0])
  ) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${text} is not an SSH host key`,
      'Give the key as the server shows it, such as "ssh-ed25519 AAAA…".',
    );
  }
  return blob;
}

/** The algorithm name a key blob starts with (a length-prefixed string), if it is sane. */
function keyType(blob: Buffer): string | undefined {
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined;
  return blob.subarray(4, 4 + length).toString("latin1");
}

function formatHostKey(blob: Buffer): string {
  return `${keyType(blob)} ${blob.toString("base64")}`;
}

/** ssh2 puts the SFTP status code of a failed request in `code`. */
function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? code : undefined;
}

function connectFailure(
  error: unknown,
  target: Target,
  identityFile: string,
  mismatch: Buffer | undefined,
): BuckyError {
  if (error instanceof BuckyError) return error;
  const address = `${target.host}:${target.port}`;
  const cause = { cause: error };
  if (mismatch) {
    return new BuckyError(
      "E_INTEGRITY",
      `${address} presented the host key ${formatHostKey(mismatch)}, not the pinned one`,
      "If the server's key was changed on purpose, check the new one out of band and pin it; otherwise someone may be intercepting the connection.",
      cause,
    );
  }
  const { level, message } = error as { level?: string; message?: string };
  if (level === "client-authentication") {
    return new BuckyError(
      "E_PERMISSION",
      `${target.user}@${address} did not accept the key ${identityFile}`,
      `Add ${identityFile}.pub to ~/.ssh/authorized_keys of ${target.user} on ${target.host}, or use a key that is there.`,
      cause,
    );
  }
  return new BuckyError(
    "E_UNAVAILABLE",
    `cannot reach ${address}: ${message ?? String(error)}`,
    "Check the address, and that the SSH server there is running and reachable.",
    cause,
  );
}

/**
 * Runs `step` from several workers at once until it returns false: the way to keep many
 * SFTP requests in flight. The first failure stops the others; all settle before it is thrown.
 */
async function pipeline(step: () => Promise<boolean>): Promise<void> {
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure) {
      try {
        if (!(await step())) return;
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: CHUNKS_IN_FLIGHT }, worker));
  if (failure) throw failure.error;
}
