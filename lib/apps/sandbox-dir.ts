/**
 * An app's sandbox directory on the host, `<app dir>/sandbox/`, made afresh before each
 * start:
 *
 *   api/        bucky's: the app API's socket (bound read-only at /run/bucky/api)
 *   http/       the app's, empty: its forwarder's socket goes there (/run/bucky/http)
 *   etc/        passwd, group, hosts and resolv.conf for the app's /etc
 *   seccomp.bpf the filter that keeps it from making user namespaces (as root)
 */
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AppUser } from "./app-user.ts";

export const SECCOMP_FILE = "seccomp.bpf";

/** The DNS server slirp4netns offers an app with outbound network. */
const SLIRP_DNS = "10.0.2.3";

export function prepareSandboxDir(
  dir: string,
  app: string,
  user: AppUser | undefined,
  outbound: boolean,
  seccomp: Uint8Array | undefined,
): void {
  mkdirSync(join(dir, "api"), { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "api"), 0o755);
  const http = join(dir, "http");
  rmSync(http, { recursive: true, force: true });
  mkdirSync(http, { mode: 0o700 });
  if (user) chownSync(http, user.uid, user.gid);
  const etc = join(dir, "etc");
  mkdirSync(etc, { recursive: true, mode: 0o755 });
  const uid = user?.uid ?? process.getuid?.() ?? 0;
  const gid = user?.gid ?? process.getgid?.() ?? 0;
  const files: Record<string, string> = {
    passwd: [
      "root:x:0:0:root:/root:/usr/sbin/nologin",
      `${app}:x:${uid}:${gid}:${app}:/data:/usr/sbin/nologin`,
      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    ].join("\n"),
    group: ["root:x:0:", `${app}:x:${gid}:`, "nogroup:x:65534:"].join("\n"),
    hosts: [`127.0.0.1 localhost ${app}`, "::1 localhost ip6-localhost ip6-loopback"].join("\n"),
    "resolv.conf": outbound
      ? `nameserver ${SLIRP_DNS}`
      : "# no network: this app has only its loopback",
  };
  for (const [name, text] of Object.entries(files))
    writeFileSync(join(etc, name), `${text}\n`, { mode: 0o644 });
  rmSync(join(dir, SECCOMP_FILE), { force: true });
  if (seccomp) writeFileSync(join(dir, SECCOMP_FILE), seccomp, { mode: 0o644 });
}
