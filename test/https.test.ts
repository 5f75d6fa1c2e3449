/**
 * HTTPS by default, against a real ACME CA (pebble, on loopback): a gateway with a public
 * name gets certificates for its host and each app by itself, one failing name holding up
 * no other; plain HTTP then redirects, HSTS is sent and the session cookie is Secure;
 * certificates survive a restart and renew by themselves before they expire. A gateway
 * with a local name gets its certificate from the zone CA, whose exported root is all a
 * client needs, and which another zone's gateway cannot pass.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { chmodSync, cpSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  freePort,
  jsonError,
  newHomePath,
  scratchDir,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";
import { type Pebble, startPebble, stopPebbles } from "./pebble.ts";
import { presented } from "./presented-cert.ts";

afterAll(async () => {
  await cleanUp();
  await stopPebbles();
});

const HOST = "home.example.com";
const SITE = resolve(import.meta.dir, "../fixtures/apps/site");

interface StatusCertificate {
  device: string;
  name: string;
  issuer: string;
  notAfter: string | null;
  lastError: { at: string; message: string; hint?: string } | null;
}

/** The site fixture under another app id. */
function siteAs(id: string): string {
  const dir = join(scratchDir(), id);
  cpSync(SITE, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, "bucky-app.json"), "utf8"));
  writeFileSync(join(dir, "bucky-app.json"), JSON.stringify({ ...manifest, id }));
  return dir;
}

async function certificates(home: string): Promise<Map<string, StatusCertificate>> {
  const status = await buckyJson<{ certificates: StatusCertificate[] }>(["status", "--home", home]);
  return new Map(status.certificates.map((c) => [c.name, c]));
}

/** A request to the gateway on 127.0.0.1 for `name`, over TLS trusting only `ca`. */
function overHttps(
  port: number,
  name: string,
  ca: string,
  path = "/",
  init: RequestInit = {},
): Promise<Response> {
  return fetch(`https://127.0.0.1:${port}${path}`, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), host: name },
    redirect: "manual",
    tls: { ca, serverName: name },
  } as RequestInit);
}

describe("certificates over ACME", () => {
  let pebble: Pebble;
  let home: string;
  let daemon: Daemon;
  let env: Record<string, string>;
  const httpsPort = freePort();

  test("a public name gets certificates for its host and each app; a name that fails holds up none", async () => {
    pebble = await startPebble();
    // broken.<host> resolves elsewhere: the CA cannot reach the gateway for it.
    await pebble.resolve(`broken.${HOST}`, "127.0.0.2");
    env = { NODE_EXTRA_CA_CERTS: pebble.apiCertFile };
    home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "gw"]);
    daemon = await startDaemon(home, env);
    for (const app of ["site", "blog", "broken"])
      await buckyJson(["app", "install", app === "site" ? SITE : siteAs(app), "--home", home]);
    const config = await buckyJson([
      "gateway",
      "enable",
      "--host",
      HOST,
      "--listen",
      `127.0.0.1:${httpsPort}`,
      "--http-listen",
      `127.0.0.1:${pebble.httpPort}`,
      "--acme-directory",
      pebble.directory,
      "--home",
      home,
    ]);
    expect(config).toEqual({
      listen: `127.0.0.1:${httpsPort}`,
      host: HOST,
      https: true,
      tls: "acme",
      httpListen: `127.0.0.1:${pebble.httpPort}`,
      acmeDirectory: pebble.directory,
      approval: { approved: true, unapproved: [] },
    });

    const names = [HOST, `blog.${HOST}`, `broken.${HOST}`, `site.${HOST}`];
    const settled = await waitFor(
      "a certificate, or an error, for every name",
      async () => {
        const certs = await certificates(home);
        return names.every((name) => certs.get(name)?.notAfter || certs.get(name)?.lastError)
          ? certs
          : undefined;
      },
      25_000,
    );
    for (const name of [HOST, `blog.${HOST}`, `site.${HOST}`]) {
      expect(settled.get(name)).toMatchObject({ device: "gw", issuer: "acme", lastError: null });
      expect(Date.parse(settled.get(name)?.notAfter ?? "")).toBeGreaterThan(Date.now());
    }
    const broken = settled.get(`broken.${HOST}`);
    expect(broken?.notAfter).toBeNull();
    expect(broken?.lastError?.message).toContain(
      `the CA could not reach this gateway on port 80 for broken.${HOST}`,
    );
    expect(broken?.lastError?.hint).toContain("Make port 80 reachable from the internet");
    const text = await bucky(["status", "--home", home]);
    expect(text.stdout).toContain(`Certificate  site.${HOST} on gw: valid until `);
    expect(text.stdout).toContain(
      `  ! gw has no certificate for broken.${HOST} yet: gw says "the CA could not reach this gateway on port 80`,
    );

    // Keys and certificates are the gateway's alone.
    for (const file of ["cert.pem", "key.pem"])
      expect(statSync(join(home, "gateway", "certs", `site.${HOST}`, file)).mode & 0o777).toBe(
        0o600,
      );
    expect(statSync(join(home, "gateway", "acme", "account.pem")).mode & 0o777).toBe(0o600);
  }, 60_000);

  test("a client trusting the CA's root reaches the app over HTTPS, with HSTS", async () => {
    const root = await pebble.root();
    const response = await waitFor("the app over HTTPS", () =>
      overHttps(httpsPort, `site.${HOST}`, root).then(
        (r) => (r.status === 200 ? r : undefined),
        () => undefined,
      ),
    );
    expect(await response.text()).toContain("<");
    expect(response.headers.get("strict-transport-security")).toBe("max-age=31536000");
    // Each name has its own certificate, chosen by SNI.
    expect((await presented("127.0.0.1", httpsPort, `blog.${HOST}`)).subjectAltName).toBe(
      `DNS:blog.${HOST}`,
    );
    expect((await presented("127.0.0.1", httpsPort, HOST)).subjectAltName).toBe(`DNS:${HOST}`);
    // A client that trusts nothing but its system roots refuses it (pebble is no real CA).
    await expect(fetch(`https://127.0.0.1:${httpsPort}/`)).rejects.toThrow();
  });

  test("at the host, a path to an app leads to the app's name once that name has its certificate", async () => {
    const root = await pebble.root();
    const site = await overHttps(httpsPort, HOST, root, "/apps/site/x?y=1");
    expect([site.status, site.headers.get("location")]).toEqual([
      308,
      `https://site.${HOST}:${httpsPort}/x?y=1`,
    ]);
    // broken.<host> has none (the CA cannot reach it): sent there, a browser would only warn.
    const broken = await overHttps(httpsPort, HOST, root, "/apps/broken/");
    expect([broken.status, broken.headers.get("location")]).toEqual([503, null]);
    expect(await broken.text()).toContain(
      `Its address is https://broken.${HOST}:${httpsPort}/, which this gateway has no certificate for yet.`,
    );
  });

  test("plain HTTP redirects to HTTPS, except ACME's challenges; the session cookie is Secure", async () => {
    const plain = await fetch(`http://127.0.0.1:${pebble.httpPort}/apps/site/x?y=1`, {
      headers: { host: `site.${HOST}` },
      redirect: "manual",
    });
    expect(plain.status).toBe(301);
    expect(plain.headers.get("location")).toBe(`https://site.${HOST}:${httpsPort}/apps/site/x?y=1`);
    const post = await fetch(`http://127.0.0.1:${pebble.httpPort}/`, {
      method: "POST",
      headers: { host: HOST },
      redirect: "manual",
    });
    expect(post.status).toBe(308);
    const challenge = await fetch(
      `http://127.0.0.1:${pebble.httpPort}/.well-known/acme-challenge/unknown-token`,
      { headers: { host: HOST }, redirect: "manual" },
    );
    expect(challenge.status).toBe(404);

    const { url } = await buckyJson<{ url: string }>(["login-link", "--home", home]);
    expect(url.startsWith(`https://${HOST}:${httpsPort}/_bucky/login?token=`)).toBe(true);
    const link = new URL(url);
    const login = await overHttps(
      httpsPort,
      HOST,
      await pebble.root(),
      `${link.pathname}${link.search}`,
    );
    expect(login.status).toBe(303);
    const cookie = login.headers.get("set-cookie") ?? "";
    expect(cookie).toContain("bucky_session=");
    expect(cookie.split("; ")).toContain("Secure");
    expect(cookie.split("; ")).toContain("HttpOnly");
  });

  test("a restart keeps the certificates: HTTPS at once, nothing ordered again", async () => {
    const before = await presented("127.0.0.1", httpsPort, `site.${HOST}`);
    await daemon.stop();
    daemon = await startDaemon(home, env);
    const after = await waitFor("HTTPS after the restart", () =>
      presented("127.0.0.1", httpsPort, `site.${HOST}`).catch(() => undefined),
    );
    expect(after.serialNumber).toBe(before.serialNumber);
    expect(daemon.log()).not.toContain("certificate issued");
  });

  test("after the restart, a new app's name gets its certificate: orders go on with the account the first ones made", async () => {
    // The first orders (four names at once) each made an account key of their own, and
    // the key and the account URL kept could be two accounts': every later order failed
    // ("JWS verification error"), renewals too, about three times in four.
    // A connection to the plain listener, open and quiet as a CA's check of another name
    // may be when a certificate arrives: the new certificate must not cut it (the listener
    // started again with the HTTPS one, and the CA's check failed: "connection reset").
    const quiet = await heldConnection(pebble.httpPort);
    await buckyJson(["app", "install", siteAs("later"), "--home", home]);
    const served = await waitFor("a certificate for the new name", async () => {
      const cert = await presented("127.0.0.1", httpsPort, `later.${HOST}`).catch(() => undefined);
      return cert?.subjectAltName === `DNS:later.${HOST}` ? cert : undefined;
    });
    expect(served.validToDate.getTime()).toBeGreaterThan(Date.now());
    expect(daemon.log()).not.toContain("certificate not issued");
    expect(
      await quiet.ask(
        `GET /.well-known/acme-challenge/none HTTP/1.1\r\nHost: blog.${HOST}\r\n\r\n`,
      ),
    ).toStartWith("HTTP/1.1 404");
  });

  test("a renewal cut short (a new key beside the old certificate) keeps the gateway up: that name is ordered again", async () => {
    const host = await presented("127.0.0.1", httpsPort, HOST);
    const site = await presented("127.0.0.1", httpsPort, `site.${HOST}`);
    await daemon.stop();
    // The store writes the new key, then the certificate: a crash between leaves this.
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const keyFile = join(home, "gateway", "certs", `site.${HOST}`, "key.pem");
    writeFileSync(keyFile, privateKey.export({ format: "pem", type: "pkcs8" }));
    daemon = await startDaemon(home, env);
    // The other names at once, as before; before, the gateway did not start at all (nor
    // its port 80, so nothing could renew the name).
    const again = await waitFor("HTTPS after the restart", () =>
      presented("127.0.0.1", httpsPort, HOST).catch(() => undefined),
    );
    expect(again.serialNumber).toBe(host.serialNumber);
    const renewed = await waitFor("a new certificate for the name", async () => {
      const served = await presented("127.0.0.1", httpsPort, `site.${HOST}`).catch(() => undefined);
      // Until then the host's is served for it (the default).
      return served?.subjectAltName === `DNS:site.${HOST}` &&
        served.serialNumber !== site.serialNumber
        ? served
        : undefined;
    });
    expect(renewed.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))).toBe(true);
    expect(daemon.log()).not.toContain("gateway not started");
  }, 30_000);
});

describe("renewal", () => {
  test("a certificate renews by itself two thirds into its life", async () => {
    // Pebble issues certificates good for 15 s: renewal is due after 10.
    const pebble = await startPebble({ validitySeconds: 15 });
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "gw"]);
    await startDaemon(home, { NODE_EXTRA_CA_CERTS: pebble.apiCertFile });
    const port = freePort();
    await buckyJson([
      "gateway",
      "enable",
      "--host",
      HOST,
      "--listen",
      `127.0.0.1:${port}`,
      "--http-listen",
      `127.0.0.1:${pebble.httpPort}`,
      "--acme-directory",
      pebble.directory,
      "--home",
      home,
    ]);
    // Watched through TLS handshakes alone: nothing here touches the daemon's database.
    const first = await waitFor("the first certificate", () =>
      presented("127.0.0.1", port, HOST).catch(() => undefined),
    );
    const second = await waitFor(
      "the renewed certificate",
      async () => {
        const served = await presented("127.0.0.1", port, HOST).catch(() => undefined);
        return served && served.serialNumber !== first.serialNumber ? served : undefined;
      },
      25_000,
    );
    // Renewed before the first expired, and good for longer.
    expect(Date.now()).toBeLessThan(first.validToDate.getTime() + 1000);
    expect(second.validToDate.getTime()).toBeGreaterThan(first.validToDate.getTime());
    // Its facts say so (published a moment after).
    const status = await waitFor("the renewal in the status", async () => {
      const cert = (await certificates(home)).get(HOST);
      return cert?.notAfter === second.validToDate.toISOString() ? cert : undefined;
    });
    expect(status).toMatchObject({ issuer: "acme", lastError: null });
  }, 60_000);
});

describe("two gateways sharing a name", () => {
  test("a name is ordered once for the zone: the other gateway, once approved, takes the certificate (its key sealed to it) and serves it after the one that ordered is killed", async () => {
    const pebble = await startPebble();
    const zone = await startZone(["a", "b"], { NODE_EXTRA_CA_CERTS: pebble.apiCertFile });
    const [a, b] = [zone.get("a") as Daemon, zone.get("b") as Daemon];
    // Every name resolves to 127.0.0.1, where only gateway a listens: the CA never reaches
    // b, whose challenges a answers from the zone state.
    const gateways = [
      { daemon: a, device: "a", address: "127.0.0.1", port: freePort() },
      { daemon: b, device: "b", address: "127.0.0.2", port: freePort() },
    ];
    for (const { daemon, address, port } of gateways)
      await buckyJson([
        "gateway",
        "enable",
        "--host",
        HOST,
        "--listen",
        `${address}:${port}`,
        "--http-listen",
        `${address}:${pebble.httpPort}`,
        "--acme-directory",
        pebble.directory,
        "--home",
        daemon.home,
      ]);
    // b is a member the owner has not approved for the host: it orders nothing and says
    // why, and no gateway answers a challenge it puts in the state itself (else any member
    // could get a publicly trusted certificate for the zone's host).
    const unapproved = await waitFor("b's reason", async () => {
      const status = await buckyJson<{ certificates: StatusCertificate[] }>([
        "status",
        "--home",
        a.home,
      ]);
      return status.certificates.find((c) => c.device === "b" && c.name === HOST && c.lastError);
    });
    expect(unapproved).toMatchObject({
      notAfter: null,
      lastError: {
        message: `the owner has not approved b as a gateway for ${HOST}`,
        hint: "On a device holding the owner key, run: bucky gateway approve b",
      },
    });
    const forged = "forged-token";
    await buckyJson([
      "state",
      "set",
      `nodes/b/acme/${forged}`,
      JSON.stringify({ name: HOST, keyAuthorization: `${forged}.key` }),
      "--home",
      b.home,
    ]);
    await waitFor("b's challenge, on a", async () =>
      (await bucky(["state", "get", `nodes/b/acme/${forged}`, "--home", a.home, "--json"]))
        .exitCode === 0
        ? true
        : undefined,
    );
    // A fresh connection: an earlier test's gateway listened on this port.
    const answer = await fetch(
      `http://127.0.0.1:${pebble.httpPort}/.well-known/acme-challenge/${forged}`,
      { keepalive: false },
    );
    expect([answer.status, await answer.text()]).toEqual([404, "no such challenge\n"]);
    await buckyJson(["state", "del", `nodes/b/acme/${forged}`, "--home", b.home]);
    // a got the host's certificate meanwhile (nothing waits on a gateway not approved).
    await waitFor("a's certificate for the host", async () => {
      const status = await buckyJson<{ certificates: StatusCertificate[] }>([
        "status",
        "--home",
        a.home,
      ]);
      return status.certificates.some((c) => c.device === "a" && c.name === HOST && c.notAfter)
        ? true
        : undefined;
    });
    expect(await buckyJson(["gateway", "approve", "b", "--yes", "--home", a.home])).toMatchObject({
      device: "b",
      hosts: [HOST],
      addresses: [],
    });
    const issuedEverywhere = (name: string) =>
      waitFor(
        `certificates for ${name} on both gateways`,
        async () => {
          const status = await buckyJson<{ certificates: StatusCertificate[] }>([
            "status",
            "--home",
            a.home,
          ]);
          const holders = status.certificates
            .filter((c) => c.name === name && c.notAfter)
            .map((c) => c.device)
            .sort();
          return holders.join() === "a,b" ? true : undefined;
        },
        40_000,
      );
    await issuedEverywhere(HOST);
    // A new app: both gateways hear of its name at once; one asks, the other waits its
    // turn, then takes the certificate the first shares, ordering nothing.
    await buckyJson(["app", "install", SITE, "--home", a.home]);
    const name = `site.${HOST}`;
    await issuedEverywhere(name);
    const lines = (daemon: Daemon, what: string, named: string) =>
      daemon
        .log()
        .split("\n")
        .filter((line) =>
          new RegExp(` ${what} name=${named.replaceAll(".", "\\.")}( |$)`).test(line),
        );
    const count = (what: string, named: string) =>
      gateways.map(({ daemon }) => lines(daemon, what, named).length);
    // b was not approved when a ordered the host's: it took a's once approved.
    expect(count("ordering a certificate", HOST)).toEqual([1, 0]);
    expect(count("certificate taken from a fellow gateway", HOST)).toEqual([0, 1]);
    const ordered = count("ordering a certificate", name);
    expect(ordered.sort()).toEqual([0, 1]);
    const orderer = count("ordering a certificate", name)[0] === 1 ? 0 : 1;
    const taker = 1 - orderer;
    expect(count("certificate taken from a fellow gateway", name)[taker]).toBe(1);
    // Both serve the one certificate.
    const serial = (at: (typeof gateways)[number]) =>
      presented(at.address, at.port, name).then((cert) => cert.serialNumber);
    expect(await serial(gateways[taker] as (typeof gateways)[number])).toBe(
      await serial(gateways[orderer] as (typeof gateways)[number]),
    );
    // The key is in the zone state sealed to the taker alone, never in the clear.
    const from = gateways[orderer] as (typeof gateways)[number];
    const { value: record } = await buckyJson<{
      value: { cert: string; keys: Record<string, string> };
    }>(["state", "get", `nodes/${from.device}/certs/${name}`, "--home", a.home]);
    expect(JSON.stringify(record)).not.toContain("PRIVATE KEY");
    const ids = await buckyJson<{ devices: { name: string; id: string }[] }>([
      "devices",
      "--home",
      a.home,
    ]);
    const takerId = ids.devices.find((d) => d.name === gateways[taker]?.device)?.id;
    expect(Object.keys(record.keys)).toEqual([takerId as string]);
    // The gateway that ordered dies: the other serves the name with a certificate a client
    // trusting the CA accepts, and orders nothing.
    await from.daemon.kill();
    const left = gateways[taker] as (typeof gateways)[number];
    const root = await pebble.root();
    const response = await fetch(`https://${left.address}:${left.port}/`, {
      headers: { host: name },
      redirect: "manual",
      tls: { ca: root, serverName: name },
    } as RequestInit);
    await response.arrayBuffer();
    expect(response.status).toBeGreaterThan(0);
    const status = await buckyJson<{ certificates: StatusCertificate[] }>([
      "status",
      "--home",
      left.daemon.home,
    ]);
    expect(
      status.certificates.find((c) => c.device === left.device && c.name === name)?.notAfter,
    ).toBeString();
    expect(lines(left.daemon, "ordering a certificate", name)).toEqual([]);
  }, 120_000);
});

describe("two gateways renewing a shared certificate", () => {
  test("the first in turn renews it for both; killed as it renews, the other renews before it expires", async () => {
    // Good for 15 s: due after 10. Devices say they are alive every half second, so one
    // killed is not live 1.5 s later. The CA reaches the gateway on 127.0.0.1 (a).
    const pebble = await startPebble({ validitySeconds: 15 });
    const zone = await startZone(["a", "b"], {
      NODE_EXTRA_CA_CERTS: pebble.apiCertFile,
      BUCKY_HEARTBEAT_MS: "500",
      BUCKY_SYNC_INTERVAL_MS: "200",
    });
    const gateways = [
      { daemon: zone.get("a") as Daemon, address: "127.0.0.1", port: freePort() },
      { daemon: zone.get("b") as Daemon, address: "127.0.0.2", port: freePort() },
    ];
    for (const { daemon, address, port } of gateways)
      await buckyJson([
        "gateway",
        "enable",
        "--host",
        HOST,
        "--listen",
        `${address}:${port}`,
        "--http-listen",
        `${address}:${pebble.httpPort}`,
        "--acme-directory",
        pebble.directory,
        "--home",
        daemon.home,
      ]);
    const home = gateways[0]?.daemon.home as string;
    // b's configuration reaches a, which approves what b asks for.
    await waitFor("b's gateway, on a", async () =>
      (await bucky(["state", "get", "nodes/b/gateway", "--home", home, "--json"])).exitCode === 0
        ? true
        : undefined,
    );
    await buckyJson(["gateway", "approve", "b", "--yes", "--home", home]);
    const served = (at: (typeof gateways)[number]) =>
      presented(at.address, at.port, HOST).catch(() => undefined);
    /** The certificate both serve once they serve the same one, other than `before`. */
    const bothServe = (what: string, before?: string, withinMs = 20_000) =>
      waitFor(
        what,
        async () => {
          const [first, second] = await Promise.all(gateways.map(served));
          return first &&
            first.serialNumber === second?.serialNumber &&
            first.serialNumber !== before
            ? first
            : undefined;
        },
        withinMs,
      );
    const orders = () =>
      gateways.map(
        ({ daemon }) =>
          daemon
            .log()
            .split("\n")
            .filter((line) => / ordering a certificate name=home\.example\.com( |$)/.test(line))
            .length,
      );
    // The first takes b's approval, an order and its sync to a: under a loaded suite it
    // took longer than the 20 s a renewal has (it failed so once). Only renewals are timed.
    const first = await bothServe("one certificate on both", undefined, 60_000);
    const ordersBefore = orders().reduce((sum, n) => sum + n, 0);
    // Renewed once for both, before it expires.
    const second = await bothServe("the renewed certificate on both", first.serialNumber);
    expect(Date.now()).toBeLessThan(first.validToDate.getTime() + 1000);
    expect(orders().reduce((sum, n) => sum + n, 0)).toBe(ordersBefore + 1);
    // At the next renewal, the one that starts it is killed as it does: the other renews.
    const counted = orders();
    const renewer = await waitFor(
      "the next renewal to start",
      () => {
        const now = orders();
        const index = now.findIndex((n, i) => n > (counted[i] ?? 0));
        return index >= 0 ? index : undefined;
      },
      20_000,
    );
    await gateways[renewer]?.daemon.kill();
    const left = gateways[1 - renewer] as (typeof gateways)[number];
    // The name points at the gateway left (as its DNS would, with both in it).
    await pebble.resolve(HOST, left.address);
    const third = await waitFor(
      "the survivor's renewed certificate",
      async () => {
        const cert = await served(left);
        return cert && cert.serialNumber !== second.serialNumber ? cert : undefined;
      },
      20_000,
    );
    expect(Date.now()).toBeLessThan(second.validToDate.getTime() + 1000);
    expect(third.validToDate.getTime()).toBeGreaterThan(second.validToDate.getTime());
  }, 150_000);
});

describe("a CA that needs an external account", () => {
  test("without one, the gateway says so; given one (its key in a private file), it gets its certificate", async () => {
    const eab = {
      kid: "kid-1",
      hmacKey: "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
    };
    const pebble = await startPebble({ eab });
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "gw"]);
    await startDaemon(home, { NODE_EXTRA_CA_CERTS: pebble.apiCertFile });
    const port = freePort();
    const enable = (...extra: string[]) =>
      bucky([
        "gateway",
        "enable",
        "--host",
        HOST,
        "--listen",
        `127.0.0.1:${port}`,
        "--http-listen",
        `127.0.0.1:${pebble.httpPort}`,
        "--acme-directory",
        pebble.directory,
        "--home",
        home,
        "--json",
        ...extra,
      ]);
    expect((await enable()).exitCode).toBe(0);
    const refused = await waitFor("the CA's refusal", async () => {
      const cert = (await certificates(home)).get(HOST);
      return cert?.lastError ? cert : undefined;
    });
    expect(refused.lastError).toMatchObject({
      message: "this CA needs an external account",
      hint: "Give the CA's key id and HMAC key: `bucky gateway enable --acme-eab-kid ID --acme-eab-key-file F`.",
    });

    // A key file others can read is refused before anything is sent.
    const keyFile = join(scratchDir(), "eab.key");
    writeFileSync(keyFile, `${eab.hmacKey}\n`, { mode: 0o644 });
    const open = await enable("--acme-eab-kid", eab.kid, "--acme-eab-key-file", keyFile);
    expect(open.exitCode).toBe(1);
    expect(jsonError(open).message).toContain("can be read or changed by others");
    chmodSync(keyFile, 0o600);
    // (the first attempt's backoff is a minute: a new configuration is not held to it)
    expect((await enable("--acme-eab-kid", eab.kid, "--acme-eab-key-file", keyFile)).exitCode).toBe(
      0,
    );
    expect(statSync(join(home, "gateway", "acme", "eab.json")).mode & 0o777).toBe(0o600);
    const issued = await waitFor("the certificate", async () => {
      const cert = (await certificates(home)).get(HOST);
      return cert?.notAfter ? cert : undefined;
    });
    expect(issued.lastError).toBeNull();
  }, 60_000);
});

describe("the zone CA", () => {
  test("a local name gets a certificate from the zone CA; a client trusting only the exported root reaches the app", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "gw", "--name", "home"]);
    await startDaemon(home);
    await buckyJson(["app", "install", SITE, "--home", home]);
    const port = freePort();
    const config = await buckyJson([
      "gateway",
      "enable",
      "--host",
      "home.lan",
      "--listen",
      `127.0.0.1:${port}`,
      "--home",
      home,
    ]);
    expect(config).toEqual({
      listen: `127.0.0.1:${port}`,
      host: "home.lan",
      https: true,
      tls: "zone",
      // Its own names, approved as it holds the owner key.
      approval: { approved: true, unapproved: [] },
    });
    const cert = await waitFor("the zone CA's certificate", async () => {
      const found = (await certificates(home)).get("home.lan");
      return found?.notAfter ? found : undefined;
    });
    expect(cert).toMatchObject({ device: "gw", issuer: "zone", lastError: null });
    const root = await buckyJson<{ pem: string; fingerprint: string }>([
      "ca",
      "export",
      "--home",
      home,
    ]);
    const text = await bucky(["ca", "export", "--home", home]);
    expect(text.stdout).toBe(root.pem);
    const rootCert = new X509Certificate(root.pem);
    expect(rootCert.ca).toBe(true);
    expect(rootCert.subject).toBe(
      `CN=bucky zone CA for home (${(await buckyJson<{ zone: { id: string } }>(["status", "--home", home])).zone.id.slice(0, 12)})`,
    );

    const response = await waitFor("the app over HTTPS", () =>
      overHttps(port, "site.home.lan", root.pem).then(
        (r) => (r.status === 200 ? r : undefined),
        () => undefined,
      ),
    );
    expect(response.headers.get("strict-transport-security")).toBe("max-age=31536000");
    // By address too: the certificate names the address the gateway listens on.
    const byAddress = await fetch(`https://127.0.0.1:${port}/`, { tls: { ca: root.pem } });
    expect(byAddress.status).toBe(200);

    // Another zone's gateway, with its own CA: a client trusting this zone's root refuses it.
    const otherHome = newHomePath();
    await buckyJson(["init", "--home", otherHome, "--device", "gw", "--name", "other"]);
    await startDaemon(otherHome);
    const otherPort = freePort();
    await buckyJson([
      "gateway",
      "enable",
      "--host",
      "home.lan",
      "--listen",
      `127.0.0.1:${otherPort}`,
      "--home",
      otherHome,
    ]);
    await waitFor("the other zone's certificate", async () =>
      (await certificates(otherHome)).get("home.lan")?.notAfter ? true : undefined,
    );
    const other = await buckyJson<{ pem: string }>(["ca", "export", "--home", otherHome]);
    expect(other.pem).not.toBe(root.pem);
    await expect(overHttps(otherPort, "home.lan", root.pem)).rejects.toThrow();
    expect((await overHttps(otherPort, "home.lan", other.pem)).status).toBe(200);
  }, 60_000);

  test("a damaged key file stops nothing: it is set aside, and the new key gets a certificate", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "gw"]);
    let daemon = await startDaemon(home);
    const port = freePort();
    await buckyJson([
      "gateway",
      "enable",
      "--host",
      "home.lan",
      "--listen",
      `127.0.0.1:${port}`,
      "--home",
      home,
    ]);
    const first = await waitFor("the first certificate", () =>
      presented("127.0.0.1", port, "home.lan").catch(() => undefined),
    );
    await daemon.stop();
    const keyFile = join(home, "gateway", "zone-ca", "key.pem");
    writeFileSync(keyFile, "not a key\n");
    // Before, the daemon did not start at all (exit 70, "PEM routines … NO_START_LINE").
    daemon = await startDaemon(home);
    const root = (await buckyJson<{ pem: string }>(["ca", "export", "--home", home])).pem;
    const response = await waitFor("HTTPS with a new certificate", () =>
      overHttps(port, "home.lan", root).then(
        (r) => (r.status === 200 ? r : undefined),
        () => undefined,
      ),
    );
    expect(response.ok).toBe(true);
    const served = await presented("127.0.0.1", port, "home.lan");
    expect(served.serialNumber).not.toBe(first.serialNumber);
    expect(served.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))).toBe(true);
    expect(readFileSync(`${keyFile}.damaged`, "utf8")).toBe("not a key\n");
    expect(daemon.log()).toContain("a damaged key was set aside");
  }, 30_000);

  test("the zone CA certifies local names only", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "gw"]);
    await startDaemon(home);
    const refused = await bucky([
      "gateway",
      "enable",
      "--tls",
      "zone",
      "--host",
      "bank.example.com",
      "--listen",
      `127.0.0.1:${freePort()}`,
      "--home",
      home,
      "--json",
    ]);
    expect(refused.exitCode).toBe(2);
    expect(jsonError(refused).message).toBe(
      "the zone CA certifies only local names (.local, .lan, .home.arpa, .internal, .localhost, .test), not bank.example.com",
    );
  });
});

/** A TCP connection to a local port, opened now and asked later: what came back, or "closed". */
async function heldConnection(port: number): Promise<{ ask(request: string): Promise<string> }> {
  let received = "";
  let closed = false;
  let heard: () => void = () => {};
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, chunk) {
        received += chunk.toString();
        heard();
      },
      close() {
        closed = true;
        heard();
      },
    },
  });
  return {
    ask(request) {
      if (closed) return Promise.resolve("closed");
      const answered = new Promise<string>((resolve) => {
        heard = () => resolve(closed && received === "" ? "closed" : received);
      });
      socket.write(request);
      return answered;
    },
  };
}
