/**
 * The zone certificate authority, for gateways whose names are not on the internet. Its
 * key is derived from the owner key (HKDF, so the recovery phrase brings the same CA
 * back), and only a device holding the owner key issues. Everything else is in the zone
 * state, so nothing commands anyone:
 *
 *   nodes/<owner device>/zone-ca/root         {cert, ownerSignature}  the root, signed by the owner key too
 *   nodes/<gateway>/zone-ca/request           {publicKey, dnsNames, addresses}  what a gateway asks for
 *   nodes/<owner device>/zone-ca/issued/<gw>  {cert}  what the CA gave it
 *
 * A device holding the owner key issues for each request it has no current answer to;
 * a gateway serves an issued certificate only once it checks against the owner-signed
 * root and carries its own key. A member that writes junk there makes nothing trusted.
 */
import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from "node:crypto";
import { type SigningKey, verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { concatBytes, fromBase64url, toBase64url, utf8 } from "../../protocol/encoding.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { certificatePem } from "../../protocol/tls-cert.ts";
import { certificate, leafTbs, type RootRequest, rootTbs } from "../../protocol/zone-ca.ts";
import { BuckyError } from "../errors.ts";
import { readGateway } from "../gateway/config.ts";
import type { StateQueries } from "../store/db.ts";
import { keyGlob } from "../store/key-glob.ts";
import { parsedValue } from "../store/reads.ts";
import { state } from "../store/schema.ts";
import { type Membership, standingOf } from "../sync/membership.ts";

export const rootKey = (device: string) => `nodes/${device}/zone-ca/root`;
export const requestKey = (device: string) => `nodes/${device}/zone-ca/request`;
export const issuedKey = (issuer: string, gateway: string) =>
  `nodes/${issuer}/zone-ca/issued/${gateway}`;
/** Whether a state key is one of the CA's (a change there is worth a look). */
export const isZoneCaKey = (key: string) => /^nodes\/[^/]+\/zone-ca\//.test(key);

const ROOT_SIGNATURE_CONTEXT = utf8("bucky zone ca root v1\n");
const P256_ORDER = BigInt("0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");

export interface ZoneRoot {
  readonly pem: string;
  readonly cert: X509Certificate;
  readonly zoneName: string;
}

export interface CertificateRequest {
  /** The gateway's public key, SubjectPublicKeyInfo DER in base64url. */
  readonly publicKey: string;
  readonly dnsNames: readonly string[];
  readonly addresses: readonly string[];
}

/** The CA's key pair, derived from the owner key's seed. */
export function caKeyFromOwnerSeed(ownerSeed: Uint8Array): { key: KeyObject; spki: Uint8Array } {
  for (let counter = 0; ; counter++) {
    const okm = hkdfSync("sha256", ownerSeed, "bucky", `bucky zone ca key v1/${counter}`, 32);
    const d = BigInt(`0x${Buffer.from(okm).toString("hex")}`);
    if (d === 0n || d >= P256_ORDER) continue;
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(Buffer.from(okm));
    const point = ecdh.getPublicKey();
    const key = createPrivateKey({
      key: {
        kty: "EC",
        crv: "P-256",
        d: Buffer.from(okm).toString("base64url"),
        x: point.subarray(1, 33).toString("base64url"),
        y: point.subarray(33, 65).toString("base64url"),
      },
      format: "jwk",
    });
    const spki = new Uint8Array(createPublicKey(key).export({ format: "der", type: "spki" }));
    return { key, spki };
  }
}

/** Makes the root certificate, signed by the CA key and, over its bytes, by the owner key. */
export function makeRoot(
  zone: { id: ZoneId; name: string },
  ownerSeed: Uint8Array,
  owner: SigningKey,
  nowMs: number,
): { cert: string; ownerSignature: string } {
  const ca = caKeyFromOwnerSeed(ownerSeed);
  const tbs = rootTbs(rootRequest(zone, ca.spki, nowMs));
  const der = certificate(tbs, new Uint8Array(sign("sha256", tbs, ca.key)));
  return {
    cert: certificatePem(der),
    ownerSignature: toBase64url(owner.sign(concatBytes(ROOT_SIGNATURE_CONTEXT, der))),
  };
}

/** The zone's root as the state holds it, checked against the owner key; undefined if none. */
export function readRoot(db: StateQueries, zoneId: ZoneId, zoneName: string): ZoneRoot | undefined {
  const ownerPublic = publicKeyOfId(zoneId, "zone");
  if (!ownerPublic) return undefined;
  const owner = verifyKeyFromPublicKey(ownerPublic);
  const rows = db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(keyGlob("nodes/*/zone-ca/root"))
    .all()
    .sort((a, b) => compareCodeUnits(a.key, b.key));
  for (const row of rows) {
    const value = parsedValue(row.value) as
      | { cert?: unknown; ownerSignature?: unknown }
      | undefined;
    if (typeof value?.cert !== "string" || typeof value.ownerSignature !== "string") continue;
    try {
      const cert = new X509Certificate(value.cert);
      const signature = fromBase64url(value.ownerSignature);
      if (!signature || !owner.verify(concatBytes(ROOT_SIGNATURE_CONTEXT, cert.raw), signature))
        continue;
      return { pem: value.cert, cert, zoneName };
    } catch (error) {
      if (error instanceof ProtocolError || error instanceof Error) continue;
      throw error;
    }
  }
  return undefined;
}

/** The CA's answer to a request: a certificate for exactly the names asked, 45 days. */
export function issueLeaf(
  zone: { id: ZoneId; name: string },
  ownerSeed: Uint8Array,
  request: CertificateRequest,
  nowMs: number,
): string {
  const ca = caKeyFromOwnerSeed(ownerSeed);
  const publicKey = fromBase64url(request.publicKey);
  if (!publicKey)
    throw new BuckyError("E_INVALID_INPUT", "the request's public key is not base64url");
  try {
    const tbs = leafTbs({
      issuer: rootRequest(zone, ca.spki, nowMs),
      publicKey,
      dnsNames: request.dnsNames,
      addresses: request.addresses,
      serial: new Uint8Array(randomBytes(16)),
      // A minute back, for clocks a little behind.
      notBeforeMs: nowMs - 60_000,
    });
    return certificatePem(certificate(tbs, new Uint8Array(sign("sha256", tbs, ca.key))));
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError("E_INVALID_INPUT", `the zone CA refuses this request: ${error.message}`);
    throw error;
  }
}

/**
 * The requests of the zone's gateways, by device name: members in good standing only,
 * whose gateway takes its certificate from the zone CA now. A request stays in the state
 * once written: answered for a revoked or quarantined device, or one no longer such a
 * gateway (disabled, relay-only, gone over to ACME), it kept a certificate trusted by the
 * owner's phones renewed, for a key the owner took back or a role the device left.
 */
export function readRequests(
  db: StateQueries,
  membership: Membership,
): Map<string, CertificateRequest> {
  const requests = new Map<string, CertificateRequest>();
  for (const row of db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(keyGlob("nodes/*/zone-ca/request"))
    .all()) {
    const device = row.key.split("/")[1] as string;
    const value = parsedValue(row.value) as Partial<CertificateRequest> | undefined;
    const member = membership.byName.get(device);
    if (!member || standingOf(membership, member.id) !== "member" || !value) continue;
    if (readGateway(db, device)?.tls !== "zone") continue;
    if (
      typeof value.publicKey === "string" &&
      Array.isArray(value.dnsNames) &&
      Array.isArray(value.addresses) &&
      [...value.dnsNames, ...value.addresses].every((name) => typeof name === "string")
    )
      requests.set(device, value as CertificateRequest);
  }
  return requests;
}

/**
 * The newest certificate issued to `gateway` that the root signed, for the request's key
 * and exactly its names; undefined when there is none.
 */
export function readIssued(
  db: StateQueries,
  root: ZoneRoot,
  gateway: string,
  request: CertificateRequest,
): X509Certificate | undefined {
  const rows = db
    .select({ value: state.value })
    .from(state)
    .where(keyGlob(`nodes/*/zone-ca/issued/${gateway}`))
    .all();
  let best: X509Certificate | undefined;
  for (const row of rows) {
    const value = parsedValue(row.value) as { cert?: unknown } | undefined;
    if (typeof value?.cert !== "string") continue;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(value.cert);
    } catch {
      continue;
    }
    if (!matches(cert, root, request)) continue;
    if (!best || cert.validToDate > best.validToDate) best = cert;
  }
  return best;
}

function matches(cert: X509Certificate, root: ZoneRoot, request: CertificateRequest): boolean {
  try {
    if (!cert.verify(root.cert.publicKey) || !cert.checkIssued(root.cert)) return false;
  } catch {
    return false;
  }
  const spki = Buffer.from(cert.publicKey.export({ format: "der", type: "spki" })).toString(
    "base64url",
  );
  if (spki !== request.publicKey) return false;
  const names = new Set(
    (cert.subjectAltName ?? "")
      .split(", ")
      .map((entry) => entry.replace(/^(DNS|IP Address):/, "").toLowerCase()),
  );
  const asked = [...request.dnsNames, ...request.addresses].map((name) => name.toLowerCase());
  return asked.length === names.size && asked.every((name) => names.has(name));
}

function rootRequest(
  zone: { id: ZoneId; name: string },
  spki: Uint8Array,
  nowMs: number,
): RootRequest {
  return {
    zoneName: zone.name,
    zoneId: zone.id,
    publicKey: spki,
    serial: new Uint8Array(randomBytes(16)),
    notBeforeMs: nowMs - 60_000,
  };
}
