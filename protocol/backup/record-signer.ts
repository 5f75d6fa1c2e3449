/**
 * Who signed a backup file's record (a snapshot's or an index file's `signed`), checked the
 * same way for both: the key its `device` field names made the signature, and with a zone
 * to judge by, the owner-signed device document it carries is of that key. Each answers a
 * reason to call the record forged where it fails.
 */
import { type DeviceDocument, verifyDeviceDocument } from "../documents.ts";
import { verifyKeyFromPublicKey } from "../ed25519.ts";
import { check, ProtocolError } from "../errors.ts";
import { type DeviceId, publicKeyOfId, type ZoneId } from "../ids.ts";
import { requireString } from "../shape.ts";
import { type OpenedRecord, signatureHolds } from "../signed-record.ts";

const ID_MAX_LENGTH = 64;
const DOCUMENT_MAX_LENGTH = 2048;

/** The device whose key made `record`'s signature, or why it is forged. */
export function recordSigner(
  record: OpenedRecord,
  context: Uint8Array,
  what: string,
): { device: DeviceId } | { why: string } {
  const device = requireString(record.body.device, `${what} device`, ID_MAX_LENGTH);
  const publicKey = publicKeyOfId(device, "device");
  check(publicKey !== undefined, "its signature names no device key");
  if (!signatureHolds(record, verifyKeyFromPublicKey(publicKey), context))
    return { why: "its signature does not hold" };
  return { device: device as DeviceId };
}

/** The owner-signed document `record` carries of its signer `device` in `zone`, or why it is forged. */
export function signerDocument(
  record: OpenedRecord,
  device: DeviceId,
  zone: ZoneId,
  what: string,
): { document: DeviceDocument } | { why: string } {
  const text = requireString(record.body.document, `${what} device document`, DOCUMENT_MAX_LENGTH);
  let document: DeviceDocument;
  try {
    document = verifyDeviceDocument(text, zone);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return { why: `its device document is not the owner's: ${error.message}` };
  }
  if (document.id !== device)
    return { why: "its device document is not of the key that signed it" };
  return { document };
}
