/**
 * A real OpenSSH server on loopback for the SFTP backend's tests: its own config, host
 * key and authorized client key in a scratch directory, on a free port, in the
 * foreground so the test owns it. A fake server would agree with our client about
 * everything; this one disagrees the way production servers do.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** sshd refuses to start unless it is run by an absolute path. */
const SSHD = "/usr/sbin/sshd";
const STARTUP_TIMEOUT_MS = 10_000;

export interface Sshd {
  readonly port: number;
  /** The login name: the current user, as sshd only runs sessions for real accounts. */
  readonly user: string;
  /** A private key that the server accepts. */
  readonly identityFile: string;
  /** The server's host key as "type base64", for pinning. */
  readonly hostKey: string;
  /** A directory for repositories, removed by stop(). */
  readonly root: string;
  /** Kills every open session, as a crash or a closed connection would, but keeps listening. */
  dropConnections(): void;
  /** Stops every open session without closing it, as a hung server or a lost route would. */
  freezeConnections(): void;
  stop(): Promise<void>;
}

export async function startSshd(): Promise<Sshd> {
  if (!existsSync(SSHD)) {
    throw new Error(`${SSHD} is missing: install it with \`apt-get install openssh-server\`.`);
  }
  // The privilege separation directory; normally made by the package's service unit.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });

  const scratch = mkdtempSync(join(tmpdir(), "bucky-sshd-"));
  const root = join(scratch, "repos");
  mkdirSync(root);
  const hostKeyFile = join(scratch, "host_ed25519");
  const identityFile = join(scratch, "client_ed25519");
  generateKey(hostKeyFile);
  generateKey(identityFile);
  const authorizedKeys = join(scratch, "authorized_keys");
  await Bun.write(authorizedKeys, readFileSync(`${identityFile}.pub`));

  const port = await freePort();
  const config = join(scratch, "sshd_config");
  await Bun.write(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${hostKeyFile}`,
      "PidFile none",
      "UsePAM no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      `AuthorizedKeysFile ${authorizedKeys}`,
      // The scratch directory is world-readable /tmp; strict modes would refuse the keys.
      "StrictModes no",
      "Subsystem sftp internal-sftp",
      "",
    ].join("\n"),
  );

  const server = Bun.spawn([SSHD, "-D", "-e", "-f", config], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const log = collect(server.stderr);

  // Frozen sessions never end by themselves, and once the listener is gone (bun test kills
  // it as dangling when a test times out) they are no longer its children: remember them.
  const frozen: number[] = [];
  const stop = async () => {
    signalDescendants(server.pid, "SIGKILL");
    for (const pid of frozen) signal(pid, "SIGKILL");
    server.kill();
    await server.exited;
    rmSync(scratch, { recursive: true, force: true });
  };

  try {
    await waitForPort(port, server);
  } catch (error) {
    await stop();
    throw new Error(`sshd did not start: ${(error as Error).message}\n${log.text()}`);
  }

  return {
    port,
    user: currentUser(),
    identityFile,
    hostKey: readFileSync(`${hostKeyFile}.pub`, "utf8").split(" ").slice(0, 2).join(" "),
    root,
    dropConnections: () => {
      signalDescendants(server.pid, "SIGKILL");
    },
    freezeConnections: () => {
      frozen.push(...signalDescendants(server.pid, "SIGSTOP"));
    },
    stop,
  };
}

/** Bun's os.userInfo() says "unknown" where passwd lookups fail it; id(1) does not. */
function currentUser(): string {
  return spawnSync("id", ["-un"], { encoding: "utf8" }).stdout.trim();
}

function generateKey(file: string): void {
  const result = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file]);
  if (result.status !== 0) {
    throw new Error(`ssh-keygen failed: ${result.stderr?.toString() ?? result.error?.message}`);
  }
}

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

async function waitForPort(port: number, server: Bun.Subprocess): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`it exited with ${server.exitCode}`);
    if (await accepts(port)) return;
    await Bun.sleep(20);
  }
  throw new Error(`port ${port} did not accept connections within ${STARTUP_TIMEOUT_MS} ms`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Each SSH connection is served by child processes of the listening sshd (which call
 * setsid, so there is no process group to signal): find them by parent id. Returns them.
 */
function signalDescendants(ancestor: number, name: NodeJS.Signals): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The field after the parenthesised command name (which may contain spaces).
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // The process ended while we looked.
    }
  }
  const isDescendant = (pid: number): boolean => {
    for (let parent = parents.get(pid); parent !== undefined; parent = parents.get(parent)) {
      if (parent === ancestor) return true;
    }
    return false;
  };
  const descendants = [...parents.keys()].filter(isDescendant);
  for (const pid of descendants) signal(pid, name);
  return descendants;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** Keeps a process's output so a failed start can show why. */
function collect(stream: ReadableStream<Uint8Array>): { text(): string } {
  let text = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })();
  return { text: () => text };
}
