/**
 * A snapshot's signature: the word of the device whose home it is, that it took this
 * snapshot. The repository is sealed under the zone's backup key, which every device that
 * backs up holds (and a revoked one may have kept), so the seal says only that some holder
 * of the key wrote it; the signature says which device did.
 *
 *   snapshot.signed = base64url of a signed record (protocol/signed-record.ts) whose
 *   body = CBOR { v: 1, name, zone, device, deviceName, document, time, hostname, tree,
 *                 parent, files, bytes, addedBytes, durationMs }
 *
 * `device` is the signing device's id (its public key), `deviceName` the name the
 * snapshot is filed under, `document` the device's owner-signed device document (a JWS,
 * protocol/documents.ts); every other field is the snapshot's own, and `name` is its file
 * name in the repository, so the record stands for this snapshot only. A snapshot whose
 * fields differ from what its record signed is forged, whatever the signature.
 *
 * With the zone's id (from the owner key: the recovery phrase), the document shows the key
 * is the one the owner admitted under that name, before any zone state is at hand: what a
 * restore needs to choose among snapshots. Whether the device is still a member (not
 * revoked since) only the zone's state can say: that is for lib/ to check.
 *
 * An optional field: snapshots of an older bucky have none (unsigned), and an older bucky
 * reads a signed snapshot as before.
 */

import type { SigningKey } from "../ed25519.ts";
import { toBase64url, utf8 } from "../encoding.ts";
import { ProtocolError } from "../errors.ts";
import { type DeviceId, deviceIdFromPublicKey, type ZoneId } from "../ids.ts";
import { requireString, requireUint } from "../shape.ts";
import { openFieldRecord, sealRecord } from "../signed-record.ts";
import type { Snapshot } from "./formats.ts";
import { recordSigner, signerDocument } from "./record-signer.ts";

export const SNAPSHOT_SIGNATURE_VERSION = 1;
export const MAX_SNAPSHOT_SIGNATURE_BYTES = 4096;
const SIGNATURE_CONTEXT = utf8("bucky backup snapshot v1\n");
const ID_MAX_LENGTH = 64;
const NAME_MAX_LENGTH = 64;
const TIME_MAX_LENGTH = 40;
const HOSTNAME_MAX_LENGTH = 255;
const DOCUMENT_MAX_LENGTH = 2048;
const FIELDS = [
  "v",
  "name",
  "zone",
  "device",
  "deviceName",
  "document",
  "time",
  "hostname",
  "tree",
  "parent",
  "files",
  "bytes",
  "addedBytes",
  "durationMs",
] as const;

/** What a snapshot's signature says of it. */
export type SnapshotSignature =
  /** Made by an older bucky, or signed in a newer one's form: nothing this one can check says who wrote it. */
  | { readonly kind: "unsigned" }
  /**
   * Signed, for this snapshot (its file name and every field), by the key of `by`; with
   * the zone's id to check against, by the device the owner admitted under its name.
   */
  | { readonly kind: "signed"; readonly by: DeviceId }
  /**
   * A signature that does not hold, or holds for something else than this snapshot, or is
   * not by the device it is filed under (then `by` is the key's that made it).
   */
  | { readonly kind: "forged"; readonly why: string; readonly by?: DeviceId };

/**
 * The signed record of a snapshot about to be written as `name`, as its `signed` field:
 * signed by `device`, whose owner-signed document is `document`.
 */
export function signSnapshot(
  name: string,
  snapshot: Snapshot,
  device: SigningKey,
  document: string,
): string {
  const body = {
    v: SNAPSHOT_SIGNATURE_VERSION,
    ...signedFields(name, snapshot),
    device: deviceIdFromPublicKey(device.publicKey),
    document: requireString(document, "snapshot device document", DOCUMENT_MAX_LENGTH),
  };
  return toBase64url(sealRecord(body, device, SIGNATURE_CONTEXT));
}

/**
 * Whether `snapshot`, filed as `name`, is signed, and by which device's key; with `zone`,
 * also whether the owner of `zone` admitted that key under the name it is filed under.
 */
export function checkSnapshotSignature(
  name: string,
  snapshot: Snapshot,
  zone?: ZoneId,
): SnapshotSignature {
  const signed = (snapshot as { signed?: unknown }).signed;
  if (signed === undefined) return { kind: "unsigned" };
  try {
    const record = openFieldRecord(signed, {
      what: "snapshot signature",
      maxBytes: MAX_SNAPSHOT_SIGNATURE_BYTES,
      version: SNAPSHOT_SIGNATURE_VERSION,
      fields: FIELDS,
    });
    // A newer bucky's record: unsigned, as an older bucky's snapshot is, never forged (prune
    // forgets forged snapshots at once: an older device would drop a newer one's history).
    if (!record) return { kind: "unsigned" };
    const { body } = record;
    const signer = recordSigner(record, SIGNATURE_CONTEXT, "snapshot signature");
    if ("why" in signer) return { kind: "forged", why: signer.why };
    const { device } = signer;
    const expected = signedFields(name, snapshot);
    for (const field of FIELDS) {
      if (field === "v" || field === "device" || field === "document") continue;
      if (body[field] !== expected[field])
        return {
          kind: "forged",
          why:
            field === "name"
              ? "its signature was made for another snapshot"
              : `its ${field} is not what was signed`,
        };
    }
    if (zone !== undefined) {
      const admitted = signerDocument(record, device, zone, "snapshot");
      if ("why" in admitted) return { kind: "forged", why: admitted.why, by: device };
      if (admitted.document.name !== snapshot.device)
        return {
          kind: "forged",
          why: `it is signed by ${admitted.document.name}, not by ${snapshot.device}`,
          by: device,
        };
    }
    return { kind: "signed", by: device };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return { kind: "forged", why: `its signature is malformed: ${error.message}` };
  }
}

/** The fields a signature covers, as the snapshot filed as `name` holds them. */
function signedFields(
  name: string,
  snapshot: Snapshot,
): Record<Exclude<(typeof FIELDS)[number], "v" | "device" | "document">, unknown> {
  return {
    name: requireString(name, "snapshot name", NAME_MAX_LENGTH),
    zone: requireString(snapshot.zone, "snapshot zone", ID_MAX_LENGTH),
    deviceName: requireString(snapshot.device, "snapshot device", NAME_MAX_LENGTH),
    time: requireString(snapshot.time, "snapshot time", TIME_MAX_LENGTH),
    hostname: requireString(snapshot.hostname, "snapshot hostname", HOSTNAME_MAX_LENGTH),
    tree: requireString(snapshot.tree, "snapshot tree", NAME_MAX_LENGTH),
    parent:
      snapshot.parent === null
        ? null
        : requireString(snapshot.parent, "snapshot parent", NAME_MAX_LENGTH),
    files: requireUint(snapshot.stats?.files, "snapshot files"),
    bytes: requireUint(snapshot.stats?.bytes, "snapshot bytes"),
    addedBytes: requireUint(snapshot.stats?.addedBytes, "snapshot added bytes"),
    durationMs: requireUint(snapshot.stats?.durationMs, "snapshot duration"),
  };
}
