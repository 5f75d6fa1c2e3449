import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import {
  GATEWAY_APPROVAL_TYPE,
  signGatewayApproval,
  unapprovedNames,
  verifyGatewayApproval,
} from "./gateway-approval.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { signJws } from "./jws.ts";
import type { DeviceName } from "./names.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const zone = zoneIdFromPublicKey(owner.publicKey);
const otherOwner = signingKeyFromSeed(new Uint8Array(32).fill(2));
const otherZone = zoneIdFromPublicKey(otherOwner.publicKey);
const device = deviceIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(3)).publicKey);
const fields = {
  zone,
  device,
  name: "laptop" as DeviceName,
  hosts: ["home.lan"],
  addresses: ["192.168.1.20"],
  issuedAtMs: 1_800_000_000_000,
};
const payload = {
  zone,
  device,
  name: "laptop",
  hosts: ["home.lan"],
  addresses: ["192.168.1.20"],
  iat: 1_800_000_000_000,
};

describe("a gateway approval", () => {
  test("signed by the owner checks, for that zone, with what it names", () => {
    const approval = signGatewayApproval(fields, owner);
    expect(verifyGatewayApproval(approval.jws, zone)).toEqual(approval);
    expect(approval).toMatchObject({ hosts: ["home.lan"], addresses: ["192.168.1.20"] });
  });

  test("signed by another key, or for another zone, is refused", () => {
    // A member forging one: the right zone named, its own key signing.
    const forged = signJws(
      { alg: "EdDSA", typ: GATEWAY_APPROVAL_TYPE, kid: zone },
      payload,
      otherOwner,
    );
    expect(() => verifyGatewayApproval(forged, zone)).toThrow(ProtocolError);
    // Another zone's owner approving its own gateway: worth nothing here.
    const theirs = signGatewayApproval({ ...fields, zone: otherZone }, otherOwner);
    expect(() => verifyGatewayApproval(theirs.jws, zone)).toThrow(
      "the gateway approval is not signed by this zone's owner",
    );
    // Another type of owner-signed document passed off as one.
    const other = signJws({ alg: "EdDSA", typ: "bucky-enroll/1", kid: zone }, payload, owner);
    expect(() => verifyGatewayApproval(other, zone)).toThrow("not a gateway approval");
  });

  test("with a byte changed, or an unknown field, is refused", () => {
    const { jws } = signGatewayApproval(fields, owner);
    const [header, body, signature] = jws.split(".") as [string, string, string];
    const flipped = `${header}.${body.slice(0, -2)}${body.at(-2) === "A" ? "B" : "A"}${body.at(-1)}.${signature}`;
    expect(() => verifyGatewayApproval(flipped, zone)).toThrow(ProtocolError);
    const extra = signJws(
      { alg: "EdDSA", typ: GATEWAY_APPROVAL_TYPE, kid: zone },
      { ...payload, wildcard: true },
      owner,
    );
    expect(() => verifyGatewayApproval(extra, zone)).toThrow('unknown field "wildcard"');
  });
});

describe("what an approval covers", () => {
  const approval = { hosts: ["home.lan"], addresses: ["192.168.1.20"] };

  test("its hosts, one label under them, and exactly its addresses", () => {
    expect(
      unapprovedNames(approval, {
        dnsNames: ["home.lan", "*.home.lan", "site.home.lan", "HOME.LAN."],
        addresses: ["192.168.1.20"],
      }),
    ).toEqual([]);
  });

  test("not another gateway's host, a router's name, a deeper name or another address", () => {
    expect(
      unapprovedNames(approval, {
        dnsNames: ["office.lan", "router.lan", "lan", "a.b.home.lan", "*.lan"],
        addresses: ["192.168.1.1", "192.168.1.200"],
      }),
    ).toEqual([
      "office.lan",
      "router.lan",
      "lan",
      "a.b.home.lan",
      "*.lan",
      "192.168.1.1",
      "192.168.1.200",
    ]);
  });

  test("nothing without an approval", () => {
    expect(unapprovedNames(undefined, { dnsNames: ["home.lan"], addresses: [] })).toEqual([
      "home.lan",
    ]);
  });
});
