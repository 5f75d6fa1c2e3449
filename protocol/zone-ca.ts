/**
 * The zone's certificate authority, for gateways whose names are not on the internet:
 * X.509 certificates (RFC 5280) signed with ECDSA P-256 / SHA-256, the kind every
 * browser and phone accepts once the owner trusts the root.
 *
 * The root is constrained (nameConstraints, critical) to names that cannot be anyone
 * else's: `.local`, `.lan`, `.home.arpa`, `.internal`, `.localhost`, `.test`. A device
 * that trusts the root trusts it for no other name, even if the CA key were stolen. The
 * CA itself issues only for those names and for private, loopback and link-local
 * addresses (which the root cannot constrain: see nameConstraints).
 *
 *   root = Certificate { CN = "bucky zone CA for <zone name> (<zone id prefix>)", 10 years,
 *                        basicConstraints CA pathLen 0, keyUsage keyCertSign cRLSign,
 *                        nameConstraints, subjectKeyIdentifier }
 *   leaf = Certificate { CN = "bucky gateway", subjectAltName dNSName… iPAddress…,
 *                        basicConstraints not CA, keyUsage digitalSignature,
 *                        extKeyUsage serverAuth, authority and subject key identifiers }
 *
 * Pure: the signature, the serial and the times are passed in.
 */
import { createHash } from "node:crypto";
import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  join,
  objectIdentifier,
  octetString,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from "./der.ts";
import { utf8 } from "./encoding.ts";
import { check } from "./errors.ts";
import { isHostName } from "./names.ts";

/** DNS suffixes no one can register on the internet (RFC 6761, 6762, 8375, ICANN). */
export const LOCAL_SUFFIXES = ["local", "lan", "home.arpa", "internal", "localhost", "test"];
/** Private, loopback, link-local and shared address ranges: [network, prefix length]. */
export const LOCAL_RANGES: readonly (readonly [string, number])[] = [
  ["10.0.0.0", 8],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["100.64.0.0", 10],
  ["fc00::", 7],
  ["fe80::", 10],
  ["::1", 128],
];

export const ROOT_LIFETIME_MS = 10 * 365 * 24 * 3600_000;
/** A gateway's certificate from the zone CA: renewed at two thirds, so 15 days spare. */
export const LEAF_LIFETIME_MS = 45 * 24 * 3600_000;
/** The most names one leaf certificate carries. */
export const MAX_LEAF_NAMES = 20;

const OID = {
  commonName: "2.5.4.3",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  subjectAltName: "2.5.29.17",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  nameConstraints: "2.5.29.30",
};

/**
 * Whether a DNS name is one the zone CA may certify: under a suffix no one can own (a
 * wildcard `*.` first label included).
 */
export function isLocalName(name: string): boolean {
  const lower = name.toLowerCase().replace(/^\*\./, "");
  return (
    isHostName(lower) &&
    LOCAL_SUFFIXES.some((suffix) => lower === suffix || lower.endsWith(`.${suffix}`))
  );
}

/** The bytes of an IPv4 or IPv6 address in text, or undefined when it is not one. */
export function addressBytes(text: string): Uint8Array | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split(".").map(Number);
    return parts.every((part) => part <= 255) ? Uint8Array.from(parts) : undefined;
  }
  if (!/^[0-9a-f:]+$/i.test(text) || !text.includes(":")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined) => (half ? half.split(":") : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const all = [...head, ...new Array(missing).fill("0"), ...tail];
  if (all.some((group) => !/^[0-9a-f]{1,4}$/i.test(group))) return undefined;
  return Uint8Array.from(
    all.flatMap((group) => [parseInt(group, 16) >> 8, parseInt(group, 16) & 255]),
  );
}

/** Whether an address is private, loopback or link-local, so the zone CA may certify it. */
export function isLocalAddress(text: string): boolean {
  const bytes = addressBytes(text);
  if (!bytes) return false;
  return LOCAL_RANGES.some(([network, prefix]) => {
    const base = addressBytes(network) as Uint8Array;
    if (base.length !== bytes.length) return false;
    for (let bit = 0; bit < prefix; bit++) {
      const mask = 0x80 >> (bit % 8);
      if (((base[bit >> 3] as number) & mask) !== ((bytes[bit >> 3] as number) & mask))
        return false;
    }
    return true;
  });
}

export interface RootRequest {
  readonly zoneName: string;
  readonly zoneId: string;
  /** The CA's public key, SubjectPublicKeyInfo DER (P-256). */
  readonly publicKey: Uint8Array;
  readonly serial: Uint8Array;
  readonly notBeforeMs: number;
}

export interface LeafRequest {
  readonly issuer: RootRequest;
  /** The gateway's public key, SubjectPublicKeyInfo DER (P-256). */
  readonly publicKey: Uint8Array;
  readonly dnsNames: readonly string[];
  readonly addresses: readonly string[];
  readonly serial: Uint8Array;
  readonly notBeforeMs: number;
}

/** The to-be-signed part of the zone's root certificate. */
export function rootTbs(request: RootRequest): Uint8Array {
  const name = rootName(request);
  const keyId = keyIdentifier(request.publicKey);
  return tbs(request.serial, name, name, request.notBeforeMs, ROOT_LIFETIME_MS, request.publicKey, [
    extension(OID.basicConstraints, true, sequence(boolean(true), smallInteger(0))),
    extension(OID.keyUsage, true, tlvBits(0x06, 1)),
    extension(OID.nameConstraints, true, nameConstraints()),
    extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
  ]);
}

/** The to-be-signed part of a gateway's certificate; throws for a name the CA may not certify. */
export function leafTbs(request: LeafRequest): Uint8Array {
  const names = [...request.dnsNames, ...request.addresses];
  check(names.length > 0, "a certificate names at least one host or address");
  check(names.length <= MAX_LEAF_NAMES, `a certificate names at most ${MAX_LEAF_NAMES} hosts`);
  for (const dns of request.dnsNames)
    check(isLocalName(dns), `the zone CA certifies only local names, not ${JSON.stringify(dns)}`);
  for (const address of request.addresses)
    check(
      isLocalAddress(address),
      `the zone CA certifies only private addresses, not ${JSON.stringify(address)}`,
    );
  const altNames = [
    ...request.dnsNames.map((dns) => implicitPrimitive(2, utf8(dns.toLowerCase()))),
    ...request.addresses.map((address) =>
      implicitPrimitive(7, addressBytes(address) as Uint8Array),
    ),
  ];
  return tbs(
    request.serial,
    rootName(request.issuer),
    commonName("bucky gateway"),
    request.notBeforeMs,
    LEAF_LIFETIME_MS,
    request.publicKey,
    [
      extension(OID.basicConstraints, true, sequence()),
      extension(OID.keyUsage, true, tlvBits(0x80, 7)),
      extension(OID.extKeyUsage, false, sequence(objectIdentifier(OID.serverAuth))),
      extension(OID.subjectAltName, false, sequence(...altNames)),
      extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(request.publicKey))),
      extension(
        OID.authorityKeyIdentifier,
        false,
        sequence(implicitPrimitive(0, keyIdentifier(request.issuer.publicKey))),
      ),
    ],
  );
}

/** A whole certificate from its to-be-signed part and the ECDSA signature (DER) over it. */
export function certificate(tbsBytes: Uint8Array, signature: Uint8Array): Uint8Array {
  return sequence(tbsBytes, algorithm(), bitString(signature));
}

function tbs(
  serial: Uint8Array,
  issuer: Uint8Array,
  subject: Uint8Array,
  notBeforeMs: number,
  lifetimeMs: number,
  publicKey: Uint8Array,
  extensions: readonly Uint8Array[],
): Uint8Array {
  check(serial.length >= 8 && serial.length <= 20, "a serial number is 8 to 20 bytes");
  return sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(Uint8Array.of(0x01, ...serial.subarray(1))),
    algorithm(),
    issuer,
    sequence(time(notBeforeMs), time(notBeforeMs + lifetimeMs)),
    subject,
    publicKey,
    explicit(3, sequence(...extensions)),
  );
}

function rootName(request: Pick<RootRequest, "zoneName" | "zoneId">): Uint8Array {
  return commonName(`bucky zone CA for ${request.zoneName} (${request.zoneId.slice(0, 12)})`);
}

function commonName(text: string): Uint8Array {
  return sequence(set(sequence(objectIdentifier(OID.commonName), utf8String(text))));
}

function algorithm(): Uint8Array {
  return sequence(objectIdentifier(OID.ecdsaWithSha256));
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return sequence(objectIdentifier(oid), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** A KeyUsage BIT STRING of one byte with `unused` trailing bits. */
function tlvBits(byte: number, unused: number): Uint8Array {
  return Uint8Array.of(0x03, 0x02, unused, byte);
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the public key's bits (the SPKI's last BIT STRING). */
function keyIdentifier(spki: Uint8Array): Uint8Array {
  // A P-256 SPKI ends with the 65-byte uncompressed point.
  return new Uint8Array(
    createHash("sha1")
      .update(spki.subarray(spki.length - 65))
      .digest(),
  );
}

/**
 * DNS names only: BoringSSL's verifier (Bun's) refuses every chain whose root constrains
 * addresses ("unsupported name constraint type"). Addresses are held to LOCAL_RANGES by
 * the CA's own policy (leafTbs) instead.
 */
function nameConstraints(): Uint8Array {
  const subtrees = LOCAL_SUFFIXES.map((suffix) => sequence(implicitPrimitive(2, utf8(suffix))));
  // NameConstraints ::= SEQUENCE { permittedSubtrees [0] IMPLICIT GeneralSubtrees }
  return sequence(explicit(0, join(...subtrees)));
}
