/**
 * Certificates shared between the zone's gateways that serve the same host, so that a
 * name is ordered once for the zone, not once per gateway (a CA counts every order: Let's
 * Encrypt allows five of the same name a week), and so that a gateway whose fellow died
 * serves the name from the copy it already holds, ordering nothing.
 *
 *   nodes/<gateway>/certs/<name>   {"cert": PEM, "keys": {<device id>: sealed key}}
 *
 * The private key is never in the zone state in the clear: it is sealed
 * (protocol/device-seal.ts) to each fellow gateway's device key, and only to a gateway the
 * owner approved for the name. A copy is taken only from a member in good standing that
 * the owner approved for the name, only for a certificate naming it and going with the
 * key, and only when it is newer than the one held: a member cannot make a gateway serve a
 * certificate of its choosing, nor an older one.
 */
import { createPrivateKey, randomBytes, X509Certificate } from "node:crypto";
import { openAsDevice, sealToDevice } from "../../protocol/device-seal.ts";
import { fromBase64url, toBase64url } from "../../protocol/encoding.ts";
import { publicKeyOfId } from "../../protocol/ids.ts";
import { isRecord } from "../../protocol/shape.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { unapprovedFor } from "../gateway/approval.ts";
import { type GatewayConfig, readGateway } from "../gateway/config.ts";
import type { NodeContext } from "../node/node-context.ts";
import { stateRowsMatching, stateValue } from "../store/reads.ts";
import { standingOf } from "../sync/membership.ts";
import { renewAt } from "./store.ts";

export const sharedCertificateKey = (device: string, name: string) =>
  `nodes/${device}/certs/${name}`;

/** A shared record is a certificate chain and a few sealed keys: nothing larger is read. */
const MAX_RECORD_CHARS = 64 * 1024;

/** A certificate a fellow gateway shares, opened: ready to keep and serve. */
export interface SharedCertificate {
  readonly from: string;
  readonly cert: string;
  readonly key: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

const sealContext = (zoneId: string, name: string) =>
  `bucky gateway certificate key\n${zoneId}\n${name}`;

/**
 * The zone's other gateways that serve `name` over ACME for the same host and that the
 * owner approved for it, by device id: those this gateway's certificate is sealed to.
 * Live or not: one that is off now holds the name's certificate when it comes back.
 */
export function fellowGateways(node: NodeContext, config: GatewayConfig, name: string): string[] {
  const membership = node.membership();
  const fellows: string[] = [];
  for (const member of membership.byId.values()) {
    if (member.id === node.deviceId || standingOf(membership, member.id) !== "member") continue;
    const theirs = readGateway(node.db, member.name);
    if (theirs?.tls !== "acme" || !theirs.host || theirs.host !== config.host) continue;
    if (unapprovedFor(node, member.name, { dnsNames: [name], addresses: [] }).length > 0) continue;
    fellows.push(member.id);
  }
  return fellows.sort(compareCodeUnits);
}

/**
 * The write that shares `cert` (with `keyPem` sealed to each of `fellows`), or none when
 * this gateway already shares that certificate with exactly them (sealing is random: the
 * same key sealed again would be a new record at every look).
 */
export function shareWrite(
  node: NodeContext,
  name: string,
  cert: string,
  keyPem: string,
  fellows: readonly string[],
): { key: string; value: string | null } | undefined {
  const key = sharedCertificateKey(node.deviceName, name);
  const current = parseRecord(stateValue(node.db, key));
  // Shared with none yet, the record still says this gateway shares: a fellow approved
  // later waits for its key rather than ordering the name again.
  if (
    current?.cert === cert &&
    Object.keys(current.keys).sort(compareCodeUnits).join() === fellows.join()
  )
    return undefined;
  const keys: Record<string, string> = {};
  for (const id of fellows) {
    const device = publicKeyOfId(id, "device");
    if (!device) continue;
    keys[id] = toBase64url(
      sealToDevice({
        plaintext: new TextEncoder().encode(keyPem),
        device,
        context: sealContext(node.zoneId, name),
        ephemeral: randomBytes(32),
        nonce: randomBytes(12),
      }),
    );
  }
  return { key, value: JSON.stringify({ cert, keys }) };
}

/**
 * The newest certificate for `name` that a fellow gateway shares with this one (sealed to
 * `seed`, this device's key, read only when one is found), checked as the module says;
 * undefined when there is none.
 */
export function sharedCertificate(
  node: NodeContext,
  name: string,
  seed: () => Uint8Array,
): SharedCertificate | undefined {
  const membership = node.membership();
  const own = publicKeyOfId(node.deviceId, "device");
  if (!own) return undefined;
  let best: SharedCertificate | undefined;
  for (const row of stateRowsMatching(node.db, `nodes/*/certs/${name}`)) {
    const [, device] = row.key.split("/");
    if (device === undefined || device === node.deviceName) continue;
    if (row.key !== sharedCertificateKey(device, name)) continue;
    const member = membership.byName.get(device);
    if (!member || standingOf(membership, member.id) !== "member") continue;
    if (unapprovedFor(node, device, { dnsNames: [name], addresses: [] }).length > 0) continue;
    const record = parseRecord(row.value);
    const sealed = record ? fromBase64url(record.keys[node.deviceId] ?? "") : undefined;
    if (!record || !sealed || sealed.length === 0) continue;
    try {
      const key = new TextDecoder().decode(
        openAsDevice({
          sealed,
          seed: seed(),
          device: own,
          context: sealContext(node.zoneId, name),
        }),
      );
      const x509 = new X509Certificate(record.cert);
      if (x509.checkHost(name) === undefined) continue;
      if (!x509.checkPrivateKey(createPrivateKey(key))) continue;
      const notAfterMs = x509.validToDate.getTime();
      if (best && best.notAfterMs >= notAfterMs) continue;
      best = {
        from: device,
        cert: record.cert,
        key,
        notBeforeMs: x509.validFromDate.getTime(),
        notAfterMs,
      };
    } catch {
      // Not for this device, altered, or no certificate: another's may do.
    }
  }
  return best;
}

/** The keys of the certificates this gateway shares now. */
export function ownShares(node: NodeContext): string[] {
  return stateRowsMatching(node.db, `nodes/${node.deviceName}/certs/*`)
    .filter((row) => row.value !== null)
    .map((row) => row.key);
}

/**
 * Whether `device` shares a current certificate for `name` but not yet with this gateway
 * (it has not seen this one's approval or configuration yet): this one waits for its key
 * rather than ordering the name again.
 */
export function sharesWithoutMe(
  node: NodeContext,
  device: string,
  name: string,
  nowMs: number,
): boolean {
  const record = parseRecord(stateValue(node.db, sharedCertificateKey(device, name)));
  if (!record || record.keys[node.deviceId] !== undefined) return false;
  try {
    const x509 = new X509Certificate(record.cert);
    return (
      x509.checkHost(name) !== undefined &&
      nowMs < renewAt(x509.validFromDate.getTime(), x509.validToDate.getTime())
    );
  } catch {
    return false;
  }
}

function parseRecord(
  value: string | null | undefined,
): { cert: string; keys: Record<string, string> } | undefined {
  if (!value || value.length > MAX_RECORD_CHARS) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (!isRecord(parsed) || typeof parsed.cert !== "string" || !isRecord(parsed.keys))
      return undefined;
    const keys: Record<string, string> = {};
    for (const [id, sealed] of Object.entries(parsed.keys))
      if (typeof sealed === "string") keys[id] = sealed;
    return { cert: parsed.cert, keys };
  } catch {
    return undefined;
  }
}
