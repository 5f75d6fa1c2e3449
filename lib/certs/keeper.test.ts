import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Op } from "../../protocol/changeset.ts";
import { signGatewayApproval } from "../../protocol/gateway-approval.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { appKeys } from "../apps/spec.ts";
import { testSpec } from "../apps/test-spec.ts";
import { isPassing } from "../errors.ts";
import { approvalKey } from "../gateway/approval.ts";
import type { GatewayConfig } from "../gateway/config.ts";
import type { HomePaths } from "../home.ts";
import { createLog } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, testDeviceDocument, testOwner } from "../state/test-db.ts";
import { loadMembership } from "../sync/membership.ts";
import { CertificateKeeper, isMyTurn, RETRY_BASE_MS } from "./keeper.ts";
import { CertificateStore, renewAt } from "./store.ts";
import { selfSignedCertificate } from "./test-certificate.ts";

describe("renewal", () => {
  test("is due two thirds into a certificate's life", () => {
    expect(renewAt(0, 90)).toBe(60);
    expect(renewAt(1000, 16_000)).toBe(11_000);
  });
});

describe("whose turn a name is among gateways sharing a host", () => {
  const gateways = (tried: Record<string, string[]>, pending: Record<string, string[]> = {}) =>
    Object.keys(tried).map((id) => ({
      id,
      tried: new Set(tried[id]),
      pending: new Set(pending[id] ?? []),
    }));

  test("exactly one gateway goes first for each name, the same one whoever asks", () => {
    const ids = ["da", "db", "dc"];
    for (const name of ["home.example.com", "notes.home.example.com", "a.home.example.com"]) {
      const none = gateways({ da: [], db: [], dc: [] });
      const first = ids.filter((id) => isMyTurn(name, id, none));
      expect(first).toHaveLength(1);
      // The order does not depend on who lists the gateways, nor in what order.
      expect(ids.filter((id) => isMyTurn(name, id, [...none].reverse()))).toEqual(first);
    }
  });

  test("the next one waits until the first tried, and while it answers a challenge", () => {
    const name = "notes.home.example.com";
    const none = gateways({ da: [], db: [] });
    const [first, second] = ["da", "db"].sort((a) => (isMyTurn(name, a, none) ? -1 : 1)) as [
      string,
      string,
    ];
    expect(isMyTurn(name, second, none)).toBe(false);
    const triedAndAnswering = gateways({ [first]: [name], [second]: [] }, { [first]: [name] });
    expect(isMyTurn(name, second, triedAndAnswering)).toBe(false);
    const tried = gateways({ [first]: [name], [second]: [] });
    expect(isMyTurn(name, second, tried)).toBe(true);
  });
});

/** An ACME directory that refuses everything at once. */
const refusing = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: () =>
    Response.json(
      { type: "urn:ietf:params:acme:error:malformed", detail: "closed for the test" },
      { status: 400, headers: { "content-type": "application/problem+json" } },
    ),
});
afterAll(() => refusing.stop());

/** A gateway with a public name whose ACME directory refuses it: every order fails. */
function refusedGateway(home: string, options: { approved?: boolean; ops?: Op[] } = {}) {
  const test = openTestNode(70 + ++nodes);
  const name = `d${70 + nodes}`;
  appendLocalChangeset(
    test.db,
    { zone: test.zone, name, key: test.key, seal: test.seal },
    [
      { key: `devices/${name}/doc`, value: testDeviceDocument(test.key, name) },
      // The owner approved it for its host: only then does it order.
      ...(options.approved === false
        ? []
        : [
            {
              key: approvalKey(name, name),
              value: JSON.stringify(
                signGatewayApproval(
                  {
                    zone: test.zone,
                    device: deviceIdFromPublicKey(test.key.publicKey),
                    name: name as DeviceName,
                    hosts: ["home.example.com"],
                    addresses: [],
                    issuedAtMs: 1000,
                  },
                  testOwner,
                ).jws,
              ),
            },
          ]),
      ...(options.ops ?? []),
      {
        key: `nodes/${name}/gateway`,
        value: JSON.stringify({
          listen: "127.0.0.1:1443",
          host: "home.example.com",
          https: true,
          tls: "acme",
          httpListen: "127.0.0.1:1080",
          acmeDirectory: `http://127.0.0.1:${refusing.port}/directory`,
        }),
      },
    ],
    1000,
  );
  const clock = { nowMs: 1_000_000 };
  const listeners: ((changesets: { ops: { key: string }[] }[]) => void)[] = [];
  const passing: unknown[] = [];
  const node = {
    db: test.db,
    zone: { paths: { home } },
    zoneId: test.zone,
    deviceName: name,
    deviceId: "dself",
    now: () => clock.nowMs,
    membership: () => loadMembership(test.db, test.zone),
    peers: () => [],
    write: () => {},
    onChange: (listener: (typeof listeners)[number]) => {
      listeners.push(listener);
      return () => {};
    },
    diskFull: (error: unknown) => {
      if (!isPassing(error)) throw error;
      passing.push(error);
    },
  } as unknown as NodeContext;
  let failed = 0;
  const lines: string[] = [];
  const keeper = new CertificateKeeper(node, {
    log: createLog({ level: "debug", write: (line) => lines.push(line) }),
    liveWindowMs: 60_000,
    onCertificates: () => {},
    onFacts: () => failed++,
    everyMs: 3_600_000,
  });
  const store = new CertificateStore({ home } as HomePaths);
  return {
    name,
    node,
    keeper,
    store,
    clock,
    passing,
    failures: () => failed,
    orders: () => lines.filter((line) => line.includes("ordering a certificate")).length,
    lines,
    /** Installs apps `names` (a spec each). */
    install: (names: readonly string[]) =>
      appendLocalChangeset(
        test.db,
        { zone: test.zone, name, key: test.key, seal: test.seal },
        names.map((app) => ({
          key: appKeys.spec(app),
          value: JSON.stringify(testSpec(app)),
        })),
        2000,
      ),
    ownerActs: () => {
      for (const listener of listeners) listener([{ ops: [{ key: `nodes/${name}/gateway` }] }]);
    },
  };
}
let nodes = 0;

async function until(what: string, check: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 20_000; !check(); await Bun.sleep(10))
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
}

describe("a gateway with more names than it keeps certificates for", () => {
  test("says which have none, in its facts and once in its log", () => {
    const home = mkdtempSync(join(tmpdir(), "bucky-keeper-"));
    const gw = refusedGateway(home);
    try {
      const apps = Array.from({ length: 105 }, (_, i) => `app${String(i).padStart(3, "0")}`);
      gw.install(apps);
      expect(gw.keeper.facts()["app098.home.example.com"]).toBeDefined();
      // The host and 99 apps have certificates; the last six apps have none.
      expect(gw.keeper.leftOut()).toEqual({
        count: 6,
        names: apps.slice(99).map((app) => `${app}.home.example.com`),
      });
      gw.keeper.tick();
      gw.keeper.tick();
      const said = gw.lines.filter((line) => line.includes("certificates left out"));
      expect(said.length).toBe(1);
      expect(said[0]).toContain("count=6");
    } finally {
      gw.keeper.stop();
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("a failed order", () => {
  test("is tried again after a minute, then two…; the owner acting starts the series again", async () => {
    const home = mkdtempSync(join(tmpdir(), "bucky-keeper-"));
    const gw = refusedGateway(home);
    try {
      gw.keeper.start();
      for (let failures = 1; failures <= 3; failures++) {
        await until(`failure ${failures}`, () => gw.failures() >= failures);
        const status = gw.store.statuses()["home.example.com"];
        expect(status?.failures).toBe(failures);
        // The wait is drawn from the upper half of 1, 2, 4 minutes.
        const waitMs = (status?.nextAttemptAtMs ?? 0) - gw.clock.nowMs;
        expect(waitMs).toBeGreaterThanOrEqual(RETRY_BASE_MS * 2 ** (failures - 2));
        expect(waitMs).toBeLessThanOrEqual(RETRY_BASE_MS * 2 ** (failures - 1));
        gw.clock.nowMs = status?.nextAttemptAtMs ?? 0;
        if (failures < 3) gw.keeper.tick();
      }
      // `bucky gateway enable` again: tried at once, and a failure then waits a minute again.
      gw.ownerActs();
      await until("the try the owner asked for", () => gw.failures() >= 4);
      const status = gw.store.statuses()["home.example.com"];
      expect(status?.failures).toBe(1);
      expect((status?.nextAttemptAtMs ?? 0) - gw.clock.nowMs).toBeLessThanOrEqual(RETRY_BASE_MS);
    } finally {
      gw.keeper.stop();
      rmSync(home, { recursive: true, force: true });
    }
  }, 30_000);

  test("set for a time further ahead than the longest backoff (the clock since set back) is tried now", async () => {
    const home = mkdtempSync(join(tmpdir(), "bucky-keeper-"));
    const gw = refusedGateway(home);
    try {
      gw.keeper.start();
      await until("the first failure", () => gw.failures() >= 1);
      const retryAt = gw.store.statuses()["home.example.com"]?.nextAttemptAtMs ?? 0;
      // Set back 30 days, two minutes after the failure: waited for, nothing was ordered
      // for 30 days while the certificate aged.
      gw.clock.nowMs = retryAt - 30 * 86_400_000 + 2 * 60_000;
      gw.keeper.tick();
      await until("the second try", () => gw.failures() >= 2);
    } finally {
      gw.keeper.stop();
      rmSync(home, { recursive: true, force: true });
    }
  }, 30_000);

  test("on a full disk is said as such, the daemon carries on, and it is not ordered again at once", async () => {
    await withTmpfs("size=256k", async (mount) => {
      const gw = refusedGateway(join(mount, "home"));
      fillDisk(join(mount, "filler"));
      try {
        gw.keeper.tick();
        await until("the failure", () => gw.failures() >= 1);
        expect(gw.passing.length).toBeGreaterThan(0);
        expect((gw.passing[0] as { code?: string }).code).toBe("ENOSPC");
        // Nothing saved, yet the next look waits out the backoff all the same.
        expect(gw.orders()).toBe(1);
        gw.keeper.tick();
        expect(gw.orders()).toBe(1);
      } finally {
        gw.keeper.stop();
      }
    });
  }, 30_000);
});

/** Writes `path` until the disk it is on has no room left. */
function fillDisk(path: string): void {
  for (const size of [64 * 1024, 1024, 1]) {
    try {
      for (;;) appendFileSync(path, new Uint8Array(size));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
    }
  }
}

/** A tmpfs of its own for `body` (root, as CI runs the tests). */
async function withTmpfs(options: string, body: (mount: string) => Promise<void>): Promise<void> {
  const mount = mkdtempSync(join(tmpdir(), "bucky-keeper-mnt-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", mount]);
  if (mounted.status !== 0)
    throw new Error(`this test needs root to mount a tmpfs (as CI runs it): ${mounted.stderr}`);
  try {
    mkdirSync(join(mount, "home"));
    await body(mount);
  } finally {
    spawnSync("umount", [mount]);
    rmSync(mount, { recursive: true, force: true });
  }
}

describe("the owner's approval", () => {
  test("a gateway not approved for its host orders nothing, and says why and what to run", async () => {
    const home = mkdtempSync(join(tmpdir(), "bucky-keeper-"));
    const gw = refusedGateway(home, { approved: false });
    try {
      gw.keeper.tick();
      await until("the reason said", () => gw.failures() >= 1);
      expect(gw.orders()).toBe(0);
      expect(gw.store.statuses()["home.example.com"]).toEqual({
        failures: 0,
        lastError: {
          at: new Date(gw.clock.nowMs).toISOString(),
          message: `the owner has not approved ${gw.name} as a gateway for home.example.com`,
          hint: `On a device holding the owner key, run: bucky gateway approve ${gw.name}`,
        },
      });
      expect(gw.keeper.facts()["home.example.com"]?.lastError?.message).toBe(
        `the owner has not approved ${gw.name} as a gateway for home.example.com`,
      );
      // Said once, not at every look.
      gw.keeper.tick();
      expect(gw.failures()).toBe(1);
    } finally {
      gw.keeper.stop();
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("the zone's gateways answer a challenge only for a name its gateway is approved for", () => {
    const home = mkdtempSync(join(tmpdir(), "bucky-keeper-"));
    const challenges = (device: string): Op[] => [
      {
        key: `nodes/${device}/acme/tok-host`,
        value: JSON.stringify({ name: "home.example.com", keyAuthorization: "k-host" }),
      },
      {
        key: `nodes/${device}/acme/tok-app`,
        value: JSON.stringify({ name: "site.home.example.com", keyAuthorization: "k-app" }),
      },
      {
        key: `nodes/${device}/acme/tok-other`,
        value: JSON.stringify({ name: "bank.example.com", keyAuthorization: "k-other" }),
      },
    ];
    try {
      const approved = refusedGateway(home, { ops: challenges(`d${71 + nodes}`) });
      expect(
        (
          [
            ["tok-host", "home.example.com"],
            ["tok-app", "Site.Home.Example.com."],
            ["tok-other", "bank.example.com"],
          ] as const
        ).map(([token, host]) => CertificateKeeper.challengeAnswer(approved.node, token, host)),
      ).toEqual(["k-host", "k-app", undefined]);
      // A member that declares itself a gateway for the zone's host, unapproved: nothing.
      const member = refusedGateway(home, {
        approved: false,
        ops: challenges(`d${71 + nodes}`),
      });
      expect(
        (
          [
            ["tok-host", "home.example.com"],
            ["tok-app", "site.home.example.com"],
            ["tok-other", "bank.example.com"],
          ] as const
        ).map(([token, host]) => CertificateKeeper.challengeAnswer(member.node, token, host)),
      ).toEqual([undefined, undefined, undefined]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("a challenge is answered only at the name it was published for: an approved name is no pass for another", () => {
    const home = mkdtempSync(join(tmpdir(), "bucky-keeper-"));
    try {
      // A member approved for home.example.com orders a certificate for bank.example.com
      // (a name the zone's gateways answer at, or any name pointed at them) and publishes
      // its challenge under the name it is approved for.
      const gw = refusedGateway(home, {
        ops: [
          {
            key: `nodes/d${71 + nodes}/acme/tok-stolen`,
            value: JSON.stringify({ name: "home.example.com", keyAuthorization: "k-stolen" }),
          },
        ],
      });
      expect(
        ["bank.example.com", "app.bank.example.com", "home.example.com"].map((host) =>
          CertificateKeeper.challengeAnswer(gw.node, "tok-stolen", host),
        ),
      ).toEqual([undefined, undefined, "k-stolen"]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("a certificate past its expiry", () => {
  test("is still served, so clients say it expired, rather than the gateway going back to plain HTTP", () => {
    const home = mkdtempSync(join(tmpdir(), "bucky-keeper-"));
    try {
      const gw = refusedGateway(home);
      const { cert, key } = selfSignedCertificate("home.example.com");
      gw.store.write("home.example.com", cert, key);
      gw.store.writeFile(key, "zone-ca", "key.pem");
      gw.store.writeFile(cert, "zone-ca", "cert.pem");
      gw.clock.nowMs = new X509Certificate(cert).validToDate.getTime() + 1;
      const acme: GatewayConfig = {
        listen: "127.0.0.1:1443",
        host: "home.example.com",
        https: true,
        tls: "acme",
      };
      expect(gw.keeper.served(acme)).toEqual([{ serverName: "home.example.com", cert, key }]);
      expect(gw.keeper.served({ ...acme, tls: "zone" })).toEqual([{ cert, key }]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
