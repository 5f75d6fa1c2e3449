/**
 * The TLS certificate a device serves: self-signed by the device key, built from a fixed
 * DER template in which only the public key and the signature vary. It is therefore a
 * function of the device key alone (Ed25519 signatures are deterministic), and a peer
 * checks a certificate against a device id by comparing bytes, with no X.509 parser.
 *
 * Peers pin the certificate as their only trust anchor, so the TLS handshake proves the
 * server holds the device key; the names and dates inside are never relied on.
 */
import { type SigningKey, verifyKeyFromPublicKey } from "./ed25519.ts";
import { bytesEqual, fromHex } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";

const hex = (text: string) => fromHex(text.replace(/\s+/g, "")) as Uint8Array;

const ED25519_ALGORITHM = hex("300506032b6570");
const TBS_BEFORE_KEY = hex(
  `
  308181                                      -- TBSCertificate, 129 bytes
    a003020102                                -- version 3
    020101                                    -- serial number 1
    300506032b6570                            -- signature algorithm Ed25519
    3010310e300c060355040313056275636b79      -- issuer CN=bucky
    3020170d3030303130313030303030305a        -- validity: 2000-01-01T00:00:00Z
        180f39393939313233313233353935395a    --        to 9999-12-31T23:59:59Z
    3010310e300c060355040313056275636b79      -- subject CN=bucky
    302a300506032b6570032100                  -- Ed25519 public key follows
`.replace(/--.*$/gm, ""),
);
const CERT_HEADER = hex("3081ce"); // Certificate, 206 bytes: TBS, algorithm, signature
const SIGNATURE_HEADER = hex("034100"); // BIT STRING of 64 bytes
const KEY_OFFSET = CERT_HEADER.length + TBS_BEFORE_KEY.length;
export const CERTIFICATE_BYTES = 209;

/** The name every device certificate carries (as its subject CN). */
export const CERTIFICATE_NAME = "bucky";

/**
 * TLS options that trust exactly `certPem` and nothing else. The certificate names no
 * host, so the name checked is the one it carries; naming it (rather than turning the
 * check off with a callback) also lets Bun keep the connection alive for reuse.
 */
export function pinnedTls(certPem: string): { ca: string; serverName: string } {
  return { ca: certPem, serverName: CERTIFICATE_NAME };
}

export function deviceCertificate(key: SigningKey): Uint8Array {
  const tbs = concat(TBS_BEFORE_KEY, key.publicKey);
  return concat(CERT_HEADER, tbs, ED25519_ALGORITHM, SIGNATURE_HEADER, key.sign(tbs));
}

/** Whether `der` is exactly the certificate the holder of `publicKey` serves. */
export function isDeviceCertificate(der: Uint8Array, publicKey: Uint8Array): boolean {
  if (der.length !== CERTIFICATE_BYTES) return false;
  let key: ReturnType<typeof verifyKeyFromPublicKey>;
  try {
    key = verifyKeyFromPublicKey(publicKey);
  } catch (error) {
    if (error instanceof ProtocolError) return false;
    throw error;
  }
  const tbs = der.subarray(CERT_HEADER.length, KEY_OFFSET + publicKey.length);
  const expectedPrefix = concat(CERT_HEADER, TBS_BEFORE_KEY);
  const expectedSuffix = concat(ED25519_ALGORITHM, SIGNATURE_HEADER);
  const suffixAt = KEY_OFFSET + publicKey.length;
  return (
    bytesEqual(der.subarray(0, KEY_OFFSET), expectedPrefix) &&
    bytesEqual(der.subarray(KEY_OFFSET, suffixAt), publicKey) &&
    bytesEqual(der.subarray(suffixAt, suffixAt + expectedSuffix.length), expectedSuffix) &&
    key.verify(tbs, der.subarray(suffixAt + expectedSuffix.length))
  );
}

export function certificatePem(der: Uint8Array): string {
  return pem("CERTIFICATE", der);
}

/** The device's private key as PKCS#8 PEM, the form a TLS server takes it in. */
export function privateKeyPem(seed: Uint8Array): string {
  return pem("PRIVATE KEY", concat(hex("302e020100300506032b657004220420"), seed));
}

/** The DER inside a PEM certificate, or undefined when it is not one. */
export function certificateDer(text: string): Uint8Array | undefined {
  const match =
    /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=\n]+)-----END CERTIFICATE-----\n?$/.exec(text);
  return match
    ? new Uint8Array(Buffer.from((match[1] as string).replace(/\n/g, ""), "base64"))
    : undefined;
}

function pem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
