/**
 * Whether a request was made by a page of another site. Every app of a named zone has a
 * name under the zone's (`<app>.<zone host>`), so all of them are one *site*: a browser
 * sends the person's session cookie (`SameSite=Lax`, for the zone's domain) along with a
 * script's request from any app's page to any other's, and with a WebSocket, which no CORS
 * guards. Taken as the person's, it would let one app read what the person keeps in every
 * other and act there as them. So such a request carries no person (lib/gateway/server.ts):
 * a browser names the page's origin in `Origin` on every WebSocket, every request that is
 * not a GET or HEAD, and every script's request across origins, and a page of the same
 * origin sends its own.
 *
 * A request with no `Origin` (a link followed, a form's GET, an address typed, curl) is
 * not from another site's script, unless the browser says it came from another origin in
 * `Sec-Fetch-Site` and is no navigation: a `<script src>` or `<img>` of another app's page,
 * which sends no `Origin`, could otherwise include what the person's session reads
 * (a script's answer runs in the including page). `Origin: null` (a sandboxed frame, a
 * `data:` page, a redirect across origins) is from one whose origin is hidden, so it is
 * another's.
 */

/**
 * Whether `request`, reached at `hostHeader` over TLS or not (`secure`), names an origin in
 * `Origin` other than its own (scheme, host and port).
 */
export function fromAnotherSite(request: Request, hostHeader: string, secure: boolean): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return includedFromAnotherOrigin(request);
  const scheme = secure ? "https://" : "http://";
  // The common case, a browser's page at the address it asks: nothing parsed.
  if (
    origin.length === scheme.length + hostHeader.length &&
    origin.startsWith(scheme) &&
    origin.endsWith(hostHeader)
  )
    return false;
  // Else as a browser compares origins: names in any case, a scheme's own port said or not.
  const claimed = URL.parse(origin);
  const own = URL.parse(scheme + hostHeader);
  return (
    claimed === null || own === null || claimed.origin === "null" || claimed.origin !== own.origin
  );
}

/** Whether the browser says a request without `Origin` is a subresource of another origin's page. */
function includedFromAnotherOrigin(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site === null || site === "same-origin" || site === "none") return false;
  return request.headers.get("sec-fetch-mode") !== "navigate";
}
