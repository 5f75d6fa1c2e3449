/**
 * Passkeys (WebAuthn), through @simplewebauthn/server: the options a browser needs to
 * make or use one, and the checks of what it sends back. A passkey belongs to the
 * gateway's host name (its relying party id): a gateway reached by address only has
 * none, and people there use a password.
 *
 * No signature counter is kept: sessions are checked by every gateway from the zone
 * state alone, and a counter would need one place to keep it.
 */
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from "@simplewebauthn/server";
import type { Credential } from "../../protocol/accounts.ts";
import { fromBase64url, toBase64url, utf8 } from "../../protocol/encoding.ts";
import { BuckyError } from "../errors.ts";

type PasskeyCredential = Extract<Credential, { kind: "passkey" }>;

/**
 * Loaded when first needed: only a gateway that meets a passkey pays for it. Its
 * certificate code (@peculiar/x509) needs the Reflect metadata polyfill loaded first,
 * which a lazily loaded bundle does not do by itself.
 */
async function webauthn() {
  await import("reflect-metadata");
  return import("@simplewebauthn/server");
}

/** COSE algorithms offered: Ed25519, P-256, RSA. */
const ALGORITHMS = [-8, -7, -257];
const TIMEOUT_MS = 120_000;

export async function registrationOptions(options: {
  rpId: string;
  rpName: string;
  user: string;
  challenge: Uint8Array;
}): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { generateRegistrationOptions } = await webauthn();
  return generateRegistrationOptions({
    rpName: options.rpName,
    rpID: options.rpId,
    userName: options.user,
    userID: new Uint8Array(utf8(options.user)),
    challenge: new Uint8Array(options.challenge),
    attestationType: "none",
    timeout: TIMEOUT_MS,
    supportedAlgorithmIDs: ALGORITHMS,
    authenticatorSelection: { residentKey: "preferred", userVerification: "preferred" },
  });
}

/** Checks what the browser sent back from making a passkey: its id and public key. */
export async function checkRegistration(
  response: unknown,
  expected: { challenge: string; origin: string; rpId: string },
): Promise<{ id: string; publicKey: string }> {
  const { verifyRegistrationResponse } = await webauthn();
  const shaped = credentialResponse(response, ["clientDataJSON", "attestationObject"], ENROLL_HINT);
  checkClientData(shaped.response.clientDataJSON as string, "webauthn.create", expected);
  const result = await refusedUnless(ENROLL_HINT, "the passkey it made could not be read", () =>
    verifyRegistrationResponse({
      response: shaped as unknown as RegistrationResponseJSON,
      expectedChallenge: expected.challenge,
      expectedOrigin: expected.origin,
      expectedRPID: expected.rpId,
      requireUserVerification: false,
    }),
  );
  const info = result.registrationInfo;
  if (!result.verified || !info)
    throw refused("the passkey was not made for this enrollment", ENROLL_HINT);
  return { id: info.credential.id, publicKey: toBase64url(info.credential.publicKey) };
}

export async function authenticationOptions(options: {
  rpId: string;
  challenge: Uint8Array;
  allow: readonly string[];
}): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { generateAuthenticationOptions } = await webauthn();
  return generateAuthenticationOptions({
    rpID: options.rpId,
    challenge: new Uint8Array(options.challenge),
    timeout: TIMEOUT_MS,
    userVerification: "preferred",
    allowCredentials: options.allow.map((id) => ({ id })),
  });
}

/** The parts of an assertion a session keeps as its proof. */
export interface Assertion {
  /** The credential id it names. */
  readonly id: string;
  readonly ad: string;
  readonly cd: string;
  readonly sig: string;
}

/** What the browser sent back from using a passkey, as a session's proof keeps it. */
export function assertionOf(response: unknown): Assertion {
  const shaped = credentialResponse(
    response,
    ["clientDataJSON", "authenticatorData", "signature"],
    SIGNIN_HINT,
  );
  return {
    id: shaped.id,
    ad: shaped.response.authenticatorData as string,
    cd: shaped.response.clientDataJSON as string,
    sig: shaped.response.signature as string,
  };
}

/**
 * Throws E_PERMISSION unless `assertion` is `credential`'s signature over `challenge`,
 * made on `origin` (when given; else on any origin of the credential's host name).
 */
export async function checkAssertion(
  assertion: Omit<Assertion, "id">,
  credential: PasskeyCredential,
  challenge: string,
  origin?: string,
): Promise<void> {
  const { verifyAuthenticationResponse } = await webauthn();
  const seenOrigin = origin ?? originIn(assertion.cd);
  const host = URL.parse(seenOrigin)?.hostname ?? "";
  if (host !== credential.rpId && !host.endsWith(`.${credential.rpId}`))
    throw refused(`it was made on ${seenOrigin}, not for ${credential.rpId}`, SIGNIN_HINT);
  checkClientData(assertion.cd, "webauthn.get", { challenge, origin: seenOrigin });
  const publicKey = fromBase64url(credential.publicKey);
  if (!publicKey) throw refused("its credential's public key is not base64url", SIGNIN_HINT);
  const result = await refusedUnless(
    SIGNIN_HINT,
    "the authenticator's answer does not verify",
    () =>
      verifyAuthenticationResponse({
        response: {
          id: credential.id,
          rawId: credential.id,
          type: "public-key",
          clientExtensionResults: {},
          response: {
            clientDataJSON: assertion.cd,
            authenticatorData: assertion.ad,
            signature: assertion.sig,
          },
        } as AuthenticationResponseJSON,
        expectedChallenge: challenge,
        expectedOrigin: seenOrigin,
        expectedRPID: credential.rpId,
        credential: { id: credential.id, publicKey: new Uint8Array(publicKey), counter: 0 },
        requireUserVerification: false,
      }),
  );
  if (!result.verified) throw refused("its signature does not verify", SIGNIN_HINT);
}

interface ShapedResponse {
  readonly id: string;
  readonly rawId: string;
  readonly type: "public-key";
  readonly clientExtensionResults: Record<string, unknown>;
  readonly response: Record<string, string>;
}

/** A credential response as the browser's toJSON gives it, with just the fields needed, checked. */
function credentialResponse(
  value: unknown,
  fields: readonly string[],
  hint: string,
): ShapedResponse {
  const record = value as { id?: unknown; type?: unknown; response?: Record<string, unknown> };
  const id = record?.id;
  if (typeof id !== "string" || id.length > 1400 || !fromBase64url(id))
    throw refused("the browser's answer names no credential", hint);
  if (record.type !== "public-key") throw refused("the browser's answer is not a passkey's", hint);
  const response: Record<string, string> = {};
  for (const field of fields) {
    const part = record.response?.[field];
    if (typeof part !== "string" || part.length > 8192 || fromBase64url(part) === undefined)
      throw refused(`the browser's answer has no ${field}`, hint);
    response[field] = part;
  }
  return { id, rawId: id, type: "public-key", clientExtensionResults: {}, response };
}

/**
 * Checks the browser's client data (what it says it signed) in our words before the
 * verifier reads it: a JSON object of `type`, for `expected`'s challenge and origin. The
 * verifier's own errors say such things in its words ("Cannot destructure property
 * 'type' from null"), which are no answer to give a person.
 */
function checkClientData(
  clientDataJSON: string,
  type: "webauthn.create" | "webauthn.get",
  expected: { challenge: string; origin: string },
): void {
  const hint = type === "webauthn.create" ? ENROLL_HINT : SIGNIN_HINT;
  const data = clientDataOf(clientDataJSON);
  if (!data) throw refused("the browser's answer does not say what it signed", hint);
  if (data.type !== type)
    throw refused(
      type === "webauthn.create"
        ? "the browser's answer is not one of making a passkey"
        : "the browser's answer is not one of signing in with a passkey",
      hint,
    );
  if (data.challenge !== expected.challenge)
    throw refused("the browser's answer is to another sign-in than this one", hint);
  if (data.origin !== expected.origin)
    throw refused(`the browser's answer was made on another site than ${expected.origin}`, hint);
}

/** The client data's fields, if it is a JSON object (each field still to be checked). */
function clientDataOf(
  clientDataJSON: string,
): { type: unknown; challenge: unknown; origin: unknown } | undefined {
  try {
    const bytes = fromBase64url(clientDataJSON);
    const value: unknown = bytes ? JSON.parse(Buffer.from(bytes).toString("utf8")) : undefined;
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
    const { type, challenge, origin } = value as Record<string, unknown>;
    return { type, challenge, origin };
  } catch {
    return undefined;
  }
}

function originIn(clientDataJSON: string): string {
  const origin = clientDataOf(clientDataJSON)?.origin;
  return typeof origin === "string" ? origin : "";
}

/**
 * What the verifier says, or `why` in our words with `hint` if it throws: it throws a
 * plain Error (or a TypeError of its own) for every way an answer fails, in words meant
 * for programmers. Its own are kept as the refusal's cause, for the log.
 */
async function refusedUnless<T>(hint: string, why: string, verify: () => Promise<T>): Promise<T> {
  try {
    return await verify();
  } catch (error) {
    throw refused(why, hint, error);
  }
}

const SIGNIN_HINT =
  "Try again from the sign-in page; if the passkey keeps failing, sign in with a password, or ask an admin of the zone for a new enrollment link.";
const ENROLL_HINT =
  "Try again from the enrollment link; if making a passkey keeps failing, choose a password there instead.";

function refused(why: string, hint: string, cause?: unknown): BuckyError {
  return new BuckyError(
    "E_PERMISSION",
    `the passkey did not work: ${why}`,
    hint,
    cause === undefined ? undefined : { cause },
  );
}
