/**
 * A real ACME CA on loopback for tests: Debian's `pebble`, with `pebble-challtestsrv` as
 * the DNS it asks (every name resolves to 127.0.0.1 unless a test says otherwise). Each
 * call starts its own pair on free ports, with its own API certificate (made by openssl),
 * validating HTTP-01 on `httpPort`, where the gateway under test must listen.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort, scratchDir, waitFor } from "./harness.ts";

export interface Pebble {
  /** The ACME directory URL. */
  readonly directory: string;
  /** Pebble's own API certificate: daemons trust it with NODE_EXTRA_CA_CERTS. */
  readonly apiCertFile: string;
  /** The port pebble validates HTTP-01 challenges on. */
  readonly httpPort: number;
  /** The root that issued its certificates (PEM). */
  root(): Promise<string>;
  /** Makes `host` resolve to `address` for pebble (a name that does not reach the gateway). */
  resolve(host: string, address: string): Promise<void>;
  stop(): Promise<void>;
}

const children = new Set<Subprocess>();

/** Stops every pebble started (call from afterAll). */
export async function stopPebbles(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      child.kill("SIGKILL");
      await child.exited;
      children.delete(child);
    }),
  );
}

export async function startPebble(
  options: {
    validitySeconds?: number;
    /** An external account the CA requires (its HMAC key base64url). */
    eab?: { kid: string; hmacKey: string };
  } = {},
): Promise<Pebble> {
  const dir = scratchDir();
  const [acmePort, managementPort, dnsPort, challengeManagementPort, httpPort] = freePorts(5) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const apiCertFile = join(dir, "api-cert.pem");
  const apiKeyFile = join(dir, "api-key.pem");
  const made = spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    apiKeyFile,
    "-out",
    apiCertFile,
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ]);
  if (made.status !== 0)
    throw new Error(`openssl could not make pebble's certificate: ${made.stderr}`);
  const config = join(dir, "pebble.json");
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: apiCertFile,
        privateKey: apiKeyFile,
        httpPort,
        tlsPort: httpPort + 1,
        ocspResponderURL: "",
        externalAccountBindingRequired: options.eab !== undefined,
        ...(options.eab
          ? { externalAccountMACKeys: { [options.eab.kid]: options.eab.hmacKey } }
          : {}),
        ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
      },
    }),
  );
  const log = (name: string) => Bun.file(join(dir, `${name}.log`));
  const dns = Bun.spawn(
    [
      "pebble-challtestsrv",
      "-dns01",
      `127.0.0.1:${dnsPort}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-management",
      `127.0.0.1:${challengeManagementPort}`,
      "-defaultIPv4",
      "127.0.0.1",
      "-defaultIPv6",
      "",
    ],
    { stdout: log("challtestsrv"), stderr: log("challtestsrv") },
  );
  children.add(dns);
  const ca = Bun.spawn(["pebble", "-config", config, "-dnsserver", `127.0.0.1:${dnsPort}`], {
    stdout: log("pebble"),
    stderr: log("pebble"),
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_WFE_NONCEREJECT: "0",
      PEBBLE_AUTHZREUSE: "0",
    },
  });
  children.add(ca);
  const apiCert = await Bun.file(apiCertFile).text();
  const directory = `https://127.0.0.1:${acmePort}/dir`;
  await waitFor("pebble", () =>
    fetch(directory, { tls: { ca: apiCert } }).then(
      (response) => (response.ok ? true : undefined),
      () => undefined,
    ),
  );
  await waitFor("pebble-challtestsrv", () =>
    fetch(`http://127.0.0.1:${challengeManagementPort}/`).then(
      () => true,
      () => undefined,
    ),
  );
  return {
    directory,
    apiCertFile,
    httpPort,
    root: async () => {
      const response = await fetch(`https://127.0.0.1:${managementPort}/roots/0`, {
        tls: { ca: apiCert },
      });
      return response.text();
    },
    async resolve(host: string, address: string) {
      const response = await fetch(`http://127.0.0.1:${challengeManagementPort}/add-a`, {
        method: "POST",
        body: JSON.stringify({ host: `${host}.`, addresses: [address] }),
      });
      if (!response.ok) throw new Error(`challtestsrv refused ${host}: ${await response.text()}`);
    },
    async stop() {
      for (const child of [ca, dns]) {
        child.kill("SIGKILL");
        await child.exited;
        children.delete(child);
      }
    },
  };
}

/** Ports free on 127.0.0.1 now (the kernel's pick, let go at once). */
function freePorts(count: number): number[] {
  // Below the kernel's range for outgoing connections (freePort): a port it handed out
  // for port 0 was taken by a connection meanwhile, and the gateway could not listen on
  // the CA's HTTP port ("in use").
  const ports: number[] = [];
  while (ports.length < count) {
    const port = freePort();
    // tlsPort is httpPort + 1: keep it free, and clear of the next.
    if (ports.some((taken) => Math.abs(taken - port) <= 1) || !listensFree(port + 1)) continue;
    ports.push(port);
  }
  return ports;
}

function listensFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "0.0.0.0", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}
