/**
 * Getting one certificate over ACME (RFC 8555) with acme-client: one order per name, so a
 * name whose challenge fails never holds up another's. The challenge is HTTP-01: its
 * answer is handed to `publish`, which puts it where every gateway of the zone serves it
 * (`/.well-known/acme-challenge/<token>` on port 80), and taken back afterwards.
 *
 * What goes wrong is said in plain words with what to do: port 80 not reachable from
 * the CA, a name that does not point at the gateway, the CA's rate limits, a CA that
 * needs an external account.
 */
import type acmeClient from "acme-client";
import { BuckyError } from "../errors.ts";

/** acme-client, loaded when a certificate is first ordered: an idle daemon never needs it. */
async function loadAcme(): Promise<typeof acmeClient> {
  return (await import("acme-client")).default;
}

export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";

/**
 * How long each request to the CA may wait for its answer. The client sets none: a CA that
 * took the connection and never answered held the order for ever, its name in flight, no
 * failure said, and the gateways sharing the name waiting on this one's turn while the
 * certificate ran out.
 */
export const ACME_REQUEST_TIMEOUT_MS = 60_000;

export interface AcmeAccount {
  readonly directory: string;
  /** The account key, PEM (kept in the gateway's home, mode 0600). */
  readonly key: string;
  /** External account binding, for CAs that need one. */
  readonly eab?: { readonly kid: string; readonly hmacKey: string };
  /** The account's URL at this directory, once it was made there. */
  readonly url?: string;
}

export interface Challenge {
  readonly token: string;
  readonly keyAuthorization: string;
}

export interface Issued {
  /** The account's URL, to keep for the next order. */
  readonly accountUrl: string;
  /** The certificate and its chain, PEM. */
  readonly cert: string;
  /** Its private key (ECDSA P-256), PEM. */
  readonly key: string;
}

/** A fresh account key (ECDSA P-256), PEM. */
export async function newAccountKey(): Promise<string> {
  const acme = await loadAcme();
  return (await acme.crypto.createPrivateEcdsaKey("P-256")).toString();
}

/** Orders a certificate for `name` and sees it through; throws a BuckyError saying why not. */
export async function orderCertificate(
  account: AcmeAccount,
  name: string,
  challenges: {
    publish(challenge: Challenge): Promise<void> | void;
    withdraw(challenge: Challenge): Promise<void> | void;
    /** The account's URL, once known, to keep for the next order. */
    account?(url: string): void;
  },
  requestTimeoutMs = ACME_REQUEST_TIMEOUT_MS,
): Promise<Issued> {
  const acme = await loadAcme();
  acme.axios.defaults.timeout = requestTimeoutMs;
  const client = new acme.Client({
    directoryUrl: account.directory,
    accountKey: account.key,
    ...(account.eab ? { externalAccountBinding: account.eab } : {}),
    ...(account.url ? { accountUrl: account.url } : {}),
    backoffAttempts: 8,
    backoffMin: 500,
    backoffMax: 10_000,
  });
  if (!account.url) {
    try {
      await client.createAccount({ termsOfServiceAgreed: true });
    } catch (error) {
      // An account that exists already is found (its URL known), then "updated" with
      // nothing, which some CAs refuse: the account is there, which is what counts.
      if (!accountUrlOf(client)) throw explain(error, name, "account");
    }
    challenges.account?.(client.getAccountUrl());
  }
  let order: Awaited<ReturnType<typeof client.createOrder>>;
  try {
    order = await client.createOrder({ identifiers: [{ type: "dns", value: name }] });
  } catch (error) {
    throw explain(error, name, "order");
  }
  let authorizations: Awaited<ReturnType<typeof client.getAuthorizations>>;
  try {
    authorizations = await client.getAuthorizations(order);
  } catch (error) {
    throw explain(error, name, "order");
  }
  for (const authz of authorizations) {
    if (authz.status === "valid") continue;
    const challenge = authz.challenges.find((c) => c.type === "http-01");
    if (!challenge)
      throw new BuckyError(
        "E_UNAVAILABLE",
        `the CA offers no HTTP challenge for ${name}`,
        "Use a CA that validates over HTTP (port 80), such as Let's Encrypt.",
      );
    const published: Challenge = {
      token: challenge.token,
      keyAuthorization: await client.getChallengeKeyAuthorization(challenge),
    };
    await challenges.publish(published);
    try {
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
    } catch (error) {
      // The reason is on the challenge as the CA left it.
      const again = await client.getAuthorizations(order).catch(() => []);
      const problem = again.flatMap((a) => a.challenges).find((c) => c.token === challenge.token)
        ?.error as { type?: string; detail?: string } | undefined;
      throw explain(problem ?? error, name, "challenge");
    } finally {
      await challenges.withdraw(published);
    }
  }
  try {
    const [key, csr] = await acme.crypto.createCsr(
      { commonName: name, altNames: [name] },
      await acme.crypto.createPrivateEcdsaKey("P-256"),
    );
    const finalized = await client.finalizeOrder(order, csr);
    const cert = await client.getCertificate(finalized);
    return { cert, key: key.toString(), accountUrl: client.getAccountUrl() };
  } catch (error) {
    throw explain(error, name, "finalize");
  }
}

function accountUrlOf(client: acmeClient.Client): string | undefined {
  try {
    return client.getAccountUrl();
  } catch {
    return undefined;
  }
}

/** An ACME failure (a problem document, or an error) in words that say what to do. */
export function explain(
  error: unknown,
  name: string,
  step: "account" | "order" | "challenge" | "finalize",
): BuckyError {
  if (error instanceof BuckyError) return error;
  const problem = error as { type?: string; detail?: string; message?: string; code?: string };
  const type = problem.type?.replace("urn:ietf:params:acme:error:", "") ?? "";
  const detail = (problem.detail ?? problem.message ?? String(error)).slice(0, 300);
  // No answer at all (timed out, or the connection failed): the client's own handling of
  // that reads the answer that is not there, and throws this TypeError.
  const noAnswer =
    error instanceof TypeError && /response\.config|reading 'config'/.test(error.message);
  if (noAnswer || problem.code === "ECONNABORTED" || /^timeout of \d+ms exceeded$/.test(detail))
    return new BuckyError(
      "E_UNAVAILABLE",
      `the CA did not answer (${step}) for ${name}: no answer came in time, or the connection failed`,
      "Nothing to do now: it is tried again later by itself. If it goes on, check that the CA's directory URL is right and that this device reaches it.",
    );
  if (type === "rateLimited" || /rate.?limit|too many/i.test(detail))
    return new BuckyError(
      "E_UNAVAILABLE",
      `the CA's rate limit stops ${name} for now: ${detail}`,
      "Nothing to do: it is tried again later, less often.",
    );
  if (type === "externalAccountRequired" || /external.?account/i.test(detail))
    return new BuckyError(
      "E_PERMISSION",
      "this CA needs an external account",
      "Give the CA's key id and HMAC key: `bucky gateway enable --acme-eab-kid ID --acme-eab-key-file F`.",
    );
  if (type === "dns" || /NXDOMAIN|no such host|SERVFAIL|no valid A records/i.test(detail))
    return new BuckyError(
      "E_UNAVAILABLE",
      `${name} does not resolve in DNS: ${detail}`,
      `Point ${name} (or a wildcard record for the zone's host) at this gateway's public address.`,
    );
  if (type === "connection" || /connection refused|timeout|i\/o timeout|dial tcp/i.test(detail))
    return new BuckyError(
      "E_UNAVAILABLE",
      `the CA could not reach this gateway on port 80 for ${name}: ${detail}`,
      `Make port 80 reachable from the internet (forward it to this device), and check that ${name} points at it.`,
    );
  if (type === "unauthorized" || type === "incorrectResponse")
    return new BuckyError(
      "E_UNAVAILABLE",
      `the CA reached ${name} but not this gateway's answer: ${detail}`,
      `Check that ${name} points at this gateway and that port 80 reaches it (not another server).`,
    );
  if (type === "rejectedIdentifier" || type === "caa")
    return new BuckyError(
      "E_PERMISSION",
      `the CA will not issue for ${name}: ${detail}`,
      "Use another name, or another CA (`--acme-directory`).",
    );
  if (step === "account" || problem.code !== undefined)
    return new BuckyError(
      "E_UNAVAILABLE",
      `the ACME directory cannot be reached or refused the account: ${detail}`,
      "Check the gateway's internet connection and --acme-directory.",
    );
  return new BuckyError(
    "E_UNAVAILABLE",
    `no certificate for ${name} (${step}): ${detail}`,
    "Nothing to do now: it is tried again later by itself. If it keeps failing, check the gateway's internet connection and --acme-directory.",
  );
}
