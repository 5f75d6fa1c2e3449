/**
 * Key epochs given on to devices they were not sealed to (protocol/backup/epoch-grant.ts).
 * The owner seals a new epoch to the members whose facts say they hold the backup key (or
 * that never said): one whose facts were stale then (given the key with `bucky backup key`
 * while its daemon was down, say) is left out, and could back up nothing until the owner
 * typed the phrase there again. Now every device that opens an epoch seals its root to
 * each member in good standing whose facts prove it holds the backup key and that the
 * epoch leaves out (never the device it shuts out), once, in the zone state under its own keys:
 * whichever of them is alive when the left-out device's facts come in gives it, the
 * revoker dead or not. The device given it reads it with its keyring, checked against the
 * owner-signed record like every copy.
 */
import { randomBytes } from "node:crypto";
import {
  backupKeyProof,
  MAX_EPOCH_GRANT_BYTES,
  openEpochGrant,
  sealEpochGrant,
} from "../../protocol/backup/epoch-grant.ts";
import { readKeyEpoch } from "../../protocol/backup/key-epoch.ts";
import type { Op } from "../../protocol/changeset.ts";
import { fromBase64url, toBase64url } from "../../protocol/encoding.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { type DeviceId, publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import { readPayload } from "../facts/payload.ts";
import { type StateReader, sqliteOf, stateValue } from "../store/reads.ts";
import { heldFacts } from "../sync/facts.ts";
import { type Membership, standingOf } from "../sync/membership.ts";
import { stateKeyEpochs } from "./key-epochs.ts";

const grantKey = (giver: string, epoch: string, recipient: DeviceId) =>
  `nodes/${giver}/backup-epoch-grants/${epoch}/${recipient}`;

/**
 * The zone state ops by which device `giver` gives each epoch it opens (`roots`, by name) to
 * the members left out of it that hold the backup key, where it has not given it before.
 */
export function epochGrantOps(options: {
  readonly db: StateReader;
  readonly zone: ZoneId;
  readonly giver: { readonly id: DeviceId; readonly name: string };
  readonly membership: Membership;
  /** The phrase's backup root, which this device holds: what a device's proof is checked with. */
  readonly phraseRoot: Uint8Array;
  /** The roots this device opens, by epoch name: asked only when some device is left out. */
  readonly roots: () => ReadonlyMap<string, Uint8Array>;
}): Op[] {
  const { db, zone, giver, membership } = options;
  const holders = keyHolders(db, zone, membership, options.phraseRoot).filter(
    (id) => id !== giver.id,
  );
  if (holders.length === 0) return [];
  const ops: Op[] = [];
  let roots: ReadonlyMap<string, Uint8Array> | undefined;
  for (const known of stateKeyEpochs(db, zone)) {
    const epoch = readKeyEpoch(known.bytes, zone);
    for (const recipient of holders) {
      if (recipient === epoch.revoked || epoch.devices.has(recipient)) continue;
      const key = grantKey(giver.name, known.name, recipient);
      if ((stateValue(db, key) ?? null) !== null) continue;
      roots ??= options.roots();
      const root = roots.get(known.name);
      if (!root) break;
      const publicKey = publicKeyOfId(recipient, "device");
      if (!publicKey) continue;
      const sealed = sealEpochGrant({
        epoch,
        root,
        recipient,
        publicKey,
        random: (n) => new Uint8Array(randomBytes(n)),
      });
      ops.push({ key, value: JSON.stringify(toBase64url(sealed)) });
    }
  }
  return ops;
}

/**
 * The roots of the zone state's epochs that members gave device `device` (its seed opens
 * them), by epoch name; a grant that does not open, or is not its epoch's root, is none.
 */
export function grantedEpochRoots(
  db: StateReader,
  zone: ZoneId,
  device: { readonly id: DeviceId; readonly publicKey: Uint8Array; readonly seed: Uint8Array },
): Map<string, Uint8Array> {
  const roots = new Map<string, Uint8Array>();
  const epochs = stateKeyEpochs(db, zone);
  if (epochs.length === 0) return roots;
  // Whoever gave it: what opens is checked against the owner-signed record.
  const rows = sqliteOf(db)
    .query<{ key: string; value: string }, [string]>(
      "SELECT key, value FROM state WHERE key GLOB ? AND value IS NOT NULL",
    )
    .all(grantKey("*", "*", device.id));
  for (const { key, value } of rows) {
    const name = key.split("/")[3];
    const known = epochs.find((e) => e.name === name);
    const sealed = sealedOf(value);
    if (!name || !known || !sealed || roots.has(name)) continue;
    try {
      const epoch = readKeyEpoch(known.bytes, zone);
      roots.set(name, openEpochGrant({ epoch, sealed, ...device, device: device.id }));
    } catch (error) {
      // Not for this device, or altered: another giver's may open.
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  return roots;
}

/** The members in good standing whose facts prove they hold the backup key. */
function keyHolders(
  db: StateReader,
  zone: ZoneId,
  membership: Membership,
  phraseRoot: Uint8Array,
): DeviceId[] {
  return heldFacts(db)
    .filter((record) => {
      if (standingOf(membership, record.device) !== "member") return false;
      const backup = readPayload(record.facts).backup;
      return (
        backup?.key === true && backup.keyProof === backupKeyProof(phraseRoot, zone, record.device)
      );
    })
    .map((record) => record.device);
}

function sealedOf(value: string): Uint8Array | undefined {
  try {
    const text: unknown = JSON.parse(value);
    const bytes = typeof text === "string" ? fromBase64url(text) : undefined;
    return bytes && bytes.length <= MAX_EPOCH_GRANT_BYTES ? bytes : undefined;
  } catch {
    return undefined;
  }
}
