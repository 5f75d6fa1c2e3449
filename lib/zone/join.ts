/**
 * Joining a zone from a fresh home (`bucky join <token>`). The token is verified first,
 * with nothing sent: it must be signed by the key its zone id names, and unexpired. Then
 * the new device makes its key, proves it holds it to the inviting device (whose TLS
 * certificate must be the one its device id names), receives its owner-signed document
 * (and the zone's backup key, sealed to it, when the inviting device gives it), and pulls
 * the whole zone state before the home is committed.
 */
import { rmSync } from "node:fs";
import { eq } from "drizzle-orm";
import {
  type DeviceDocument,
  verifyDeviceDocument,
  verifyZoneDocument,
  type ZoneDocument,
} from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { deviceIdFromPublicKey, publicKeyOfId } from "../../protocol/ids.ts";
import { type Invite, verifyInvite } from "../../protocol/invite.ts";
import {
  decodeJoinAnswer,
  encodeJoinRequest,
  joinPath,
  openBackupKey,
} from "../../protocol/join.ts";
import { decodeJws } from "../../protocol/jws.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { stateKeys } from "../../protocol/state-key.ts";
import { decodeEntries, encodePullRequest } from "../../protocol/sync-messages.ts";
import { certificateDer, certificatePem, isDeviceCertificate } from "../../protocol/tls-cert.ts";
import { WRITE_RULES_LEVEL } from "../../protocol/write-rules.ts";
import { checkpointReplaced, type OfferOutcome, takeOffer } from "../checkpoint/transfer.ts";
import { BuckyError } from "../errors.ts";
import { homePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { bytesWithin } from "../node/bounded-read.ts";
import { networkProblem } from "../node/network-errors.ts";
import { PeerAnswerError, PeerClient } from "../node/peer-client.ts";
import { MemoryContacts, type Peer } from "../node/peers.ts";
import { peekCheckpointRecord } from "../state/checkpoint-record.ts";
import { StateSeal } from "../state/seal.ts";
import { state } from "../store/schema.ts";
import { versionVector } from "../sync/exchange.ts";
import { ingestPage } from "../sync/ingest.ts";
import {
  buildHome,
  createStagedDb,
  finishStagedDb,
  type HomeStep,
  writeIdentity,
} from "./home-staging.ts";
import { joinSeed, pendingJoinWith } from "./pending-join.ts";

const CERT_TIMEOUT_MS = 5_000;
/**
 * The inviting device's certificate answer, at most: a PEM of CERTIFICATE_BYTES (209)
 * is under 400 bytes; this leaves room for a longer one of a later version.
 */
export const MAX_CERT_ANSWER_BYTES = 16 * 1024;
const MAX_PULL_PAGES = 10_000;
/** Checkpoints the inviter may replace while this device fetches one, before it gives up. */
const MAX_CHECKPOINTS_REPLACED = 5;

export interface JoinOptions {
  readonly home: string;
  readonly token: string;
  readonly deviceName: DeviceName;
  /** Names to try in turn when the zone already has a device of that name (a default name). */
  readonly otherNames?: readonly DeviceName[];
  readonly now: () => number;
  readonly log: Log;
  readonly onStep?: (step: HomeStep) => void;
  /** The level of write rules said as it asks (WRITE_RULES_LEVEL; lower only in a test). */
  readonly writeRulesLevel?: number;
}

export interface JoinedZone {
  readonly zone: ZoneDocument;
  readonly device: DeviceDocument;
  /** How many changesets the first sync brought. */
  readonly changesets: number;
  /** Whether the inviting device gave this one the backup key. */
  readonly backupKey: boolean;
  /** The checkpoint it started from (its id), when the zone had compacted its history. */
  readonly checkpoint?: string;
}

export async function joinZone(options: JoinOptions): Promise<JoinedZone> {
  const invite = checkToken(options.token);
  // Expired, it still resumes a join it began here (the zone admitted this device, whose
  // key proves it): it is given nothing it did not have.
  if (
    invite.expiresAt * 1000 <= options.now() &&
    !pendingJoinWith(homePaths(options.home), invite.id)
  ) {
    throw new BuckyError(
      "E_PERMISSION",
      `the invitation expired at ${new Date(invite.expiresAt * 1000).toISOString()}`,
      "Ask the zone's owner for a new one (`bucky invite`).",
    );
  }
  // Once admitted, a failure leaves the zone listing a device that never comes.
  let admittedAs: string | undefined;
  const joined = await buildHome(
    options.home,
    options.log,
    async (staging) => {
      const inviter = await reachInviter(invite);
      // Written down before it is used: killed once admitted, the next try resumes with it.
      const { seed, resumed } = joinSeed(staging.paths, invite.id);
      const key = signingKeyFromSeed(seed);
      const contacts = new MemoryContacts();
      const client = new PeerClient(key, contacts, options.now);
      const names = [options.deviceName, ...(options.otherNames ?? [])];
      const level = options.writeRulesLevel ?? WRITE_RULES_LEVEL;
      const asked = { invite, key, names, level, resumed };
      const { name, answer } = await askToJoin(client, inviter, asked).catch((error: unknown) => {
        // Refused with a new key, it was not admitted: nothing to resume (and nothing left in
        // the home). Any other failure may have come after the admission, its answer lost on
        // the way; and a key left here stays whatever the answer (under another name, or with
        // the clock off, the zone still lists the device it admitted with it).
        if (refusedByInviter(error) && !resumed) rmSync(staging.paths.joinPending, { force: true });
        throw error;
      });
      const { device, backupRoot } = verifyAdmission(
        new TextDecoder().decode(answer),
        invite,
        name,
        { seed, publicKey: key.publicKey },
      );
      admittedAs = device.name;
      staging.onStep("admitted");

      writeIdentity(staging, { device: seed, ...(backupRoot ? { backup: backupRoot } : {}) });
      const seal = StateSeal.fromSeed(seed, device.id);
      const db = createStagedDb(
        staging,
        {
          zone: invite.zone,
          id: device.id,
          name: device.name,
          seal,
        },
        options.now(),
      );
      try {
        let changesets = 0;
        let checkpoint: string | undefined;
        let replaced = 0;
        for (let page = 0; page < MAX_PULL_PAGES; page++) {
          const message = decodeEntries(
            await client.post(
              inviter,
              "/v1/sync/pull",
              encodePullRequest({ have: versionVector(db) }),
              { repeatable: true },
            ),
          );
          // A zone with a checkpoint: the state it holds first, then what came after.
          if (message.checkpoint) {
            let outcome: OfferOutcome;
            try {
              outcome = await takeOffer(
                {
                  db,
                  seal,
                  zone: invite.zone,
                  now: options.now,
                  log: options.log,
                  source: "the inviting device",
                  fetchPage: (request) =>
                    client.post(inviter, "/v1/sync/checkpoint", request, { repeatable: true }),
                },
                message.checkpoint,
              );
            } catch (error) {
              // The zone compacted again while this device fetched the checkpoint (the
              // inviter holds only its newest): the next pull offers the new one. Nothing
              // of the old one was kept (takeOffer stages its rows and clears them).
              if (checkpointReplaced(error) && replaced++ < MAX_CHECKPOINTS_REPLACED) continue;
              throw error;
            }
            if (outcome !== "adopted")
              throw new BuckyError(
                "E_UNAVAILABLE",
                "the inviting device offered a checkpoint this device cannot take",
                "Try again in a moment.",
              );
            checkpoint = peekCheckpointRecord(db.$client)?.checkpoint.id;
            continue;
          }
          // A page's signatures are checked on every core, a batch applied as the next is.
          const page = await ingestPage(db, message.entries, {
            zone: invite.zone,
            nowMs: options.now(),
            log: options.log,
            source: "inviter",
            seal,
          });
          changesets += page.applied.length;
          if (!message.more) break;
        }
        const zoneRow = db
          .select({ value: state.value })
          .from(state)
          .where(eq(state.key, stateKeys.zoneDocument))
          .get();
        const mine = db
          .select({ value: state.value })
          .from(state)
          .where(eq(state.key, stateKeys.deviceDocument(device.name)))
          .get();
        if (!zoneRow?.value || mine?.value !== JSON.stringify(device.jws)) {
          throw new BuckyError(
            "E_UNAVAILABLE",
            "the inviting device did not send the zone's state",
            "Try again in a moment.",
          );
        }
        const zone = verifyZoneDocument(JSON.parse(zoneRow.value), invite.zone);
        return {
          zone,
          device,
          changesets,
          backupKey: backupRoot !== undefined,
          ...(checkpoint ? { checkpoint } : {}),
        };
      } finally {
        finishStagedDb(staging, db);
      }
    },
    options.onStep,
  ).catch((error: unknown) => {
    throw admittedAs === undefined ? error : admittedButNotJoined(error, admittedAs);
  });
  options.log.info("joined zone", {
    zone: joined.zone.id,
    name: joined.zone.name,
    device: joined.device.name,
    changesets: joined.changesets,
    backupKey: joined.backupKey,
    checkpoint: joined.checkpoint?.slice(0, 12),
  });
  return joined;
}

/**
 * A join that failed once the inviting device had admitted this device: the zone lists it
 * (its name taken, a use of the invitation gone) until it comes. Said, with what to do: the
 * same join again resumes (lib/zone/pending-join.ts).
 */
function admittedButNotJoined(error: unknown, name: string): unknown {
  if (!(error instanceof BuckyError)) return error;
  return new BuckyError(
    error.code,
    `the zone admitted this device as ${name}, then joining failed: ${error.message}`,
    `Run the same \`bucky join\` here again: it resumes as ${name}, with the same invitation. Or, to give up on it, revoke ${name} on a device holding the owner key (\`bucky devices revoke ${name}\`).`,
    { cause: error },
  );
}

function refusedByInviter(error: unknown): boolean {
  for (let at = error; at instanceof Error; at = at.cause)
    if (at instanceof PeerAnswerError) return at.refused;
  return false;
}

/** Asks the inviting device to admit this one, under the first of `names` the zone does not have. */
async function askToJoin(
  client: PeerClient,
  inviter: Peer,
  asked: {
    readonly invite: Invite;
    readonly key: SigningKey;
    readonly names: readonly DeviceName[];
    readonly level: number;
    /** The key is one a join cut short left here (joinSeed). */
    readonly resumed: boolean;
  },
): Promise<{ name: DeviceName; answer: Uint8Array }> {
  const { invite, key, names, level: writeRulesLevel } = asked;
  for (const [index, name] of names.entries()) {
    try {
      const request = encodeJoinRequest(
        invite.zone,
        { invite: invite.id, secret: invite.secret, name },
        key,
      );
      const answer = await client.post(
        inviter,
        joinPath(writeRulesLevel),
        new TextEncoder().encode(request),
        {
          contentType: "application/json",
        },
      );
      return { name, answer };
    } catch (error) {
      // The only E_EXISTS of an admission with a fresh key: the name is taken.
      const taken = error instanceof BuckyError && error.code === "E_EXISTS";
      if (!taken || index === names.length - 1) throw withJoinHint(error, asked.resumed);
    }
  }
  throw new Error("no name to join with");
}

/**
 * The inviting device's refusal, with what to do in bucky's own words: its hint is its
 * words, in the message (peer-client.ts), never advice.
 */
function withJoinHint(error: unknown, resumed: boolean): unknown {
  if (!(error instanceof BuckyError) || error.hint !== undefined) return error;
  const hint =
    error.code === "E_EXISTS"
      ? resumed && error.message.includes("already a member of the zone, as ")
        ? "This home holds the key of a join with this invitation that was cut short, which the zone admitted under the name its answer says: run the join again with that name (--device <name>)."
        : "Join with another name: --device <name>."
      : error.code === "E_PERMISSION"
        ? "Ask the zone's owner for a new invitation (`bucky invite`)."
        : error.code === "E_UPGRADE_FIRST"
          ? "Install the bucky the zone's devices run (or a newer one) here, then run the same `bucky join` again: the invitation still holds."
          : undefined;
  return hint ? new BuckyError(error.code, error.message, hint, { cause: error }) : error;
}

/** Verifies the token offline: signed by its zone's owner key (its expiry is the caller's). */
function checkToken(token: string): Invite {
  try {
    decodeJws(token.trim());
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new BuckyError(
      "E_INVALID_INPUT",
      `this is not a bucky invitation: ${error.message}`,
      "Copy the whole token that `bucky invite` printed.",
    );
  }
  let invite: Invite;
  try {
    invite = verifyInvite(token);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new BuckyError(
      "E_INTEGRITY",
      `the invitation does not verify: ${error.message}`,
      "It was altered or forged. Ask the zone's owner for a new one.",
    );
  }
  return invite;
}

/**
 * Finds an address of the inviting device that presents the certificate its device id
 * names. The certificate is fetched without trusting the connection and checked against
 * the signed token; every later request pins it.
 */
async function reachInviter(invite: Invite): Promise<Peer> {
  const publicKey = publicKeyOfId(invite.inviter, "device") as Uint8Array;
  const failures: string[] = [];
  for (const address of invite.addresses) {
    try {
      const response = await fetch(`${address}/v1/cert`, {
        tls: { rejectUnauthorized: false },
        signal: AbortSignal.timeout(CERT_TIMEOUT_MS),
      });
      const text = await readCertificateAnswer(response);
      if (!response.ok) {
        failures.push(`${address}: answered HTTP ${response.status}`);
        continue;
      }
      const der = certificateDer(text);
      if (der && isDeviceCertificate(der, publicKey)) {
        return {
          id: invite.inviter,
          name: "the inviting device",
          addresses: [address],
          certPem: certificatePem(der),
        };
      }
      failures.push(`${address}: not the inviting device's certificate`);
    } catch (error) {
      failures.push(`${address}: ${networkProblem(error)}`);
    }
  }
  throw new BuckyError(
    "E_UNAVAILABLE",
    `cannot reach the inviting device (${failures.join("; ")})`,
    "Check that its node runs (`bucky up` there) and that this device can reach it on the network. " +
      "If something else answers at its address, join from a network you trust.",
  );
}

/**
 * The certificate answer's text, read as it arrives and at most MAX_CERT_ANSWER_BYTES
 * (lib/node/bounded-read.ts): it comes before anything is checked (from whatever answers
 * at the address), so one past the bound stops being read, whatever its Content-Length says.
 */
async function readCertificateAnswer(response: Response): Promise<string> {
  const bytes = await bytesWithin(response, MAX_CERT_ANSWER_BYTES, {
    tooLarge: () =>
      new Error(`answered with more than ${MAX_CERT_ANSWER_BYTES} bytes, not a certificate`),
    brokeOff: (error) =>
      new Error(`its answer broke off (${networkProblem(error)})`, { cause: error }),
  });
  return new TextDecoder().decode(bytes);
}

/** The inviting device's answer: this device's document, and the backup key if it came. */
function verifyAdmission(
  body: string,
  invite: Invite,
  name: DeviceName,
  self: { seed: Uint8Array; publicKey: Uint8Array },
): { device: DeviceDocument; backupRoot?: Uint8Array } {
  const id = deviceIdFromPublicKey(self.publicKey);
  try {
    const answer = decodeJoinAnswer(body);
    const doc = verifyDeviceDocument(answer.device, invite.zone);
    if (doc.id !== id || doc.name !== name)
      throw new ProtocolError("it is not this device's document");
    if (!answer.backupKey) return { device: doc };
    const backupRoot = openBackupKey({
      zone: invite.zone,
      device: id,
      seed: self.seed,
      devicePublicKey: self.publicKey,
      sealed: answer.backupKey,
    });
    return { device: doc, backupRoot };
  } catch (error) {
    if (!(error instanceof ProtocolError) && !(error instanceof SyntaxError)) throw error;
    throw new BuckyError(
      "E_INTEGRITY",
      `the inviting device's answer does not verify: ${error.message}`,
    );
  }
}
