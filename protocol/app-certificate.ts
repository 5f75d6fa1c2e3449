/**
 * The TLS client certificate a gateway presents to the app pipe of the device running an
 * app (docs/app-pipe.md): self-signed by the gateway's device key, like the device
 * certificate of tls-cert.ts, with the app's name as its subject. Bun's fetch keeps a pool
 * of connections per client certificate, so a connection made with an app's certificate
 * carries that app's requests alone: the device learns the app once, at the handshake,
 * and never reads it from a request.
 *
 * The TLS handshake proves the client holds the key; the certificate's bytes say which
 * key and which app. It is a function of the key and the app alone (Ed25519 signatures are
 * deterministic), built from a fixed template in which only the subject's name, the key
 * and the signature vary, and read by rebuilding it and comparing bytes: no X.509 parser.
 */
import { bitString, explicit, join, sequence, set, smallInteger, utf8String } from "./der.ts";
import { type SigningKey, verifyKeyFromPublicKey } from "./ed25519.ts";
import { bytesEqual, fromHex } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { type AppName, checkAppName } from "./names.ts";

const ED25519_ALGORITHM = fromHex("300506032b6570") as Uint8Array;
const COMMON_NAME = fromHex("0603550403") as Uint8Array;
const ISSUER = "bucky";
/** 2000-01-01T00:00:00Z to 9999-12-31T23:59:59Z: never relied on, as for device certificates. */
const VALIDITY = fromHex(
  "3020170d3030303130313030303030305a180f39393939313233313233353935395a",
) as Uint8Array;
const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
/** A certificate for the longest app name is under this; anything longer is not one. */
export const MAX_APP_CERTIFICATE_BYTES = 320;

const distinguishedName = (commonName: string) =>
  sequence(set(sequence(COMMON_NAME, utf8String(commonName))));

/** The signed part: version 3, serial 1, Ed25519, issuer "bucky", the app as subject, the key. */
function tbsCertificate(publicKey: Uint8Array, app: AppName): Uint8Array {
  return sequence(
    explicit(0, smallInteger(2)),
    smallInteger(1),
    ED25519_ALGORITHM,
    distinguishedName(ISSUER),
    VALIDITY,
    distinguishedName(app),
    sequence(ED25519_ALGORITHM, bitString(publicKey)),
  );
}

/** The certificate the holder of `key` presents for `app`. */
export function appCertificate(key: SigningKey, app: AppName): Uint8Array {
  const tbs = tbsCertificate(key.publicKey, app);
  return sequence(tbs, ED25519_ALGORITHM, bitString(key.sign(tbs)));
}

/** Who presented an app certificate, and for which app. */
export interface AppCertificateHolder {
  readonly publicKey: Uint8Array;
  readonly app: AppName;
}

/**
 * The key and the app of `der` when it is exactly the certificate that key makes for that
 * app (signature checked); undefined for anything else, a device certificate included.
 */
export function readAppCertificate(der: Uint8Array): AppCertificateHolder | undefined {
  if (der.length > MAX_APP_CERTIFICATE_BYTES) return undefined;
  const found = candidate(der);
  if (!found) return undefined;
  const tbs = tbsCertificate(found.publicKey, found.app);
  const signature = der.subarray(der.length - SIGNATURE_BYTES);
  const expected = sequence(tbs, ED25519_ALGORITHM, bitString(signature));
  if (!bytesEqual(expected, der)) return undefined;
  try {
    if (!verifyKeyFromPublicKey(found.publicKey).verify(tbs, signature)) return undefined;
  } catch (error) {
    if (error instanceof ProtocolError) return undefined;
    throw error;
  }
  return found;
}

/**
 * The key and the app where the template puts them, if they are there. Only a guess to
 * rebuild from: readAppCertificate accepts nothing but the exact bytes it rebuilds.
 */
function candidate(der: Uint8Array): AppCertificateHolder | undefined {
  const certificate = contents(der, 0);
  const tbs = certificate && contents(der, certificate.start);
  if (!tbs) return undefined;
  // The subject follows the fixed fields (version, serial, algorithm, issuer, validity).
  const fixed = join(
    explicit(0, smallInteger(2)),
    smallInteger(1),
    ED25519_ALGORITHM,
    distinguishedName(ISSUER),
    VALIDITY,
  );
  const subject = contents(der, tbs.start + fixed.length);
  const rdn = subject && contents(der, subject.start);
  const attribute = rdn && contents(der, rdn.start);
  const name = attribute && contents(der, attribute.start + COMMON_NAME.length);
  if (!name) return undefined;
  const checked = checkAppName(Buffer.from(der.subarray(name.start, name.end)).toString("latin1"));
  if (!checked.ok) return undefined;
  const keyEnd = tbs.end;
  if (keyEnd - PUBLIC_KEY_BYTES < name.end) return undefined;
  return { publicKey: der.slice(keyEnd - PUBLIC_KEY_BYTES, keyEnd), app: checked.name };
}

/** Where the contents of the DER value at `at` start and end (der.ts writes lengths in these forms). */
function contents(der: Uint8Array, at: number): { start: number; end: number } | undefined {
  const first = der[at + 1];
  if (first === undefined) return undefined;
  let start: number;
  let length: number;
  if (first < 0x80) {
    start = at + 2;
    length = first;
  } else if (first === 0x81 && at + 2 < der.length) {
    start = at + 3;
    length = der[at + 2] as number;
  } else if (first === 0x82 && at + 3 < der.length) {
    start = at + 4;
    length = ((der[at + 2] as number) << 8) | (der[at + 3] as number);
  } else {
    return undefined;
  }
  const end = start + length;
  return end <= der.length ? { start, end } : undefined;
}
