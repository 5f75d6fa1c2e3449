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
  const shaped = credentialResponse(response, ["clientDataJSON", "attestationObject"]);
  const result = await refusedUnless(() =>
    verifyRegistrationResponse({
      response: shaped as unknown as RegistrationResponseJSON,
      expectedChallenge: expected.challenge,
      expectedOrigin: expected.origin,
      expectedRPID: expected.rpId,
      requireUserVerification: false,
    }),
  );
  const info = result.registrationInfo;
  if (!result.verified || !info) throw refused("the passkey was not made for this sign-in");
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
  const shaped = credentialResponse(response, ["clientDataJSON", "authenticatorData", "signature"]);
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
    throw refused(`it was made on ${seenOrigin}, not for ${credential.rpId}`);
  const publicKey = fromBase64url(credential.publicKey);
  if (!publicKey) throw refused("its credential's public key is not base64url");
  const result = await refusedUnless(() =>
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
  if (!result.verified) throw refused("the passkey's signature does not verify");
}

interface ShapedResponse {
  readonly id: string;
  readonly rawId: string;
  readonly type: "public-key";
  readonly clientExtensionResults: Record<string, unknown>;
  readonly response: Record<string, string>;
}

/** A credential response as the browser's toJSON gives it, with just the fields needed, checked. */
function credentialResponse(value: unknown, fields: readonly string[]): ShapedResponse {
  const record = value as { id?: unknown; type?: unknown; response?: Record<string, unknown> };
  const id = record?.id;
  if (typeof id !== "string" || id.length > 1400 || !fromBase64url(id))
    throw refused("the browser's answer names no credential");
  if (record.type !== "public-key") throw refused("the browser's answer is not a passkey's");
  const response: Record<string, string> = {};
  for (const field of fields) {
    const part = record.response?.[field];
    if (typeof part !== "string" || part.length > 8192 || fromBase64url(part) === undefined)
      throw refused(`the browser's answer has no ${field}`);
    response[field] = part;
  }
  return { id, rawId: id, type: "public-key", clientExtensionResults: {}, response };
}

function originIn(clientDataJSON: string): string {
  try {
    const bytes = fromBase64url(clientDataJSON);
    const origin = bytes
      ? (JSON.parse(Buffer.from(bytes).toString("utf8")) as { origin?: unknown }).origin
      : undefined;
    return typeof origin === "string" ? origin : "";
  } catch {
    return "";
  }
}

async function refusedUnless<T>(verify: () => Promise<T>): Promise<T> {
  try {
    return await verify();
  } catch (error) {
    // The verifier throws a plain Error for every way an answer fails to verify.
    throw refused((error as Error).message);
  }
}

function refused(why: string): BuckyError {
  return new BuckyError("E_PERMISSION", `the passkey did not work: ${why}`);
}
