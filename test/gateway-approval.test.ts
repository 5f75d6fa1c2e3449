/**
 * Which names a gateway may hold a certificate for: only those the owner approved for it.
 * A member device writes its own gateway configuration and its own request to the zone
 * CA, so without the owner's approval a stolen laptop could have the zone CA (whose root
 * the owner's phones trust) certify `router.lan`, another gateway's host, or a private
 * address not its own, and pass for it on the LAN.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { signGatewayApproval } from "../protocol/gateway-approval.ts";
import { type DeviceId, type ZoneId, zoneIdFromPublicKey } from "../protocol/ids.ts";
import { signJws } from "../protocol/jws.ts";
import type { DeviceName } from "../protocol/names.ts";
import {
  answeredOnceHeld,
  BUCKY,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  freePort,
  jsonError,
  startZone,
  waitFor,
} from "./harness.ts";
import { presented } from "./presented-cert.ts";

afterAll(cleanUp);

interface StatusCertificate {
  device: string;
  name: string;
  issuer: string;
  notAfter: string | null;
  lastError: { at: string; message: string; hint?: string } | null;
  remedy: { kind: string; gateway: string } | null;
}

async function certificateOf(
  home: string,
  device: string,
  name: string,
): Promise<StatusCertificate | undefined> {
  const status = await buckyJson<{ certificates: StatusCertificate[] }>(["status", "--home", home]);
  return status.certificates.find((c) => c.device === device && c.name === name);
}

/**
 * Runs `bucky args…` on a terminal (a pseudo-terminal `script` makes), typing `input`:
 * what a person sees there (stdout and stderr together), and how it exited.
 */
async function onTerminal(
  args: readonly string[],
  input: string,
): Promise<{ exitCode: number | null; output: string }> {
  const command = [BUCKY, ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(" ");
  const child = Bun.spawn(["script", "--quiet", "--return", "--command", command, "/dev/null"], {
    stdin: new Blob([input]),
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent", TERM: "dumb" },
  });
  const output = await new Response(child.stdout).text();
  await child.exited;
  return { exitCode: child.exitCode, output: output.replaceAll("\r\n", "\n") };
}

/** Whether `key` is in the zone state as `home`'s device holds it. */
async function hasKey(home: string, key: string): Promise<boolean> {
  return (await bucky(["state", "get", key, "--home", home, "--json"])).exitCode === 0;
}

describe("the zone CA and the owner's approval", () => {
  test("a member gets nothing for another gateway's host, router.lan or an address not its own; once approved, exactly the approved names, seen everywhere with the approver stopped", async () => {
    const zone = await startZone(["a", "b", "c"]);
    const [a, b, c] = [zone.get("a"), zone.get("b"), zone.get("c")] as [Daemon, Daemon, Daemon];
    const { zone: zoneOf } = await buckyJson<{ zone: { id: ZoneId } }>([
      "status",
      "--home",
      a.home,
    ]);
    const aPort = freePort();
    // The owner's device: approved by itself, as it holds the owner key.
    expect(
      await buckyJson([
        "gateway",
        "enable",
        "--host",
        "home.lan",
        "--listen",
        `127.0.0.1:${aPort}`,
        "--home",
        a.home,
      ]),
    ).toEqual({
      listen: `127.0.0.1:${aPort}`,
      host: "home.lan",
      https: true,
      tls: "zone",
      approval: { approved: true, unapproved: [] },
    });
    await waitFor("a's certificate", async () =>
      (await certificateOf(a.home, "a", "home.lan"))?.notAfter ? true : undefined,
    );

    // A member declaring itself a gateway for a's host: said not approved, nothing issued.
    const bPort = freePort();
    /** b made a gateway for its own host and address, as the owner will approve. */
    const enableOffice = [
      "gateway",
      "enable",
      "--host",
      "office.lan",
      "--listen",
      `127.0.0.2:${bPort}`,
      "--home",
      b.home,
    ];
    const enabled = await buckyJson([
      "gateway",
      "enable",
      "--host",
      "home.lan",
      "--listen",
      `127.0.0.2:${bPort}`,
      "--home",
      b.home,
    ]);
    expect(enabled.approval).toEqual({
      approved: false,
      unapproved: ["home.lan", "127.0.0.2"],
      hint: "On a device holding the owner key, run: bucky gateway approve b",
    });
    const refusal = (names: string) =>
      `zone CA refused a request gateway=b error="the owner has not approved b as a gateway for ${names}"`;
    await waitFor("the CA's refusal", () =>
      a.log().includes(refusal("home.lan, *.home.lan, 127.0.0.2")) ? true : undefined,
    );
    const waiting = await waitFor("b's reason, on c", async () => {
      const cert = await certificateOf(c.home, "b", "home.lan");
      return cert?.lastError ? cert : undefined;
    });
    expect(waiting).toMatchObject({
      issuer: "zone",
      notAfter: null,
      lastError: {
        message: "the owner has not approved b as a gateway for home.lan, *.home.lan, 127.0.0.2",
        hint: "On a device holding the owner key, run: bucky gateway approve b",
      },
      remedy: { kind: "approve", gateway: "b" },
    });
    // On c, b's hint is b's words (it writes its facts): what to do is the zone's own text.
    const said = await bucky(["status", "--home", c.home]);
    expect(said.stdout).toContain(
      `b says its last try ${waiting.lastError?.at} failed: "the owner has not approved b as a gateway for home.lan, *.home.lan, 127.0.0.2"; to do: the owner approves it: on a device holding the owner key, run \`bucky gateway approve b\``,
    );
    expect(said.stdout).not.toContain("run: bucky gateway approve b");
    const warnings = await buckyJson<{ reliability: { warnings: string[] } }>([
      "status",
      "--home",
      c.home,
    ]);
    expect(warnings.reliability.warnings).toContain(
      'b has no certificate for home.lan yet: b says "the owner has not approved b as a gateway for home.lan, *.home.lan, 127.0.0.2"',
    );

    // The same member writing its own request (its keeper stopped: no gateway any more), with
    // approvals forged by its own key and signed by another zone's owner: still nothing. Not
    // even refused: the CA answers only gateways that take their certificates from it now
    // (a gateway disabled kept its certificate renewed); that it never answered this one is
    // checked once it has answered b's next request.
    await buckyJson(["gateway", "disable", "--home", b.home]);
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const spki = Buffer.from(publicKey.export({ format: "der", type: "spki" })).toString(
      "base64url",
    );
    const { devices } = await buckyJson<{ devices: { name: string; id: DeviceId }[] }>([
      "devices",
      "--home",
      c.home,
    ]);
    const bId = devices.find((d) => d.name === "b")?.id as DeviceId;
    const wanted = { hosts: ["router.lan"], addresses: ["192.168.1.1"] };
    const stranger = signingKeyFromSeed(new Uint8Array(32).fill(9));
    const forged = signJws(
      { alg: "EdDSA", typ: "bucky-gateway-approval/1", kid: zoneOf.id },
      { zone: zoneOf.id, device: bId, name: "b", ...wanted, iat: Date.now() },
      stranger,
    );
    const otherZone = signGatewayApproval(
      {
        zone: zoneIdFromPublicKey(stranger.publicKey),
        device: bId,
        name: "b" as DeviceName,
        ...wanted,
        issuedAtMs: Date.now(),
      },
      stranger,
    ).jws;
    for (const [key, value] of [
      ["nodes/b/gateway-approval/b", forged],
      ["nodes/b/gateway-approval/c", otherZone],
      [
        "nodes/b/zone-ca/request",
        { publicKey: spki, dnsNames: ["router.lan", "*.router.lan"], addresses: ["192.168.1.1"] },
      ],
    ] as const)
      await buckyJson(["state", "set", key, JSON.stringify(value), "--home", b.home]);
    expect(await hasKey(a.home, "nodes/a/zone-ca/issued/b")).toBe(false);

    // Approved by the owner for its own host and address: issued for exactly those.
    await buckyJson(["state", "del", "nodes/b/zone-ca/request", "--home", b.home]);
    await buckyJson(enableOffice);
    await waitFor("b's request for office.lan, on a", async () => {
      const found = await bucky([
        "state",
        "get",
        "nodes/b/zone-ca/request",
        "--home",
        a.home,
        "--json",
      ]);
      return found.exitCode === 0 && found.stdout.includes("office.lan") ? true : undefined;
    });
    // What b asks for is b's to write: never approved unseen. With --json, or off a
    // terminal, it is refused with the names and the flag; on a terminal it is asked, and
    // only a yes approves.
    for (const flags of [["--json"], [], ["--host", "office.lan", "--json"]]) {
      const unseen = await bucky(["gateway", "approve", "b", "--home", a.home, ...flags]);
      expect(unseen.exitCode).toBe(2);
      expect(unseen.stdout).toBe("");
      expect(unseen.stderr).toContain(
        "b asks to be approved for office.lan (and <app>.office.lan under it), 127.0.0.2: nothing was approved unseen",
      );
      expect(unseen.stderr).toContain(
        "If these are b's own names, run again with --yes, or name them: bucky gateway approve b --host office.lan --address 127.0.0.2",
      );
    }
    const declined = await onTerminal(["gateway", "approve", "b", "--home", a.home], "n\n");
    expect(declined.output).toContain(
      "b asks to be approved as a gateway for: office.lan (and <app>.office.lan under it), 127.0.0.2.",
    );
    expect(declined.output).toContain("Approve exactly these? [y/N]");
    expect(declined.output).toContain("b was not approved: the names were not confirmed");
    expect(declined.exitCode).toBe(2);
    expect(await hasKey(a.home, "nodes/a/gateway-approval/b")).toBe(false);
    const confirmed = await onTerminal(["gateway", "approve", "b", "--home", a.home], "y\n");
    expect(confirmed.exitCode).toBe(0);
    expect(confirmed.output).toContain("b may hold certificates for: office.lan, 127.0.0.2");
    // Said approved only once another device holds it: lost with a, b would never be.
    const approvals = () => a.log().match(/gateway approved device=b/g)?.length ?? 0;
    const before = approvals();
    const approved = await answeredOnceHeld(
      [b, c],
      () => buckyJson(["gateway", "approve", "b", "--yes", "--home", a.home]),
      { what: "a to approve b", seen: () => approvals() > before },
    );
    expect(approved).toMatchObject({
      device: "b",
      hosts: ["office.lan"],
      addresses: ["127.0.0.2"],
      heldElsewhere: "held",
    });
    await waitFor("b's certificate", async () =>
      (await certificateOf(b.home, "b", "office.lan"))?.notAfter ? true : undefined,
    );
    const cert = await waitFor("b serving it", () =>
      presented("127.0.0.2", bPort, "office.lan").then(
        (x509) => (x509.subjectAltName?.includes("office.lan") ? x509 : undefined),
        () => undefined,
      ),
    );
    expect(cert.subjectAltName?.split(", ").sort()).toEqual([
      "DNS:*.office.lan",
      "DNS:office.lan",
      "IP Address:127.0.0.2",
    ]);
    expect(a.log()).not.toContain("router.lan");

    // The approving device stopped: the approval and the CA's answer hold on every device.
    await a.stop();
    const onC = await waitFor("b's certificate, on c", async () => {
      const found = await certificateOf(c.home, "b", "office.lan");
      return found?.notAfter ? found : undefined;
    });
    expect(onC).toMatchObject({ issuer: "zone", lastError: null });
    const again = await buckyJson(enableOffice);
    expect(again.approval).toEqual({ approved: true, unapproved: [] });
    // c holds no owner key: it cannot approve.
    const refused = await bucky(["gateway", "approve", "b", "--home", c.home, "--json"]);
    expect(refused.exitCode).toBe(1);
    expect(jsonError(refused)).toMatchObject({
      code: "E_PERMISSION",
      message: "this device does not hold the owner key",
    });
    // Asked on a terminal only where it can approve: c says so before asking anything.
    const notAsked = await onTerminal(["gateway", "approve", "b", "--home", c.home], "y\n");
    expect(notAsked.exitCode).toBe(1);
    expect(notAsked.output).toContain("this device does not hold the owner key");
    expect(notAsked.output).not.toContain("[y/N]");
    const refusedYes = await bucky([
      "gateway",
      "approve",
      "b",
      "--yes",
      "--home",
      c.home,
      "--json",
    ]);
    expect(refusedYes.exitCode).toBe(1);
    expect(jsonError(refusedYes)).toMatchObject({
      code: "E_PERMISSION",
      message: "this device does not hold the owner key",
    });
  }, 120_000);
});
