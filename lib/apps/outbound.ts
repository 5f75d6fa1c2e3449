/**
 * Outbound network for an app whose manifest asks for it: slirp4netns joins the app's
 * network namespace and carries its connections out through the host as ordinary
 * sockets. It never lets the app reach the host's loopback (--disable-host-loopback), so
 * other apps, zone-only services and the daemon stay out of reach there; the app reaches
 * what any machine on the host's network reaches.
 *
 * It ends when the app's sandbox does (the runner stops it), and by itself if the daemon
 * dies: its --exit-fd is a pipe only the daemon holds.
 *
 * As root it starts in a mount namespace of its own whose mounts propagate nowhere
 * (`unshare --mount --propagation private`): its own sandbox (--enable-sandbox) leaves the
 * host's root by unmounting it, and from a namespace sharing the host's mounts that
 * unmount reached the host's shared ones: every network namespace under /run/netns (`ip
 * netns`, rootful Podman's) was unmounted, left an empty file that no one could enter
 * again. Outside root its namespaces are the app's user's, whose unmounts do not reach
 * the host's.
 */
import type { Subprocess } from "bun";
import { BuckyError } from "../errors.ts";

/** How long slirp4netns may take to set the network up. */
const READY_TIMEOUT_MS = 10_000;
/** How long what it said is still read once it has ended. */
const STDERR_WAIT_MS = 1_000;

export interface Outbound {
  stop(): void;
}

/**
 * Sets up the network of the sandbox whose first process is `pid` (its id on the host);
 * resolves once the app can use it.
 */
export async function connectOutbound(
  tools: { readonly slirp4netns: string; readonly unshare: string | undefined },
  pid: number,
  asRoot: boolean,
): Promise<Outbound> {
  const { unshare } = tools;
  if (asRoot && !unshare)
    throw new BuckyError(
      "E_UNAVAILABLE",
      "unshare (util-linux) is missing: slirp4netns cannot be kept from unmounting the host's network namespaces",
    );
  const args = [
    ...(asRoot && unshare ? [unshare, "--mount", "--propagation", "private", "--"] : []),
    tools.slirp4netns,
    "--configure",
    "--mtu=65520",
    "--disable-host-loopback",
    "--enable-sandbox",
    "--enable-seccomp",
    "--exit-fd=0",
    "--ready-fd=3",
    // As root it enters the network directly; otherwise through the app's user namespace.
    ...(asRoot ? [] : [`--userns-path=/proc/${pid}/ns/user`]),
    "--netns-type=path",
    `/proc/${pid}/ns/net`,
    "tap0",
  ];
  const child: Subprocess = Bun.spawn(args, { stdio: ["pipe", "ignore", "pipe", "pipe"] });
  // What it says is kept for an error message, the first few lines only; the rest is
  // read and dropped so it never blocks on a full pipe.
  let said = "";
  const heard = (async () => {
    for await (const chunk of child.stderr as ReadableStream<Uint8Array>)
      if (said.length < 4096) said += new TextDecoder().decode(chunk);
  })().catch(() => undefined);
  const ready = Bun.file(child.stdio[3] as number)
    .stream()
    .getReader()
    .read()
    .then((read) => !read.done);
  const timeout = Bun.sleep(READY_TIMEOUT_MS).then(() => "timeout" as const);
  const ok = await Promise.race([ready, timeout, child.exited.then(() => false)]);
  if (ok !== true) {
    child.kill("SIGKILL");
    await child.exited;
    // What it said before it ended, read to the end (unless something it left holds the pipe).
    await Promise.race([heard, Bun.sleep(STDERR_WAIT_MS)]);
    const why = said
      .split("\n")
      .filter((line) => line && !line.startsWith("WARNING"))
      .at(0);
    // unshare's own failures start "unshare:"; slirp4netns's name themselves not.
    const who = why?.startsWith("unshare:") ? "" : "slirp4netns: ";
    throw new BuckyError(
      "E_UNAVAILABLE",
      `the app's outbound network could not be set up${why ? ` (${who}${why})` : ok === "timeout" ? ` (slirp4netns was not ready within ${READY_TIMEOUT_MS / 1000} s)` : " (slirp4netns said nothing)"}`,
    );
  }
  return { stop: () => child.kill("SIGKILL") };
}
