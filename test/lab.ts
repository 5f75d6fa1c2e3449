/**
 * A small internet on one machine, built from Linux network namespaces, for tests that
 * need devices on different networks:
 *
 *   "internet" 10.200.0.0/24 (a bridge)     gateway 10.200.0.10, client 10.200.0.20,
 *                                           server 10.200.0.30
 *   home 1 192.168.1.0/24 behind router 1   (NAT to 10.200.0.101), device h1 192.168.1.10
 *   home 2 192.168.2.0/24 behind router 2   (NAT to 10.200.0.102), device h2 192.168.2.10
 *
 * Each router masquerades its home and drops every connection opened from outside, as
 * home routers (and carrier-grade NAT) do: a home device can call out, never be called.
 * Everything is made under a name unique to this process and removed by destroy(), which
 * the test files call in afterAll, so a failed test leaves nothing behind.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type Host = "inet" | "gw" | "client" | "server" | "r1" | "r2" | "h1" | "h2";
/** The hosts on the internet itself (no NAT in front of them). */
export type PublicHost = "gw" | "client" | "server";

export const ADDRESSES = {
  gw: "10.200.0.10",
  client: "10.200.0.20",
  server: "10.200.0.30",
  r1: "10.200.0.101",
  r2: "10.200.0.102",
  h1: "192.168.1.10",
  h2: "192.168.2.10",
} as const;

export interface Lab {
  /** The namespace name of a host, for `ip netns exec`. */
  ns(host: Host): string;
  /** The command line that runs `argv` on `host`. */
  on(host: Host, argv: readonly string[]): string[];
  /** Takes a host's link to the internet down, or back up. */
  link(host: PublicHost | "r1" | "r2", up: boolean): void;
  /**
   * Refuses every connection between two hosts of the internet, both ways, as a firewall on
   * `host` would (the other hosts still reach both), or lets them again.
   */
  block(host: PublicHost, other: PublicHost, blocked: boolean): void;
  /**
   * Makes `host` a black hole, or lets it be heard again: every packet to or from its link
   * is dropped without a word (no refusal, no unreachable), as a machine whose network
   * vanished, or a firewall that drops, looks from outside: a connection to it waits for
   * its SYN's answer until the kernel gives up (about two minutes).
   */
  blackhole(host: PublicHost | "h1" | "h2", on: boolean): void;
  /**
   * Limits what `host` sends to the internet to `kbit` a second, as a home's uplink is
   * (a token bucket on its side of the link); undefined lifts the limit.
   */
  uplink(host: PublicHost, kbit: number | undefined): void;
  /** How many bytes `host` has sent through its limited uplink since it was limited. */
  uplinkSentBytes(host: PublicHost): number;
  destroy(): void;
}

/**
 * Builds the lab, or throws saying why it cannot (not root, no namespaces, tools
 * missing): the tests that need it fail, never skip, since `npm test` installs the tools.
 */
export function createLab(): Lab {
  const missing = ["ip", "nft", "tc"].filter((tool) => !Bun.which(tool, { PATH: SYSTEM_PATH }));
  if (missing.length > 0)
    throw new Error(`the lab needs ${missing.join(" and ")} (apt-get install iproute2 nftables)`);
  removeAbandoned();
  const prefix = `bk${process.pid}`;
  const hosts: Host[] = ["inet", "gw", "client", "server", "r1", "r2", "h1", "h2"];
  const ns = (host: Host) => `${prefix}-${host}`;
  const made: string[] = [];
  const destroy = () => {
    for (const name of made.splice(0)) run(["ip", "netns", "del", name], true);
  };
  try {
    for (const host of hosts) {
      run(["ip", "netns", "add", ns(host)]);
      made.push(ns(host));
      run(["ip", "-n", ns(host), "link", "set", "lo", "up"]);
    }
  } catch (error) {
    destroy();
    throw new Error(
      `network namespaces are not permitted here (${(error as Error).message.trim()}); run the tests as root`,
    );
  }
  try {
    build(ns);
  } catch (error) {
    destroy();
    throw error;
  }
  return {
    ns,
    on: (host, argv) => [IP, "netns", "exec", ns(host), ...argv],
    link(host, up) {
      run(["ip", "-n", ns("inet"), "link", "set", host, up ? "up" : "down"]);
    },
    block(host, other, blocked) {
      const table = `block_${other}`;
      if (!blocked)
        return run(["ip", "netns", "exec", ns(host), "nft", "delete", "table", "inet", table]);
      const address = ADDRESSES[other];
      nft(
        ns(host),
        `table inet ${table} {
  chain output {
    type filter hook output priority filter; policy accept;
    ip daddr ${address} reject
  }
  chain input {
    type filter hook input priority filter; policy accept;
    ip saddr ${address} reject
  }
}
`,
      );
    },
    blackhole(host, on) {
      if (!on)
        return run([
          "ip",
          "netns",
          "exec",
          ns(host),
          "nft",
          "delete",
          "table",
          "inet",
          "blackhole",
        ]);
      nft(
        ns(host),
        `table inet blackhole {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "eth0" drop
  }
  chain output {
    type filter hook output priority filter; policy accept;
    oifname "eth0" drop
  }
}
`,
      );
    },
    uplink(host, kbit) {
      if (kbit === undefined)
        return run(["ip", "netns", "exec", ns(host), "tc", "qdisc", "del", "dev", "eth0", "root"]);
      // A burst of 64 KiB and up to two seconds queued, as a modem's buffer holds.
      run([
        "ip",
        "netns",
        "exec",
        ns(host),
        "tc",
        "qdisc",
        "replace",
        "dev",
        "eth0",
        "root",
        "tbf",
        "rate",
        `${kbit}kbit`,
        "burst",
        "64kb",
        "latency",
        "2s",
      ]);
    },
    uplinkSentBytes(host) {
      const stats = Bun.spawnSync(
        [IP, "netns", "exec", ns(host), "tc", "-s", "qdisc", "show", "dev", "eth0"],
        { env: { PATH: SYSTEM_PATH }, stdout: "pipe", stderr: "pipe" },
      );
      const sent = /tbf[^\n]*\n\s*Sent (\d+) bytes/.exec(stats.stdout.toString());
      if (!sent) throw new Error(`no limited uplink on ${host}: ${stats.stdout.toString()}`);
      return Number(sent[1]);
    },
    destroy,
  };
}

const SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
const IP = Bun.which("ip", { PATH: SYSTEM_PATH }) ?? "ip";

/** Removes the namespaces of labs whose process died before it could (killed, say). */
function removeAbandoned(): void {
  const list = Bun.spawnSync([IP, "netns", "list"], { stdout: "pipe", stderr: "ignore" });
  for (const line of list.stdout.toString().split("\n")) {
    const match = /^(bk(\d+)-\w+)/.exec(line);
    if (match && !existsSync(`/proc/${match[2]}`))
      run(["ip", "netns", "del", match[1] as string], true);
  }
}

function build(ns: (host: Host) => string): void {
  const inet = ns("inet");
  run(["ip", "-n", inet, "link", "add", "br0", "type", "bridge"]);
  run(["ip", "-n", inet, "link", "set", "br0", "up"]);
  // Hosts on the internet: one end in the host (eth0 or wan), the other on the bridge.
  const attach = (host: PublicHost | "r1" | "r2", device: string, address: string) => {
    run([
      "ip",
      "link",
      "add",
      device,
      "netns",
      ns(host),
      "type",
      "veth",
      "peer",
      "name",
      host,
      "netns",
      inet,
    ]);
    run(["ip", "-n", inet, "link", "set", host, "master", "br0", "up"]);
    run(["ip", "-n", ns(host), "addr", "add", `${address}/24`, "dev", device]);
    run(["ip", "-n", ns(host), "link", "set", device, "up"]);
  };
  attach("gw", "eth0", ADDRESSES.gw);
  attach("client", "eth0", ADDRESSES.client);
  attach("server", "eth0", ADDRESSES.server);
  for (const [router, home, subnet] of [
    ["r1", "h1", "192.168.1"],
    ["r2", "h2", "192.168.2"],
  ] as const) {
    attach(router, "wan", ADDRESSES[router]);
    run([
      "ip",
      "link",
      "add",
      "lan",
      "netns",
      ns(router),
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      ns(home),
    ]);
    run(["ip", "-n", ns(router), "addr", "add", `${subnet}.1/24`, "dev", "lan"]);
    run(["ip", "-n", ns(router), "link", "set", "lan", "up"]);
    run(["ip", "-n", ns(home), "addr", "add", `${ADDRESSES[home]}/24`, "dev", "eth0"]);
    run(["ip", "-n", ns(home), "link", "set", "eth0", "up"]);
    run(["ip", "-n", ns(home), "route", "add", "default", "via", `${subnet}.1`]);
    run(["ip", "netns", "exec", ns(router), "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    nat(ns(router));
  }
}

/** A home router's rules: masquerade what leaves by the wan; let in only the answers. */
function nat(namespace: string): void {
  nft(
    namespace,
    `table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade
  }
}
table inet filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" accept
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan" ct state new drop
  }
}
`,
  );
}

/** Loads nftables `rules` in `namespace`. */
function nft(namespace: string, rules: string): void {
  const dir = mkdtempSync(join(tmpdir(), "bucky-lab-"));
  const file = join(dir, "rules.nft");
  writeFileSync(file, rules);
  try {
    run(["ip", "netns", "exec", namespace, "nft", "-f", file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(argv: readonly string[], quiet = false): void {
  const result = Bun.spawnSync([...argv], {
    env: { PATH: SYSTEM_PATH },
    stdout: "ignore",
    stderr: "pipe",
  });
  if (result.exitCode !== 0 && !quiet)
    throw new Error(`${argv.join(" ")}: ${result.stderr.toString() || `exit ${result.exitCode}`}`);
}
