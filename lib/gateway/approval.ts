/**
 * Which names a gateway may hold certificates for: the owner's signed approval of it
 * (protocol/gateway-approval.ts), kept in the zone state by the device holding the owner
 * key that signed it:
 *
 *   nodes/<approving device>/gateway-approval/<gateway>   the approval's JWS, as JSON
 *
 * A device writes its own gateway configuration and its own certificate request, so a
 * member (a stolen laptop, a leaked device key) could otherwise ask the zone CA for
 * `router.lan` or another gateway's host, or order a public certificate for the zone's
 * host. The zone CA issues, peers serve ACME challenge answers, and a gateway orders,
 * only within an approval. The approval is checked where it is read, so where it is
 * written proves nothing: of a gateway's approvals that check, the latest counts, and
 * only while the gateway is a member in good standing with the key the approval names.
 *
 * `bucky gateway enable` on a device holding the owner key approves its own names (the
 * owner is acting); elsewhere the owner runs `bucky gateway approve <device>`.
 */

import { ProtocolError } from "../../protocol/errors.ts";
import {
  type GatewayApproval,
  signGatewayApproval,
  unapprovedNames,
  verifyGatewayApproval,
} from "../../protocol/gateway-approval.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { type DeviceName, isHostName } from "../../protocol/names.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { isLocalAddress, LOCAL_SUFFIXES } from "../../protocol/zone-ca.ts";
import { NOT_APPROVED } from "../certs/remedy.ts";
import { requestKey } from "../certs/zone-ca.ts";
import { BuckyError } from "../errors.ts";
import { parsedValue, type StateReader, stateRowsMatching, stateValue } from "../store/reads.ts";
import { type Membership, standingOf } from "../sync/membership.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { type GatewayConfig, parseListen, readGateway } from "./config.ts";

export const approvalKey = (approver: string, gateway: string) =>
  `nodes/${approver}/gateway-approval/${gateway}`;
/** Whether a state key holds a gateway approval (a change there is worth a look). */
export const isApprovalKey = (key: string) => /^nodes\/[^/]+\/gateway-approval\//.test(key);

/** The names a gateway's certificates carry: DNS names, and addresses. */
export interface WantedNames {
  readonly dnsNames: readonly string[];
  readonly addresses: readonly string[];
}

/** Whether a gateway may hold certificates for what it serves, said for people. */
export interface ApprovalStatus {
  readonly approved: boolean;
  /** The names it serves that the owner has not approved. */
  readonly unapproved: readonly string[];
  /** What to run, when not approved. */
  readonly hint?: string;
}

/**
 * The owner's latest approval of `gateway`, for its current key, while it is a member in
 * good standing; undefined when there is none.
 */
export function readApproval(
  db: StateReader,
  zone: ZoneId,
  membership: Membership,
  gateway: string,
): GatewayApproval | undefined {
  const member = membership.byName.get(gateway);
  if (!member || standingOf(membership, member.id) !== "member") return undefined;
  let best: GatewayApproval | undefined;
  for (const row of stateRowsMatching(db, approvalKey("*", gateway))) {
    const approval = parseApproval(row.value, zone);
    if (!approval || approval.name !== gateway || approval.device !== member.id) continue;
    if (
      !best ||
      approval.issuedAtMs > best.issuedAtMs ||
      (approval.issuedAtMs === best.issuedAtMs && compareCodeUnits(approval.jws, best.jws) > 0)
    )
      best = approval;
  }
  return best;
}

/** The names of `wanted` the owner has not approved for `gateway` (empty: all approved). */
export function unapprovedFor(
  node: { db: StateReader; zoneId: ZoneId; membership(): Membership },
  gateway: string,
  wanted: WantedNames,
): string[] {
  return unapprovedNames(readApproval(node.db, node.zoneId, node.membership(), gateway), wanted);
}

/** What a gateway of this configuration needs approved: its host, and its zone CA addresses. */
export function wantedNames(config: GatewayConfig, addresses: readonly string[]): WantedNames {
  return {
    dnsNames: config.host ? [config.host] : [],
    addresses: config.tls === "zone" ? zoneAddresses(config, addresses) : [],
  };
}

/** Whether a configuration's certificates come from the zone CA or ACME (which need approval). */
export function needsApproval(config: GatewayConfig | undefined): config is GatewayConfig {
  return config?.tls === "zone" || config?.tls === "acme";
}

/** The addresses a zone CA certificate names: the listen address, or this device's own. */
export function zoneAddresses(config: GatewayConfig, addresses: readonly string[]): string[] {
  const { host } = parseListen(config.listen);
  const candidates =
    host === "0.0.0.0" || host === "::"
      ? addresses.map((address) => new URL(address).hostname.replace(/^\[|\]$/g, ""))
      : [host];
  return [...new Set(candidates)].filter(isLocalAddress).slice(0, 8);
}

export { NOT_APPROVED };

/** The message and hint a gateway shows while names it serves are not approved. */
export function notApproved(
  gateway: string,
  unapproved: readonly string[],
): { message: string; hint: string } {
  return {
    message: `${NOT_APPROVED}${gateway} as a gateway for ${unapproved.join(", ")}`,
    hint: `On a device holding the owner key, run: bucky gateway approve ${gateway}`,
  };
}

/**
 * Whether this device's gateway is approved for what it serves. On a device holding the
 * owner key, its own names are approved first (the owner is acting). Undefined for a
 * gateway whose certificates need no approval (files given, or plain HTTP).
 */
export function ownApproval(
  zone: ZoneWriter,
  deviceName: string,
  holdsOwnerKey: boolean,
): ApprovalStatus | undefined {
  const config = readGateway(zone.db, deviceName);
  if (!needsApproval(config)) return undefined;
  const wanted = wantedNames(config, zone.addresses);
  let unapproved = unapprovedFor(zone, deviceName, wanted);
  if (unapproved.length > 0 && holdsOwnerKey) {
    try {
      approveGateway(zone, deviceName, deviceName, {
        hosts: wanted.dnsNames,
        addresses: wanted.addresses,
      });
    } catch (error) {
      // Names no one should approve (a bare suffix): left unapproved, and said so.
      if (!(error instanceof BuckyError && error.code === "E_INVALID_INPUT")) throw error;
    }
    unapproved = unapprovedFor(zone, deviceName, wanted);
  }
  return unapproved.length === 0
    ? { approved: true, unapproved: [] }
    : { approved: false, unapproved, hint: notApproved(deviceName, unapproved).hint };
}

/** What `bucky gateway approve` gives: exactly these names, for this device. */
export interface ApprovalRequest {
  readonly hosts?: readonly string[];
  readonly addresses?: readonly string[];
}

export interface Approved {
  readonly device: string;
  readonly hosts: readonly string[];
  readonly addresses: readonly string[];
  readonly approvedAt: string;
}

/**
 * Signs and keeps the owner's approval of `gateway` for exactly the names given; what is
 * not given (hosts, addresses) is what it serves now: its host, the addresses it asks the
 * zone CA for. Empty lists of both withdraw the approval. Needs the owner key.
 */
export function approveGateway(
  zone: ZoneWriter,
  selfName: string,
  gateway: string,
  request: ApprovalRequest,
): Approved {
  const membership = zone.membership();
  const { member, hosts, addresses } = namesToApprove(zone.db, membership, gateway, request);
  const approval = signGatewayApproval(
    {
      zone: zone.zoneId,
      device: member.id,
      name: member.name as DeviceName,
      hosts,
      addresses,
      // Later than any approval before, even with a clock behind.
      issuedAtMs: Math.max(
        zone.now(),
        (readApproval(zone.db, zone.zoneId, membership, gateway)?.issuedAtMs ?? 0) + 1,
      ),
    },
    zone.ownerKey(),
  );
  zone.write([{ key: approvalKey(selfName, gateway), value: JSON.stringify(approval.jws) }]);
  zone.log.info("gateway approved", {
    device: gateway,
    names: [...hosts, ...addresses].join(",") || "none",
  });
  return {
    device: gateway,
    hosts,
    addresses,
    approvedAt: new Date(approval.issuedAtMs).toISOString(),
  };
}

/** What approving `gateway` would approve: the names given, and what it serves now for the rest. */
export interface ProposedApproval {
  readonly device: string;
  readonly hosts: readonly string[];
  readonly addresses: readonly string[];
}

/**
 * The names `bucky gateway approve <gateway>` would approve with `request`, as the zone
 * state says (its configuration and its request to the zone CA) for what `request` does
 * not name, without approving them: for the panel and the command line, which show them
 * before the owner confirms exactly those. What a gateway says of itself in its facts (a
 * certificate's error) is its own to write, so it is never what is shown.
 */
export function proposedApproval(
  node: { db: StateReader; membership(): Membership },
  gateway: string,
  request: ApprovalRequest = {},
): ProposedApproval {
  const { hosts, addresses } = namesToApprove(node.db, node.membership(), gateway, request);
  return { device: gateway, hosts, addresses };
}

/** The member `gateway` and the names an approval of it with `request` names, checked. */
function namesToApprove(
  db: StateReader,
  membership: Membership,
  gateway: string,
  request: ApprovalRequest,
): { member: { id: DeviceId; name: string }; hosts: string[]; addresses: string[] } {
  const member = membership.byName.get(gateway);
  if (!member || standingOf(membership, member.id) !== "member")
    throw new BuckyError(
      "E_NOT_FOUND",
      `${gateway} is not a device of this zone`,
      "`bucky devices list` shows the zone's devices.",
    );
  const serves = servedNames(db, gateway);
  if (request.hosts === undefined && request.addresses === undefined && !serves)
    throw new BuckyError(
      "E_NOT_FOUND",
      `${gateway} is not a gateway with certificates from the zone CA or ACME`,
      `Run \`bucky gateway enable --host NAME\` on ${gateway} first, or name what it may serve: bucky gateway approve ${gateway} --host NAME`,
    );
  const hosts = [...new Set((request.hosts ?? serves?.dnsNames ?? []).map(hostName))];
  const addresses = [...new Set(request.addresses ?? serves?.addresses ?? [])];
  for (const host of hosts)
    if (LOCAL_SUFFIXES.includes(host))
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${host} is a suffix every local name ends with: approving it would let ${gateway} pass for any .${host} name`,
        "Approve the gateway's own host, such as home.lan.",
      );
  for (const address of addresses)
    if (!isLocalAddress(address))
      throw new BuckyError(
        "E_INVALID_INPUT",
        `${address} is not a private address: the zone CA certifies only those`,
        "Name the gateway's own LAN address, such as 192.168.1.20.",
      );
  return { member, hosts, addresses };
}

/**
 * What a gateway serves now, as the state says: its host, and the addresses its request
 * to the zone CA names. Undefined when it is not a gateway needing approval.
 */
function servedNames(db: StateReader, gateway: string): WantedNames | undefined {
  const config = readGateway(db, gateway);
  if (!needsApproval(config)) return undefined;
  let addresses: string[] = [];
  if (config.tls === "zone") {
    const request = parsedValue(stateValue(db, requestKey(gateway))) as
      | { addresses?: unknown }
      | undefined;
    if (Array.isArray(request?.addresses))
      addresses = request.addresses.filter((a): a is string => typeof a === "string").slice(0, 8);
  }
  return { dnsNames: config.host ? [config.host] : [], addresses };
}

function hostName(text: string): string {
  const host = text.toLowerCase().replace(/\.$/, "");
  if (!isHostName(host))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `--host ${JSON.stringify(text)} is not a host name`,
      "For example: --host home.lan",
    );
  return host;
}

function parseApproval(value: string | null, zone: ZoneId): GatewayApproval | undefined {
  const jws = parsedValue(value);
  if (typeof jws !== "string") return undefined;
  try {
    return verifyGatewayApproval(jws, zone);
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}
