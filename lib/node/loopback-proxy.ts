/**
 * bucky's own traffic on loopback never goes through a proxy the environment names. Bun's
 * fetch sends plain HTTP to 127.0.0.1 through `http_proxy` when it is set: a request to an
 * unsandboxed app on its loopback port, or through a relay's door, would go to that proxy,
 * and its answers be taken as the app's or the device's (a fetch over a Unix socket, the
 * way a gateway's own streams to a device behind NAT go, asks no proxy). Adding the
 * loopback names to NO_PROXY keeps every other use of a proxy the person set (catalogs,
 * registries, ACME) as it was. Called once at start (cmd/main.ts), on the process's
 * environment, which Bun reads at each fetch.
 */
const LOOPBACK = ["127.0.0.1", "localhost", "::1"];

export function keepLoopbackOffProxies(env: Record<string, string | undefined>): void {
  for (const name of ["NO_PROXY", "no_proxy"]) {
    const listed = (env[name] ?? "")
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry !== "");
    const missing = LOOPBACK.filter((host) => !listed.includes(host));
    if (missing.length > 0) env[name] = [...listed, ...missing].join(",");
  }
}
