/**
 * Relaying, for devices that cannot be called (behind NAT). Such a device keeps a control
 * tunnel to a relay (a gateway of its zone, or a relay-only node); a device that wants to
 * reach it asks the relay, which has the tunnel open a new stream back from it. Streams
 * carry the devices' own TLS, end to end: the relay moves bytes it cannot read or alter.
 *
 * A relay need not be a member of the zone: a device proves itself with its owner-signed
 * device document (the zone id in it is the owner's key) and a signature, by its device
 * key, of a challenge the relay chose.
 *
 * Control messages are JSON text frames:
 *   relay → device  {type: "challenge", nonce}          on connecting
 *   device → relay  {type: "hello", document, signature}
 *   relay → device  {type: "ready"}
 *   relay → device  {type: "open", stream}              connect back to …/accept/<stream>
 *   device → relay  {type: "ping"}                      every so often; the relay answers
 *   relay → device  {type: "pong"}                      (a silent tunnel is a dead one)
 *
 * Version 2 adds the relay's own streams. When the relay itself is the device calling (a
 * gateway reaching a device of its zone behind NAT), the two ends of the stream are the
 * two ends of the accept connection's TLS: the device pinned the relay's certificate, and
 * only it received the stream id, down the tunnel it proved its key on. One TLS does, and
 * such a stream carries the calling device's HTTP inside that TLS alone:
 *   device → relay  {type: "hello", document, signature, takes: ["own"]}
 *                                          the device takes the relay's own streams
 *   relay → device  {type: "open-own", stream}          the relay's own stream: connect
 *                                          back to …/accept/<stream>, and read HTTP in it
 * A relay sends "open-own" only on a tunnel whose hello said so; an older relay reads
 * only the hello's document and signature, and an older device is never sent it.
 *
 * Version 3 adds pipe streams: the relay's own device, a gateway of the zone, reaching an
 * app on the device through the device's app pipe (lib/gateway/app-pipe.ts) rather than
 * its ingress. Like an own stream it carries HTTP inside the accept connection's TLS
 * alone, and the relay is the gateway the pipe admits (where on a direct connection its
 * app certificate says who it is); the app is named in the message, and so is what the
 * pipe's refusals carry for the gateway to know them (refusalProof, of the app
 * certificate it would present: the app never sees either).
 *   device → relay  {type: "hello", …, takes: ["own", "pipe"]}
 *                                          the device takes pipe streams
 *   relay → device  {type: "open-pipe", stream, app, refusal}
 *                                          connect back to …/accept/<stream>, and serve
 *                                          it as the app pipe serves a connection
 * Sent only on a tunnel whose hello said so, as "open-own" is: an older device would
 * take the unknown message for a malformed one and drop its tunnel.
 *
 * A device asking the relay for a stream signs its request (request-auth, audience the
 * relay) and sends its device document in the `bucky-document` header.
 */
import { type DeviceDocument, verifyDeviceDocument } from "./documents.ts";
import { type SigningKey, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url, utf8 } from "./encoding.ts";
import { check } from "./errors.ts";
import {
  type DeviceId,
  deviceIdFromPublicKey,
  parseZoneId,
  publicKeyOfId,
  type ZoneId,
} from "./ids.ts";
import { decodeJws, MAX_JWS_LENGTH } from "./jws.ts";
import { isRecord } from "./shape.ts";
import { certificateDer, isDeviceCertificate } from "./tls-cert.ts";

export const RELAY_NONCE_BYTES = 32;
export const STREAM_ID_BYTES = 16;
export const DOCUMENT_HEADER = "bucky-document";
/** What a device's hello says it takes besides the streams every relay may open. */
export const TAKES_OWN_STREAMS = "own";
/** What a device's hello says when it joins pipe streams to its app pipe (version 3). */
export const TAKES_PIPE_STREAMS = "pipe";

export type ControlMessage =
  | { readonly type: "challenge"; readonly nonce: string }
  | {
      readonly type: "hello";
      readonly document: string;
      readonly signature: string;
      /** What the device takes besides TLS streams: TAKES_OWN_STREAMS (version 2), TAKES_PIPE_STREAMS (3). */
      readonly takes?: readonly string[];
    }
  | { readonly type: "ready" }
  | { readonly type: "open"; readonly stream: string }
  | { readonly type: "open-own"; readonly stream: string }
  | {
      readonly type: "open-pipe";
      readonly stream: string;
      readonly app: string;
      readonly refusal: string;
    }
  | { readonly type: "ping" }
  | { readonly type: "pong" };

/**
 * The longest control message: a hello is the largest, a device document (a JWS of at most
 * MAX_JWS_LENGTH) and a signature. Anyone may open a control socket and send before its
 * hello is checked: a longer message is refused unparsed.
 */
export const MAX_CONTROL_CHARS = MAX_JWS_LENGTH + 4096;
/** The longest app name or refusal proof an open-pipe message carries (a proof is 43). */
const MAX_PIPE_FIELD_CHARS = 64;

export function decodeControl(text: string): ControlMessage {
  check(
    text.length <= MAX_CONTROL_CHARS,
    `a relay message is at most ${MAX_CONTROL_CHARS} characters`,
  );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    check(false, "a relay message is JSON");
  }
  check(isRecord(value) && typeof value.type === "string", "a relay message has a type");
  switch (value.type) {
    case "open-pipe":
      check(
        typeof value.stream === "string" &&
          value.stream.length <= 64 &&
          typeof value.app === "string" &&
          value.app.length <= MAX_PIPE_FIELD_CHARS &&
          typeof value.refusal === "string" &&
          value.refusal.length <= MAX_PIPE_FIELD_CHARS,
        "relay open-pipe has a stream, an app and a refusal",
      );
      return { type: "open-pipe", stream: value.stream, app: value.app, refusal: value.refusal };
    case "challenge":
    case "open":
    case "open-own": {
      const field = value.type === "challenge" ? "nonce" : "stream";
      check(
        typeof value[field] === "string" && (value[field] as string).length <= 64,
        `relay ${value.type} has a ${field}`,
      );
      return value as ControlMessage;
    }
    case "hello": {
      check(
        typeof value.document === "string" && typeof value.signature === "string",
        "relay hello has a document and a signature",
      );
      const { takes } = value;
      check(
        takes === undefined ||
          (Array.isArray(takes) &&
            takes.length <= 8 &&
            takes.every((what) => typeof what === "string" && what.length <= 32)),
        "relay hello's takes is a short list of names",
      );
      return {
        type: "hello",
        document: value.document,
        signature: value.signature,
        ...(takes ? { takes: takes as string[] } : {}),
      };
    }
    case "ready":
    case "ping":
    case "pong":
      return { type: value.type };
    default:
      check(false, `unknown relay message ${String(value.type)}`);
  }
}

/** The device's answer to a relay's challenge. */
export function answerChallenge(
  nonce: string,
  relay: DeviceId,
  document: string,
  key: SigningKey,
  takes: readonly string[] = [],
): ControlMessage {
  return {
    type: "hello",
    document,
    signature: toBase64url(
      key.sign(challengeInput(nonce, relay, deviceIdFromPublicKey(key.publicKey))),
    ),
    ...(takes.length > 0 ? { takes } : {}),
  };
}

/**
 * Checks a hello against the challenge this relay sent: the document must be signed by
 * its zone's owner and the signature made by the device it names. Returns who it is.
 */
export function checkHello(
  hello: ControlMessage,
  nonce: string,
  relay: DeviceId,
): { zone: ZoneId; device: DeviceId; name: string } {
  check(hello.type === "hello", "expected a hello");
  const { zone, document } = verifyOwnDocument(hello.document);
  const signature = fromBase64url(hello.signature);
  check(signature !== undefined, "the hello's signature is malformed");
  const key = verifyKeyFromPublicKey(publicKeyOfId(document.id, "device") as Uint8Array);
  check(
    key.verify(challengeInput(nonce, relay, document.id), signature),
    "the hello is not signed by the device it names",
  );
  return { zone, device: document.id, name: document.name };
}

/**
 * A device document checked against the zone it names itself (its signer's key is the
 * zone id): proof that the zone's owner admitted that device, whoever relays for it.
 */
export function verifyOwnDocument(jws: string): { zone: ZoneId; document: DeviceDocument } {
  const zone = parseZoneId(String(decodeJws(jws).header.kid));
  check(zone !== undefined, "the device document names no zone");
  return { zone, document: verifyDeviceDocument(jws, zone) };
}

/**
 * What a zone needs to use a relay that is not one of its members: its device id, where
 * it listens, and its certificate (which must be the one its key makes). Passed around
 * as one string: `bucky-relay:` and the base64url of its JSON.
 */
export interface RelayTicket {
  readonly id: DeviceId;
  readonly name: string;
  readonly addrs: readonly string[];
  readonly cert: string;
}

const TICKET_PREFIX = "bucky-relay:";

export function encodeRelayTicket(ticket: RelayTicket): string {
  return TICKET_PREFIX + toBase64url(utf8(JSON.stringify(ticket)));
}

export function decodeRelayTicket(text: string): RelayTicket {
  check(text.startsWith(TICKET_PREFIX), `a relay ticket starts with ${TICKET_PREFIX}`);
  const bytes = fromBase64url(text.slice(TICKET_PREFIX.length).trim());
  check(bytes !== undefined, "the relay ticket is not base64url");
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    check(false, "the relay ticket is not JSON");
  }
  check(isRelayTicket(value), "the relay ticket lacks its id, name, addresses or certificate");
  const der = certificateDer(value.cert);
  const key = publicKeyOfId(value.id, "device");
  check(
    der !== undefined && key !== undefined && isDeviceCertificate(der, key),
    "the relay ticket's certificate is not its device's",
  );
  return { id: value.id, name: value.name, addrs: value.addrs, cert: value.cert };
}

function isRelayTicket(value: unknown): value is RelayTicket {
  return (
    isRecord(value) &&
    typeof value.id === "string" &&
    typeof value.name === "string" &&
    typeof value.cert === "string" &&
    Array.isArray(value.addrs) &&
    value.addrs.length > 0 &&
    value.addrs.every((a) => typeof a === "string" && /^https:\/\/\S+$/.test(a))
  );
}

function challengeInput(nonce: string, relay: DeviceId, device: DeviceId): Uint8Array {
  return utf8(["bucky relay hello v1", relay, device, nonce].join("\n"));
}
