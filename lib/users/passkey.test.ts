/**
 * Passkeys against a software authenticator (P-256, "none" attestation, as a phone's
 * platform authenticator answers): a passkey made for one host and challenge verifies,
 * and an answer for another challenge, host or origin, or with a changed byte, does not.
 */
import { describe, expect, test } from "bun:test";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import type { Credential } from "../../protocol/accounts.ts";
import { toBase64url } from "../../protocol/encoding.ts";
import { BuckyError } from "../errors.ts";
import { assertionOf, checkAssertion, checkRegistration } from "./passkey.ts";
import { authenticator as softAuthenticator } from "./test-authenticator.ts";

const RP = "home.example";
const ORIGIN = `https://${RP}`;
const authenticator = (rpId = RP) => softAuthenticator(rpId);

const challenge = () => toBase64url(new Uint8Array(randomBytes(32)));

async function credentialOf(device: ReturnType<typeof authenticator>) {
  const made = challenge();
  const registered = await checkRegistration(device.make(made), {
    challenge: made,
    origin: ORIGIN,
    rpId: RP,
  });
  return {
    v: 1,
    kind: "passkey",
    enrollment: "",
    id: registered.id,
    publicKey: registered.publicKey,
    rpId: RP,
    createdAt: "",
  } satisfies Credential;
}

async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    if (error instanceof BuckyError && error.code === "E_PERMISSION") return error.message;
    throw error;
  }
  return "verified";
}

describe("passkeys", () => {
  test("one made for this host and challenge is taken, with its id", async () => {
    const device = authenticator();
    const credential = await credentialOf(device);
    expect(credential.id).toBe(device.id);
  });

  test("making one for another challenge, origin or host is refused", async () => {
    const device = authenticator();
    const expected = { challenge: challenge(), origin: ORIGIN, rpId: RP };
    expect(await refusal(checkRegistration(device.make(challenge()), expected))).toContain(
      "did not work",
    );
    expect(
      await refusal(
        checkRegistration(device.make(expected.challenge, "https://evil.example"), expected),
      ),
    ).toContain("did not work");
    expect(
      await refusal(
        checkRegistration(authenticator("evil.example").make(expected.challenge), expected),
      ),
    ).toContain("did not work");
    expect(await refusal(checkRegistration({ id: "x" }, expected))).toContain(
      "names no credential",
    );
  });

  test("an answer verifies for its challenge, on this host's origins", async () => {
    const device = authenticator();
    const credential = await credentialOf(device);
    const asked = challenge();
    const answer = assertionOf(device.use(asked));
    await checkAssertion(answer, credential, asked, ORIGIN);
    // Checked again elsewhere: any origin of the credential's host, none other.
    await checkAssertion(answer, credential, asked);
    await checkAssertion(assertionOf(device.use(asked, `https://${RP}:8443`)), credential, asked);
    expect(
      await refusal(
        checkAssertion(assertionOf(device.use(asked, "https://evil.example")), credential, asked),
      ),
    ).toContain("not for home.example");
  });

  test("another challenge, another key, or a changed byte: refused", async () => {
    const device = authenticator();
    const credential = await credentialOf(device);
    const asked = challenge();
    expect(
      await refusal(checkAssertion(assertionOf(device.use(challenge())), credential, asked)),
    ).toContain("did not work");
    const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    expect(
      await refusal(
        checkAssertion(assertionOf(device.use(asked, ORIGIN, stranger)), credential, asked),
      ),
    ).toContain("did not work");
    const answer = assertionOf(device.use(asked));
    const bytes = Buffer.from(answer.ad, "base64url");
    bytes[33] = (bytes[33] ?? 0) ^ 1;
    expect(
      await refusal(checkAssertion({ ...answer, ad: toBase64url(bytes) }, credential, asked)),
    ).toContain("did not work");
  });
});

describe("a malformed answer", () => {
  /** The refusal `work` ends in, as a person is shown it, and what the library said. */
  async function refused(work: Promise<unknown>) {
    try {
      await work;
    } catch (error) {
      if (!(error instanceof BuckyError)) throw error;
      const cause = (error.cause as Error | undefined)?.message;
      return { code: error.code, message: error.message, hint: error.hint, cause };
    }
    throw new Error("it was taken");
  }
  const nullData = toBase64url(Buffer.from("null"));
  const SIGN_IN = expect.stringContaining("sign-in page");
  const ENROLL = expect.stringContaining("enrollment link");

  test("is refused in our words with a hint, never the verifier's (kept for the log)", async () => {
    const device = authenticator();
    const credential = await credentialOf(device);
    const asked = challenge();
    const made = device.make(asked);
    const used = device.use(asked);
    // What the verifier threw for these: "Cannot destructure property 'type' from null…".
    expect(
      await refused(
        checkRegistration(
          { ...made, response: { ...made.response, clientDataJSON: nullData } },
          { challenge: asked, origin: ORIGIN, rpId: RP },
        ),
      ),
    ).toEqual({
      code: "E_PERMISSION",
      message: "the passkey did not work: the browser's answer does not say what it signed",
      hint: ENROLL,
      cause: undefined,
    });
    expect(
      await refused(
        checkAssertion({ ...assertionOf(used), cd: nullData }, credential, asked, ORIGIN),
      ),
    ).toEqual({
      code: "E_PERMISSION",
      message: "the passkey did not work: the browser's answer does not say what it signed",
      hint: SIGN_IN,
      cause: undefined,
    });
    const signed = JSON.parse(Buffer.from(used.response.clientDataJSON, "base64url").toString());
    expect(
      await refused(
        checkAssertion(
          {
            ...assertionOf(used),
            cd: toBase64url(Buffer.from(JSON.stringify({ ...signed, type: "webauthn.create" }))),
          },
          credential,
          asked,
          ORIGIN,
        ),
      ),
    ).toMatchObject({
      message:
        "the passkey did not work: the browser's answer is not one of signing in with a passkey",
    });
    // Authenticator data cut short: the verifier's words go to the cause, not the message.
    const short = await refused(
      checkAssertion({ ...assertionOf(used), ad: toBase64url(Buffer.alloc(5)) }, credential, asked),
    );
    expect(short).toEqual({
      code: "E_PERMISSION",
      message: "the passkey did not work: the authenticator's answer does not verify",
      hint: SIGN_IN,
      cause: expect.any(String),
    });
    const attestation = await refused(
      checkRegistration(
        {
          ...made,
          response: { ...made.response, attestationObject: toBase64url(Buffer.from([0xa0])) },
        },
        { challenge: asked, origin: ORIGIN, rpId: RP },
      ),
    );
    expect(attestation).toEqual({
      code: "E_PERMISSION",
      message: "the passkey did not work: the passkey it made could not be read",
      hint: ENROLL,
      cause: expect.any(String),
    });
  });
});
