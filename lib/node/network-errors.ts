/**
 * A failed connection in plain words. The runtime's own messages name its internals
 * ("pass `verbose: true` in the second argument to fetch()"), which mean nothing to
 * the person reading a log line or an error.
 */
const BY_CODE: Readonly<Record<string, string>> = {
  ECONNREFUSED: "nothing is listening there",
  ECONNRESET: "the connection was cut",
  ConnectionClosed: "the connection was cut",
  EPIPE: "the connection was cut",
  ETIMEDOUT: "no answer in time",
  ENETUNREACH: "the network cannot reach it",
  EHOSTUNREACH: "the network cannot reach it",
  EADDRNOTAVAIL: "the network cannot reach it",
  ENOTFOUND: "its name does not resolve",
  EAI_AGAIN: "its name does not resolve",
  FailedToOpenSocket: "cannot open a connection",
};

/**
 * Failures that come before a request can have left this device: no connection was made
 * (nothing listening, no route, no name) or its TLS handshake failed (the device's
 * certificate is checked before a byte of the request is sent). A timeout is not one: it
 * may have come after the request went out.
 */
const BEFORE_SENDING: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "EADDRNOTAVAIL",
  "ENOTFOUND",
  "EAI_AGAIN",
  "FailedToOpenSocket",
]);

/** Whether `error`, a failed request's, shows the request never went out (BEFORE_SENDING). */
export function neverSent(error: unknown): boolean {
  if (!(error instanceof Error) || error.name === "TimeoutError") return false;
  const code = (error as NodeJS.ErrnoException).code ?? "";
  return BEFORE_SENDING.has(code) || /CERT|TLS|SSL/i.test(code);
}

/** Whether `error` is a connection's failure (one of BY_CODE's, or a timeout), not a fault of the code that met it. */
export function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === "TimeoutError") return true;
  const code = (error as NodeJS.ErrnoException).code;
  return code !== undefined && Object.hasOwn(BY_CODE, code);
}

export function networkProblem(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError" || error.name === "AbortError") return "no answer in time";
  const code = (error as NodeJS.ErrnoException).code ?? "";
  const known = BY_CODE[code];
  if (known) return known;
  if (/CERT|TLS|SSL/i.test(code)) return "it did not present its own certificate";
  // Something else: the runtime's first sentence, without its advice to developers.
  const first = error.message
    .replace(/\s*For more information, pass `verbose: true`.*$/s, "")
    .replace(/^[A-Z_]+: /, "");
  return first.trim() || code || "the connection failed";
}
