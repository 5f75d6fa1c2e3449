/**
 * Whose word an index file is. Every holder of the zone's backup key (every device that
 * backs up, and a revoked one that kept it) can write an index file naming any blobs at any
 * place; only a device's own key can sign one. A file is trusted when it is signed, for
 * itself and exactly the blobs it names, by a key the owner admitted (by the zone's device
 * documents) of a device in good standing. A forged one is left out, and prune deletes it;
 * an unsigned one (an older bucky's) or a revoked device's is read, its word yielding to a
 * trusted file's (lib/backup/repository.ts loadIndex).
 */
import { type IndexFile, indexDigest } from "../../protocol/backup/formats.ts";
import { checkIndexSignature, signIndex } from "../../protocol/backup/index-signature.ts";
import type { SigningKey } from "../../protocol/ed25519.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import { standingOf } from "../sync/membership.ts";
import type { IndexSigner } from "./repository.ts";
import type { SnapshotJudge, SnapshotTrust } from "./snapshot-trust.ts";

/**
 * What an index file's check found, in the words of a snapshot's (snapshot-trust.ts):
 *   signed       signed by a device of the zone in good standing (or, with no zone to check
 *                against, by the key its signature names)
 *   unsigned     written by an older bucky: nothing says who wrote it
 *   forged       a signature that does not hold, is for another file or other blobs, or
 *                is by a key the owner never admitted
 *   revoked      signed by a device the owner revoked
 *   quarantined  signed by a device the zone caught equivocating
 *   unknown      signed by a device the owner admitted that this home does not know yet
 */
export type IndexTrust = SnapshotTrust;

export interface IndexCheck {
  readonly trust: IndexTrust;
  /** The device whose key signed it: its name in the zone, else its id; null if none did. */
  readonly signedBy: string | null;
  /** Why it is not trusted, in words; "" when it is. */
  readonly why: string;
}

/** Checks the index file `name` of the repository `repository`, against `judge` if given. */
export function checkIndexFile(
  name: string,
  repository: string,
  file: IndexFile,
  judge: SnapshotJudge | undefined,
): IndexCheck {
  if (file.signed === undefined)
    return {
      trust: "unsigned",
      signedBy: null,
      why: "it is unsigned (written by an older bucky): nothing says which device wrote it",
    };
  const signature = checkIndexSignature(
    { name, repository, blobs: file.blobs.length, digest: indexDigest(file.blobs) },
    file.signed,
    judge?.zone,
  );
  if (signature.kind === "unsigned")
    return {
      trust: "unsigned",
      signedBy: null,
      why: "its signature is of a newer bucky's form, which this one cannot check",
    };
  if (signature.kind === "forged" && signature.copyOf) {
    // A device's genuine signature copied into a file it did not write: no device is blamed.
    const copied = judge?.membership.byId.get(signature.copyOf)?.name ?? signature.copyOf;
    return {
      trust: "forged",
      signedBy: null,
      why: `it carries a copy of ${copied}'s signature: ${signature.why}`,
    };
  }
  const signer = signature.by && judge?.membership.byId.get(signature.by);
  const signedBy = signer ? signer.name : (signature.by ?? null);
  if (signature.kind === "forged") return { trust: "forged", signedBy, why: signature.why };
  if (!judge) return { trust: "signed", signedBy, why: "" };
  if (!signer)
    return { trust: "unknown", signedBy, why: "it is signed by a device this home does not know" };
  const standing = standingOf(judge.membership, signature.by);
  if (standing === "revoked")
    return { trust: "revoked", signedBy, why: `${signer.name} was revoked` };
  if (standing === "quarantined")
    return { trust: "quarantined", signedBy, why: `${signer.name} is quarantined` };
  return { trust: "signed", signedBy, why: "" };
}

/** Signs the index files a device writes: its key, and its owner-signed document. */
export function indexSigner(who: {
  readonly zone: ZoneId;
  readonly key: SigningKey;
  readonly document: string;
}): IndexSigner {
  return (facts) => signIndex(facts, who.zone, who.key, who.document);
}
