import { describe, expect, test } from "bun:test";
import { appTmpBytes } from "./app-limits.ts";
import { type SandboxPlan, sandboxCommand, systemLayout } from "./sandbox.ts";

const support = (asRoot: boolean): SandboxPlan["support"] => ({
  bwrap: "/usr/bin/bwrap",
  slirp4netns: "/usr/bin/slirp4netns",
  setpriv: "/usr/bin/setpriv",
  unshare: "/usr/bin/unshare",
  limits: { choom: "/usr/bin/choom", prlimit: "/usr/bin/prlimit" },
  asRoot,
});

const plan = (asRoot: boolean, outbound = false): SandboxPlan => ({
  app: "notes",
  support: support(asRoot),
  layout: [
    { path: "/usr", dir: true },
    { path: "/bin", symlink: "usr/bin" },
    { path: "/lib", symlink: "usr/lib" },
  ],
  user: asRoot ? { uid: 1_900_000_123, gid: 1_900_000_123 } : undefined,
  runtime: "/opt/bucky/bin/bucky",
  packageDir: "/home/me/.bucky/apps/notes/packages/abc",
  dataDir: "/home/me/.bucky/apps/notes/data",
  sandboxDir: "/home/me/.bucky/apps/notes/sandbox",
  outbound,
  seccomp: asRoot,
  command: ["/opt/bucky/bin/bucky", "sandbox-init", "--", "server"],
});

/** What bubblewrap is given: the command after the limits are set. */
const bwrapArgs = (command: string[]) => command.slice(command.indexOf("/usr/bin/bwrap") + 1);

/** The [source, destination] of every bind, read back from the command. */
function binds(whole: string[]): [string, string, string][] {
  const command = bwrapArgs(whole);
  const found: [string, string, string][] = [];
  for (let i = 0; i < command.length; i++) {
    const option = command[i] as string;
    if (/^--(ro-)?bind(-try)?$/.test(option))
      found.push([option, command[i + 1] as string, command[i + 2] as string]);
    if (option === "--") break;
  }
  return found;
}

describe("sandboxCommand", () => {
  test("shows the app its package read-only, its data, its sockets and the system, nothing else of the home", () => {
    const command = sandboxCommand(plan(true));
    const fromHome = binds(command).filter(([, source]) => source.startsWith("/home/me/"));
    expect(fromHome).toEqual([
      ["--ro-bind", "/home/me/.bucky/apps/notes/sandbox/etc/passwd", "/etc/passwd"],
      ["--ro-bind", "/home/me/.bucky/apps/notes/sandbox/etc/group", "/etc/group"],
      ["--ro-bind", "/home/me/.bucky/apps/notes/sandbox/etc/hosts", "/etc/hosts"],
      ["--ro-bind", "/home/me/.bucky/apps/notes/sandbox/etc/resolv.conf", "/etc/resolv.conf"],
      ["--ro-bind", "/home/me/.bucky/apps/notes/packages/abc", "/app"],
      ["--bind", "/home/me/.bucky/apps/notes/data", "/data"],
      ["--ro-bind", "/home/me/.bucky/apps/notes/sandbox/api", "/run/bucky/api"],
      ["--bind", "/home/me/.bucky/apps/notes/sandbox/http", "/run/bucky/http"],
    ]);
    // Writable: its data and its socket's directory, and nothing else.
    expect(
      binds(command)
        .filter(([option]) => option === "--bind")
        .map(([, , to]) => to),
    ).toEqual(["/data", "/run/bucky/http"]);
    expect(binds(command).some(([, source]) => source === "/" || source === "/home")).toBe(false);
    expect(command).toContain("/opt/bucky/bin/bucky");
  });

  test("as root: bubblewrap mounts, then setpriv becomes the app's user with no capabilities", () => {
    const command = sandboxCommand(plan(true));
    const end = command.indexOf("--", command.indexOf("--chdir"));
    expect(command.slice(end + 1)).toEqual([
      "/usr/bin/setpriv",
      "--reuid=1900000123",
      "--regid=1900000123",
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
      "/opt/bucky/bin/bucky",
      "sandbox-init",
      "--",
      "server",
    ]);
    expect(bwrapArgs(command).slice(0, 5)).toEqual([
      "--unshare-ipc",
      "--unshare-pid",
      "--unshare-net",
      "--unshare-uts",
      "--unshare-cgroup-try",
    ]);
  });

  test("makes the directories above its mounts itself, open to all (bubblewrap would make them root's alone)", () => {
    const command = sandboxCommand(plan(true));
    const dirs = command.flatMap((part, i) => (part === "--dir" ? [command[i + 1]] : []));
    expect(dirs).toEqual([
      "/etc",
      "/opt",
      "/run",
      "/etc/pki",
      "/etc/ssl",
      "/opt/bucky",
      "/run/bucky",
      "/etc/pki/tls",
      "/opt/bucky/bin",
    ]);
    expect(command[command.indexOf("--dir") - 1]).toBe("0755");
  });

  test("outside root: its own user namespace, unable to make more unless slirp4netns must enter it", () => {
    const plain = sandboxCommand(plan(false));
    expect(bwrapArgs(plain).slice(0, 3)).toEqual([
      "--unshare-all",
      "--unshare-user",
      "--disable-userns",
    ]);
    expect(plain).not.toContain("/usr/bin/setpriv");
    const outbound = sandboxCommand(plan(false, true));
    expect(bwrapArgs(outbound).slice(0, 2)).toEqual(["--unshare-all", "--unshare-user"]);
    expect(outbound).not.toContain("--disable-userns");
  });

  test("sets the app's limits, then runs bubblewrap: its processes too when it has a user of its own", () => {
    const limits = (command: string[]) => command.slice(0, command.indexOf("/usr/bin/bwrap"));
    expect(limits(sandboxCommand(plan(true)))).toEqual([
      ...["/usr/bin/choom", "-n", "500", "--"],
      ...["/usr/bin/prlimit", "--nproc=1024", "--core=0", "--"],
    ]);
    // Outside root, its processes are bucky's user's: counting them would count the daemon's.
    expect(limits(sandboxCommand(plan(false)))).toEqual([
      ...["/usr/bin/choom", "-n", "500", "--"],
      ...["/usr/bin/prlimit", "--core=0", "--"],
    ]);
    const command = sandboxCommand(plan(true));
    const tmp = command.indexOf("--tmpfs");
    expect(command.slice(tmp - 4, tmp + 2)).toEqual([
      "--perms",
      "1777",
      "--size",
      String(appTmpBytes()),
      "--tmpfs",
      "/tmp",
    ]);
    expect(appTmpBytes(24 * 1024 ** 3)).toBe(1024 ** 3);
    expect(appTmpBytes(2 * 1024 ** 3)).toBe(256 * 1024 ** 2);
  });

  test("says where the sandbox is only when slirp4netns needs to know", () => {
    expect(sandboxCommand(plan(true))).not.toContain("--info-fd");
    const outbound = sandboxCommand(plan(true, true));
    expect(
      outbound.slice(outbound.indexOf("--info-fd"), outbound.indexOf("--info-fd") + 2),
    ).toEqual(["--info-fd", "3"]);
  });
});

describe("systemLayout", () => {
  test("names each of the system's top directories this host has, as a directory or a link", () => {
    const layout = systemLayout();
    expect(layout.find((entry) => entry.path === "/usr")).toEqual({ path: "/usr", dir: true });
    for (const entry of layout)
      expect(entry.path).toMatch(/^\/(usr|bin|sbin|lib|lib32|lib64|libx32)$/);
  });
});
