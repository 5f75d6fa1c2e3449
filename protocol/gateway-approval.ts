/**
 * The owner's approval of a gateway: which names one device may hold certificates for.
 * A device writes its own gateway configuration and its own certificate request, so
 * neither can be what decides: the zone CA issues, peers serve ACME challenge answers,
 * and a gateway orders ACME certificates only within an approval the owner key signed.
 *
 *   approval = JWS (typ bucky-gateway-approval/1, kid = zone id, signed by the owner key)
 *              { zone, device (id), name, hosts: […], addresses: […], iat (ms) }
 *
 * A host approves itself, `*.<host>` and each `<label>.<host>` (the apps' names under
 * it), nothing deeper; an address approves exactly that address. An approval with no
 * hosts and no addresses withdraws the ones before. Of a device's approvals, the one with
 * the latest `iat` counts: an older one written again changes nothing.
 *
 * Pure: the caller passes the time.
 */
import type { SigningKey } from "./ed25519.ts";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { check } from "./errors.ts";
import { type DeviceId, parseDeviceId, publicKeyOfId, type ZoneId } from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { checkDeviceName, type DeviceName } from "./names.ts";
import { requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";

export const GATEWAY_APPROVAL_TYPE = "bucky-gateway-approval/1";
/** The most host names, and the most addresses, one approval names. */
export const MAX_APPROVED_HOSTS = 8;
export const MAX_APPROVED_ADDRESSES = 8;
const MAX_NAME_LENGTH = 253;
const MAX_ADDRESS_LENGTH = 45;

export interface GatewayApproval {
  readonly zone: ZoneId;
  readonly device: DeviceId;
  readonly name: DeviceName;
  /** Lower case, no trailing dot. */
  readonly hosts: readonly string[];
  readonly addresses: readonly string[];
  /** Milliseconds since the epoch: the latest approval of a device counts. */
  readonly issuedAtMs: number;
  readonly jws: string;
}

export function signGatewayApproval(
  fields: Omit<GatewayApproval, "jws">,
  owner: SigningKey,
): GatewayApproval {
  const hosts = fields.hosts.map(normalHost);
  const jws = signJws(
    { alg: "EdDSA", typ: GATEWAY_APPROVAL_TYPE, kid: fields.zone },
    {
      zone: fields.zone,
      device: fields.device,
      name: fields.name,
      hosts,
      addresses: fields.addresses,
      iat: fields.issuedAtMs,
    },
    owner,
  );
  // Checked as any reader would, so that nothing is signed that no one accepts.
  return verifyGatewayApproval(jws, fields.zone);
}

/** Checks an approval: the owner of `zone` signed it, for that zone, and it makes sense. */
export function verifyGatewayApproval(jws: string, zone: ZoneId): GatewayApproval {
  const decoded = decodeJws(jws);
  check(decoded.header.typ === GATEWAY_APPROVAL_TYPE, "not a gateway approval");
  check(decoded.header.kid === zone, "the gateway approval is not signed by this zone's owner");
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(zone, "zone") as Uint8Array));
  const payload = requireRecord(decoded.payload, "gateway approval");
  requireOnlyFields(
    payload,
    ["zone", "device", "name", "hosts", "addresses", "iat"],
    "gateway approval",
  );
  check(payload.zone === zone, "the gateway approval is for another zone");
  const device = parseDeviceId(requireString(payload.device, "gateway approval device", 64));
  check(device !== undefined, "the gateway approval's device is not a device id");
  const name = checkDeviceName(requireString(payload.name, "gateway approval name", 64));
  check(name.ok, "the gateway approval's device name is not a device name");
  const hosts = requireList(payload.hosts, "hosts", MAX_APPROVED_HOSTS, MAX_NAME_LENGTH);
  check(
    hosts.every((host) => host === normalHost(host)),
    "the gateway approval's hosts must be lower case, without a trailing dot",
  );
  return {
    zone,
    device,
    name: name.name,
    hosts,
    addresses: requireList(
      payload.addresses,
      "addresses",
      MAX_APPROVED_ADDRESSES,
      MAX_ADDRESS_LENGTH,
    ),
    issuedAtMs: requireUint(payload.iat, "gateway approval iat"),
    jws,
  };
}

/**
 * The names of `wanted` (DNS names, then addresses) that `approval` does not cover, in
 * the order given: empty when it covers them all.
 */
export function unapprovedNames(
  approval: Pick<GatewayApproval, "hosts" | "addresses"> | undefined,
  wanted: { readonly dnsNames: readonly string[]; readonly addresses: readonly string[] },
): string[] {
  const hosts = new Set(approval?.hosts ?? []);
  const addresses = new Set((approval?.addresses ?? []).map((a) => a.toLowerCase()));
  const coveredName = (name: string) => {
    const lower = normalHost(name);
    if (hosts.has(lower)) return true;
    const dot = lower.indexOf(".");
    // `*.<host>` or `<label>.<host>`: one label under an approved host.
    return dot > 0 && hosts.has(lower.slice(dot + 1));
  };
  return [
    ...wanted.dnsNames.filter((name) => !coveredName(name)),
    ...wanted.addresses.filter((address) => !addresses.has(address.toLowerCase())),
  ];
}

function normalHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, "");
}

function requireList(value: unknown, what: string, max: number, maxLength: number): string[] {
  check(Array.isArray(value), `the gateway approval's ${what} must be a list`);
  const list = value as unknown[];
  check(list.length <= max, `the gateway approval names more than ${max} ${what}`);
  return list.map((item) => requireString(item, `gateway approval ${what}`, maxLength));
}
