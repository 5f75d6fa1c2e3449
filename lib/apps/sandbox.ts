/**
 * The app sandbox: what this device can do (checked once, at daemon start), and the
 * bubblewrap command that runs one app inside it. An app sees only
 *
 *   /app                its package, read-only (its working directory)
 *   /data               its data directory, the one place it writes
 *   /tmp                a private, empty tmpfs
 *   /run/bucky/api/     the socket of its app API (lib/apps/app-api.ts)
 *   /run/bucky/http/    where its forwarder listens for the requests bucky passes it
 *   /usr, /bin, /lib…   the system's programs and libraries, read-only
 *   /etc/…              the few files name resolution and TLS need, and its own
 *                       passwd, group, hosts and resolv.conf
 *
 * and bucky's own runtime (for `bun` apps). It runs in namespaces of its own (mount, PID,
 * IPC, UTS, network: only its loopback, unless its manifest asks for outbound network),
 * with no capabilities. When bucky runs as root, each app runs as a user of its own
 * (lib/apps/app-user.ts), through setpriv; otherwise every app runs as bucky's own user,
 * each in a user namespace of its own too, unable to make more. Its processes, memory and
 * /tmp are bounded (lib/apps/app-limits.ts).
 */
import { closeSync, lstatSync, mkdtempSync, openSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { appTmpBytes, type LimitTools, limitsCommand } from "./app-limits.ts";
import type { AppUser } from "./app-user.ts";
import { prepareSandboxDir, SECCOMP_FILE } from "./sandbox-dir.ts";
import { noUserNamespacesFilter } from "./seccomp.ts";

/** Where things are inside the sandbox. */
export const INSIDE = {
  package: "/app",
  data: "/data",
  run: "/run/bucky",
  apiDir: "/run/bucky/api",
  apiSocket: "/run/bucky/api/api.sock",
  httpDir: "/run/bucky/http",
  httpSocket: "/run/bucky/http/http.sock",
} as const;

/** The port a sandboxed app listens on: its loopback is its own, so any port will do. */
export const INSIDE_HTTP_PORT = 8080;

/** The descriptors bubblewrap is handed: where it says the sandbox's pid, and the filter. */
export const INFO_FD = 3;
export const SECCOMP_FD = 4;

/** The system's parts every program may need, read-only (or the symlinks they are). */
const SYSTEM_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** The host's files under /etc an app may read: libraries, name resolution, TLS, time. */
const ETC_FILES = [
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/nsswitch.conf",
  "/etc/host.conf",
  "/etc/gai.conf",
  "/etc/localtime",
  "/etc/ssl/certs",
  "/etc/ssl/openssl.cnf",
  "/etc/pki/tls/certs",
  "/etc/pki/ca-trust",
  "/etc/ca-certificates",
  "/etc/alternatives",
];

/** What this device can do to isolate apps. */
export interface SandboxSupport {
  /** bubblewrap, when it can make the namespaces apps need here. */
  readonly bwrap: string | undefined;
  /** slirp4netns, which gives apps that ask for it outbound network. */
  readonly slirp4netns: string | undefined;
  /** setpriv, through which bucky (as root) runs each app as its own user. */
  readonly setpriv: string | undefined;
  /** unshare, which keeps slirp4netns's mounts from the host's (as root: lib/apps/outbound.ts). */
  readonly unshare: string | undefined;
  /** choom and prlimit, which set each app's limits (lib/apps/app-limits.ts). */
  readonly limits: LimitTools | undefined;
  /** Whether bucky runs as root: each app then runs as a user of its own. */
  readonly asRoot: boolean;
  /** Why apps cannot be sandboxed here, when they cannot. */
  readonly problem?: string;
}

/** The system's top directories as they are on this host: real directories or symlinks. */
export type SystemPath =
  | { readonly path: string; readonly symlink: string }
  | { readonly path: string; readonly dir: true };
export type SystemLayout = readonly SystemPath[];

export function systemLayout(): SystemLayout {
  return SYSTEM_PATHS.flatMap((path): SystemPath[] => {
    const stats = lstatSync(path, { throwIfNoEntry: false });
    if (stats?.isSymbolicLink()) return [{ path, symlink: readlinkSync(path) }];
    if (stats?.isDirectory()) return [{ path, dir: true as const }];
    return [];
  });
}

/** A device's sandbox that apps can run in: bubblewrap works, and their limits can be set. */
export type UsableSandbox = SandboxSupport & {
  readonly bwrap: string;
  readonly limits: LimitTools;
};

export interface SandboxPlan {
  readonly app: string;
  readonly support: UsableSandbox;
  readonly layout: SystemLayout;
  /** The app's own user, when bucky runs as root. */
  readonly user: AppUser | undefined;
  /** bucky's own executable, bound at the same path inside (it runs `bun` apps). */
  readonly runtime: string;
  readonly packageDir: string;
  readonly dataDir: string;
  /** The app's sandbox directory on the host: api/, http/ and etc/ (lib/apps/sandbox-dir.ts). */
  readonly sandboxDir: string;
  readonly outbound: boolean;
  /** A seccomp filter waits on SECCOMP_FD (lib/apps/seccomp.ts; as root). */
  readonly seccomp: boolean;
  /** What runs inside: bucky's sandbox init and the app's command after it. */
  readonly command: readonly string[];
}

/**
 * The command that runs `plan.command` in the app's sandbox. As root, bubblewrap makes
 * the sandbox with root's rights (it must read the app's files in bucky's home, which no
 * other user may enter) and setpriv, inside, becomes the app's user with no capabilities
 * before anything of the app runs. Otherwise bubblewrap runs as bucky's user, in a user
 * namespace of its own.
 */
export function sandboxCommand(plan: SandboxPlan): string[] {
  const { support, user } = plan;
  const setpriv = support.asRoot ? support.setpriv : undefined;
  const asUser =
    setpriv && user
      ? [
          setpriv,
          `--reuid=${user.uid}`,
          `--regid=${user.gid}`,
          "--clear-groups",
          "--inh-caps=-all",
          "--bounding-set=-all",
          "--no-new-privs",
          "--",
        ]
      : [];
  // Outside root, slirp4netns must enter the app's user namespace to reach its network,
  // which it cannot once a nested one is made: an outbound app then keeps that ability.
  const namespaces = support.asRoot
    ? ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    : ["--unshare-all", "--unshare-user", ...(plan.outbound ? [] : ["--disable-userns"])];
  const mounts: [option: string, source: string, destination: string][] = [
    ...plan.layout.map((entry): [string, string, string] =>
      "symlink" in entry
        ? ["--symlink", entry.symlink, entry.path]
        : ["--ro-bind", entry.path, entry.path],
    ),
    ...ETC_FILES.map((path): [string, string, string] => ["--ro-bind-try", path, path]),
    ...["passwd", "group", "hosts", "resolv.conf"].map((name): [string, string, string] => [
      "--ro-bind",
      `${plan.sandboxDir}/etc/${name}`,
      `/etc/${name}`,
    ]),
    ["--ro-bind", plan.runtime, plan.runtime],
    ...(setpriv ? [["--ro-bind", setpriv, setpriv] as [string, string, string]] : []),
    ["--ro-bind", plan.packageDir, INSIDE.package],
    ["--bind", plan.dataDir, INSIDE.data],
    ["--ro-bind", `${plan.sandboxDir}/api`, INSIDE.apiDir],
    ["--bind", `${plan.sandboxDir}/http`, INSIDE.httpDir],
  ];
  return [
    ...limitsCommand(support.limits, user !== undefined && support.asRoot),
    support.bwrap,
    ...namespaces,
    ...["--hostname", plan.app, "--die-with-parent", "--new-session"],
    ...["--proc", "/proc", "--dev", "/dev"],
    // Open to all as a /tmp is (bubblewrap makes it root's alone: as root, the app's own user
    // could not write there), and of a bounded size: a tmpfs is memory.
    ...["--perms", "1777", "--size", String(appTmpBytes()), "--tmpfs", "/tmp"],
    // Directories bubblewrap would make for the mounts below, it makes (as root) for root
    // alone: made first, open to all, they let the app reach what is mounted in them.
    ...parentsOf(mounts.map(([, , destination]) => destination)).flatMap((dir) => [
      "--perms",
      "0755",
      "--dir",
      dir,
    ]),
    ...mounts.flat(),
    ...["--chdir", INSIDE.package],
    // The sandbox's first process, for slirp4netns to find its network.
    ...(plan.outbound ? ["--info-fd", String(INFO_FD)] : []),
    ...(plan.seccomp ? ["--seccomp", String(SECCOMP_FD)] : []),
    "--",
    ...asUser,
    ...plan.command,
  ];
}

/** The directories above `destinations` that none of them is (or is inside), outermost first. */
function parentsOf(destinations: readonly string[]): string[] {
  const covered = (dir: string) =>
    destinations.some((destination) => dir === destination || dir.startsWith(`${destination}/`));
  const dirs = new Set<string>();
  for (const destination of destinations) {
    const parts = destination.split("/").filter(Boolean);
    for (let depth = 1; depth < parts.length; depth++) {
      const dir = `/${parts.slice(0, depth).join("/")}`;
      if (!covered(dir)) dirs.add(dir);
    }
  }
  return [...dirs].sort(
    (a, b) => a.split("/").length - b.split("/").length || compareCodeUnits(a, b),
  );
}

/**
 * Checks what this device can do: bubblewrap must run the very sandbox an app gets (as
 * the app's kind of user, in all the namespaces); slirp4netns and setpriv must exist.
 */
export function probeSandbox(options: {
  readonly bwrap: string | null;
  readonly slirp4netns: string | null;
  readonly setpriv: string | null;
  readonly unshare: string | null;
  readonly choom: string | null;
  readonly prlimit: string | null;
  readonly asRoot: boolean;
  readonly runtime: string;
  /** A user id no app has, to try the sandbox as. */
  readonly probeUser: AppUser;
  /** An empty directory to stand in for an app's directories. */
  readonly scratch: string;
}): SandboxSupport {
  const limits =
    options.choom && options.prlimit
      ? { choom: options.choom, prlimit: options.prlimit }
      : undefined;
  const base = {
    slirp4netns: options.slirp4netns ?? undefined,
    setpriv: options.setpriv ?? undefined,
    unshare: options.unshare ?? undefined,
    limits,
    asRoot: options.asRoot,
  };
  if (!options.bwrap)
    return { ...base, bwrap: undefined, problem: "bubblewrap (bwrap) is not installed" };
  if (options.asRoot && !options.setpriv)
    return {
      ...base,
      bwrap: undefined,
      problem: "setpriv (util-linux) is missing: apps cannot run as users of their own",
    };
  if (!limits)
    return {
      ...base,
      bwrap: undefined,
      problem: "choom or prlimit (util-linux) is missing: apps' limits cannot be set",
    };
  const user = options.asRoot ? options.probeUser : undefined;
  const filter = options.asRoot ? noUserNamespacesFilter(process.arch) : undefined;
  prepareSandboxDir(options.scratch, "probe", user, false, filter);
  const probe = sandboxCommand({
    app: "probe",
    support: { ...base, bwrap: options.bwrap, limits },
    layout: systemLayout(),
    user,
    runtime: options.runtime,
    packageDir: options.scratch,
    dataDir: options.scratch,
    sandboxDir: options.scratch,
    outbound: false,
    seccomp: filter !== undefined,
    command: [options.runtime, "--version"],
  });
  const seccomp = filter ? openSync(join(options.scratch, SECCOMP_FILE), "r") : undefined;
  const result = Bun.spawnSync(probe, {
    stdio: ["ignore", "ignore", "pipe", "ignore", ...(seccomp === undefined ? [] : [seccomp])],
  });
  if (seccomp !== undefined) closeSync(seccomp);
  if (result.exitCode === 0) return { ...base, bwrap: options.bwrap, limits };
  const why = result.stderr.toString().trim().split("\n")[0] || `exit code ${result.exitCode}`;
  return { ...base, bwrap: undefined, problem: `bubblewrap cannot make a sandbox here: ${why}` };
}

/** Why this device cannot sandbox an app (that wants outbound network or not), if it cannot. */
export function cannotSandbox(support: SandboxSupport, outbound: boolean): string | undefined {
  if (!support.bwrap) return support.problem ?? "bubblewrap is not usable here";
  if (outbound && !support.slirp4netns)
    return "slirp4netns is not installed, and the app asks for outbound network";
  if (outbound && support.asRoot && !support.unshare)
    return "unshare (util-linux) is missing, and the app asks for outbound network";
  return undefined;
}

/**
 * What this device can do, found out at daemon start: the tools on `path`, tried for
 * real (`off`: the sandbox is turned off, for tests of devices without it).
 */
export function detectSandbox(options: {
  readonly path: string;
  readonly asRoot: boolean;
  readonly runtime: string;
  readonly probeUser: AppUser;
  readonly off: boolean;
}): SandboxSupport {
  const which = (name: string) => Bun.which(name, { PATH: options.path });
  if (options.off)
    return {
      bwrap: undefined,
      slirp4netns: undefined,
      setpriv: undefined,
      unshare: undefined,
      limits: undefined,
      asRoot: options.asRoot,
      problem: "the sandbox is turned off (BUCKY_SANDBOX=off)",
    };
  const scratch = mkdtempSync(join(tmpdir(), "bucky-sandbox-probe-"));
  try {
    return probeSandbox({
      bwrap: which("bwrap"),
      slirp4netns: which("slirp4netns"),
      setpriv: which("setpriv"),
      unshare: which("unshare"),
      choom: which("choom"),
      prlimit: which("prlimit"),
      asRoot: options.asRoot,
      runtime: options.runtime,
      probeUser: options.probeUser,
      scratch,
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
