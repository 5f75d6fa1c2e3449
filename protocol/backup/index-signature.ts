/**
 * An index file's signature: the word of the device that wrote it, that these are the
 * blobs it put in the repository and where. The repository is sealed under the zone's
 * backup key, which every device that backs up holds (and a revoked one may have kept), so
 * the seal says only that some holder of the key wrote the file; the signature says which
 * device did, as a snapshot's does (snapshot-signature.ts).
 *
 *   index.signed = base64url of a signed record (protocol/signed-record.ts) whose
 *   body = CBOR { v: 1, name, repository, zone, device, document, blobs, digest }
 *
 * `name` is the index file's name and `repository` the repository's id, so the record
 * stands for this file only; `blobs` is how many blobs it names and `digest` the SHA-256 of
 * them in the order the file holds them (indexDigest, formats.ts); `device` is the signing
 * device's id (its public key), `document` its owner-signed device document (a JWS,
 * protocol/documents.ts). An index file whose blobs differ from what its record signed is
 * forged, whatever the signature.
 *
 * With the zone's id, the document shows the key is one the owner admitted. Whether the
 * device is still a member (not revoked since) only the zone's state can say: that is for
 * lib/ to check.
 *
 * An optional field of the index file: those of an older bucky have none (unsigned), and
 * an older bucky reads a signed index file as before (it reads only `packs`). A record of
 * another version, or with a field this bucky does not know (a newer bucky's), is read as
 * unsigned: never forged, which a prune would delete.
 */

import type { SigningKey } from "../ed25519.ts";
import { toBase64url, utf8 } from "../encoding.ts";
import { ProtocolError } from "../errors.ts";
import { type DeviceId, deviceIdFromPublicKey, type ZoneId } from "../ids.ts";
import { requireString, requireUint } from "../shape.ts";
import { openFieldRecord, sealRecord } from "../signed-record.ts";
import { recordSigner, signerDocument } from "./record-signer.ts";

export const INDEX_SIGNATURE_VERSION = 1;
export const MAX_INDEX_SIGNATURE_BYTES = 4096;
const SIGNATURE_CONTEXT = utf8("bucky backup index v1\n");
const ID_MAX_LENGTH = 64;
const NAME_MAX_LENGTH = 64;
const DOCUMENT_MAX_LENGTH = 2048;
const FIELDS = [
  "v",
  "name",
  "repository",
  "zone",
  "device",
  "document",
  "blobs",
  "digest",
] as const;

/** What an index file says of itself, for its signature to cover. */
export interface IndexFacts {
  /** Its file name in the repository. */
  readonly name: string;
  /** The repository's id. */
  readonly repository: string;
  /** How many blobs it names. */
  readonly blobs: number;
  /** indexDigest of the blobs it names, in the order it holds them. */
  readonly digest: string;
}

/** What an index file's signature says of it. */
export type IndexSignature =
  /**
   * Made by an older bucky (nothing says who wrote it), or signed in a newer bucky's form
   * this one cannot check.
   */
  | { readonly kind: "unsigned" }
  /**
   * Signed, for this file and exactly the blobs it names, by the key of `by`; with the
   * zone's id to check against, a key the owner admitted.
   */
  | { readonly kind: "signed"; readonly by: DeviceId }
  /**
   * A signature that does not hold, or holds for another file or other blobs, or whose
   * key the owner never admitted (then `by` is the key's that made it).
   */
  | {
      readonly kind: "forged";
      readonly why: string;
      readonly by?: DeviceId;
      /**
       * Whose genuine signature, made for another file or other blobs, this one copies:
       * that device did not write this file (`by` is then absent).
       */
      readonly copyOf?: DeviceId;
    };

/**
 * The signed record of an index file about to be written, as its `signed` field: signed by
 * `device` of `zone`, whose owner-signed document is `document`.
 */
export function signIndex(
  facts: IndexFacts,
  zone: ZoneId,
  device: SigningKey,
  document: string,
): string {
  const body = {
    v: INDEX_SIGNATURE_VERSION,
    ...signedFacts(facts),
    zone: requireString(zone, "index zone", ID_MAX_LENGTH),
    device: deviceIdFromPublicKey(device.publicKey),
    document: requireString(document, "index device document", DOCUMENT_MAX_LENGTH),
  };
  return toBase64url(sealRecord(body, device, SIGNATURE_CONTEXT));
}

/**
 * Whether the index file of `facts`, whose `signed` field is `signed` (undefined: none), is
 * signed, and by which device's key; with `zone`, also whether the owner of `zone`
 * admitted that key.
 */
export function checkIndexSignature(
  facts: IndexFacts,
  signed: unknown,
  zone?: ZoneId,
): IndexSignature {
  if (signed === undefined) return { kind: "unsigned" };
  try {
    const record = openFieldRecord(signed, {
      what: "index signature",
      maxBytes: MAX_INDEX_SIGNATURE_BYTES,
      version: INDEX_SIGNATURE_VERSION,
      fields: FIELDS,
    });
    // A newer bucky's record: unsigned, its word read as an older bucky's is.
    if (!record) return { kind: "unsigned" };
    const { body } = record;
    const signer = recordSigner(record, SIGNATURE_CONTEXT, "index signature");
    if ("why" in signer) return { kind: "forged", why: signer.why };
    const { device } = signer;
    const expected = signedFacts(facts);
    for (const field of ["name", "repository", "blobs", "digest"] as const)
      if (body[field] !== expected[field])
        return {
          kind: "forged",
          why:
            field === "name" || field === "repository"
              ? "its signature was made for another index file"
              : "the blobs it names are not those that were signed",
          copyOf: device,
        };
    if (zone !== undefined) {
      if (body.zone !== zone)
        return { kind: "forged", why: "it is signed for another zone", by: device };
      const admitted = signerDocument(record, device, zone, "index");
      if ("why" in admitted) return { kind: "forged", why: admitted.why, by: device };
    }
    return { kind: "signed", by: device };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return { kind: "forged", why: `its signature is malformed: ${error.message}` };
  }
}

function signedFacts(facts: IndexFacts): {
  name: string;
  repository: string;
  blobs: number;
  digest: string;
} {
  return {
    name: requireString(facts.name, "index name", NAME_MAX_LENGTH),
    repository: requireString(facts.repository, "index repository", ID_MAX_LENGTH),
    blobs: requireUint(facts.blobs, "index blobs"),
    digest: requireString(facts.digest, "index digest", ID_MAX_LENGTH),
  };
}
